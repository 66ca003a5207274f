"""Export file writers: CSV (comma), CSV (semicolon, decimal comma), Excel and JSON, row batch by row batch.

Every writer appends to a file on disk and keeps no rows: Excel through XlsxWriter's
``constant_memory`` mode (each row is flushed as soon as the next one starts). The CSVs start
with a UTF-8 BOM so spreadsheet programs read accents right. In CSV and Excel, a text cell
starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``: a
spreadsheet would otherwise run it as a formula (CSV injection). JSON is data, not a
spreadsheet, so it keeps values as they are.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import xlsxwriter

from agent.reports.export_rows import Layout

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ExportFormat(StrEnum):
    csv = "csv"
    csv_semicolon = "csv_semicolon"
    xlsx = "xlsx"
    json = "json"


EXTENSION = {ExportFormat.csv: "csv", ExportFormat.csv_semicolon: "csv", ExportFormat.xlsx: "xlsx",
             ExportFormat.json: "json"}
MEDIA_TYPE = {ExportFormat.csv: "text/csv; charset=utf-8", ExportFormat.csv_semicolon: "text/csv; charset=utf-8",
              ExportFormat.xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
              ExportFormat.json: "application/json"}


def neutralise(text: str) -> str:
    """A cell a spreadsheet shows as text, never runs (OWASP's CSV injection advice)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Writer(Protocol):
    def write(self, rows: list[dict[str, Any]]) -> None: ...
    def close(self) -> None: ...


class CsvWriter:
    def __init__(self, path: Path, shape: Layout, *, semicolon: bool) -> None:
        self._file = open(path, "w", encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed in close()
        self._csv = csv.writer(self._file, delimiter=";" if semicolon else ",")
        self._decimal_comma = semicolon
        self._shape = shape
        self._csv.writerow([neutralise(h) for h in shape.header()])

    def _cell(self, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            return str(value).replace(".", ",") if self._decimal_comma else str(value)
        if isinstance(value, int):
            return str(value)
        if isinstance(value, dt.datetime):
            return _iso(value)
        return neutralise(str(value))

    def write(self, rows: list[dict[str, Any]]) -> None:
        self._csv.writerows([self._cell(v) for v in self._shape.flat(r)] for r in rows)

    def close(self) -> None:
        self._file.close()


class XlsxWriter:
    def __init__(self, path: Path, shape: Layout) -> None:
        self._book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "tmpdir": str(path.parent)})
        self._sheet = self._book.add_worksheet("Contacts")
        self._when = self._book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self._shape = shape
        self._row = 0
        header = self._book.add_format({"bold": True})
        for col, name in enumerate(shape.header()):
            self._sheet.write_string(0, col, neutralise(name), header)

    def _cell(self, col: int, value: Any) -> None:
        r, sheet = self._row, self._sheet
        if value is None:
            return
        if isinstance(value, bool):
            sheet.write_boolean(r, col, value)
        elif isinstance(value, int | float):
            sheet.write_number(r, col, value)
        elif isinstance(value, dt.datetime):  # Excel has no zones: UTC, as the column says
            sheet.write_datetime(r, col, value.astimezone(dt.UTC).replace(tzinfo=None), self._when)
        else:  # write_string, never write(): write() would store "=..." as a live formula
            sheet.write_string(r, col, neutralise(str(value)))

    def write(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self._row += 1
            for col, value in enumerate(self._shape.flat(row)):
                self._cell(col, value)

    def close(self) -> None:
        self._book.close()


class JsonWriter:
    """A JSON array of one object per contact, nested (tags a list, goals and properties objects)."""

    def __init__(self, path: Path) -> None:
        self._file: io.TextIOWrapper = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._file.write("[")
        self._first = True

    def write(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self._file.write("\n" if self._first else ",\n")
            self._first = False
            self._file.write(json.dumps(row, ensure_ascii=False, default=_json_default))

    def close(self) -> None:
        self._file.write("\n]\n")
        self._file.close()


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return _iso(value)
    raise TypeError(f"cannot export {type(value).__name__}")


def open_writer(fmt: ExportFormat, path: Path, shape: Layout) -> Writer:
    if fmt is ExportFormat.xlsx:
        return XlsxWriter(path, shape)
    if fmt is ExportFormat.json:
        return JsonWriter(path)
    return CsvWriter(path, shape, semicolon=fmt is ExportFormat.csv_semicolon)
