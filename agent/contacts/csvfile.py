"""Read an uploaded contacts CSV and map its columns to contact fields.

Pure functions only: bytes in, ``ParsedCsv`` out.  Anything that makes the
file unusable as a whole (too big, no header, columns we cannot map, too many
rows) raises ``CsvRefused`` carrying a stable code and an HTTP-ish status, so
the API layer can answer without knowing CSV details.  Per-row problems are
not handled here; see ``agent.contacts.normalize``.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass, field

from agent.contacts.normalize import ContactInput, split_tags

__all__ = ["MAX_BYTES", "MAX_ROWS", "FIELDS", "CsvRefused", "ParsedCsv", "parse_csv", "row_input"]

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 10_000
FIELDS = ("first_name", "last_name", "name", "email", "phone", "timezone", "tags", "priority")  # + "properties.<key>"
_PROPERTY_PREFIX = "properties."

# Header spellings, compared after lower-casing and removing spaces, "_", "-", ".".
_ALIASES = {
    "first_name": ("first name", "firstname", "first", "given name", "forename"),
    "last_name": ("last name", "lastname", "last", "surname", "family name"),
    "name": ("name", "full name", "fullname", "contact name", "contact"),
    "email": ("email", "e-mail", "email address", "e-mail address", "mail"),
    "phone": ("phone", "phone number", "mobile", "mobile phone", "mobile number", "cell", "cell phone",
              "telephone", "telephone number", "tel", "number"),
    "timezone": ("timezone", "time zone", "tz"),
    "tags": ("tags", "tag", "labels"),
    "priority": ("priority", "prio"),
}
_SEPARATORS = re.compile(r"[\s_\-.]+")
_ALIAS_TO_FIELD = {_SEPARATORS.sub("", a.lower()): f for f, names in _ALIASES.items() for a in names}
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
# A header cell that is really data: an e-mail address or a phone number.
_EMAIL_LIKE = re.compile(r"@.*\.")
_PHONE_LIKE = re.compile(r"[0-9 +\-().]+")
_NAME_FIELDS = ("first_name", "last_name", "name")
_CONTACT_FIELDS = ("email", "phone")


class CsvRefused(Exception):
    """The file as a whole cannot be imported."""

    def __init__(self, code: str, message: str, errors: list[dict] | None = None, status: int = 422):
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors = errors or []
        self.status = status


@dataclass(frozen=True)
class ParsedCsv:
    header: list[str]
    mapping: dict[str, str]  # header column name -> field or "properties.<key>"
    rows: list[tuple[int, list[str]]]  # (record number, values); the header is record 1
    encoding: str
    delimiter: str
    # (column index, field) pairs worked out once so row_input stays cheap per row.
    _plan: tuple[tuple[int, str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = {name: i for i, name in enumerate(self.header)}
        plan = tuple((index[col], f) for col, f in self.mapping.items() if col in index)
        object.__setattr__(self, "_plan", plan)


def parse_csv(
    data: bytes, mapping: dict[str, str] | None = None, *, max_bytes: int = MAX_BYTES, max_rows: int = MAX_ROWS
) -> ParsedCsv:
    """Decode, split and map an uploaded CSV; raise ``CsvRefused`` if unusable."""
    if len(data) > max_bytes:  # before decoding: never spend work on an oversized upload
        raise CsvRefused("csv_too_large", f"The file is {len(data)} bytes; the limit is {max_bytes} bytes.", status=413)
    text, encoding = _decode(data)
    delimiter = _sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)

    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    data_count = 0
    record = 0
    try:
        for record, cells in enumerate(reader, start=1):
            # Record numbers count blank records too, so they match spreadsheet row numbers.
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header = [c.strip() for c in cells]
                continue
            data_count += 1
            if data_count <= max_rows:  # past the limit only count, to report the total
                rows.append((record, cells))
    except csv.Error as exc:
        raise CsvRefused("csv_malformed", f"The file could not be read as CSV near record {record + 1}: {exc}.",
                         errors=[{"loc": ["row", record + 1], "row": record + 1, "message": str(exc)}]) from exc

    if header is None:
        raise CsvRefused("csv_no_header", "The file is empty; the first row must be a header naming the columns.")
    _check_header(header)
    if data_count > max_rows:
        raise CsvRefused("csv_too_many_rows", f"The file has {data_count} data rows; the limit is {max_rows}.")

    final = _map_columns(header, mapping)
    width = len(header)
    for i, (_, cells) in enumerate(rows):
        if len(cells) != width:  # pad short rows, ignore cells beyond the header
            rows[i] = (rows[i][0], (cells + [""] * (width - len(cells)))[:width])
    return ParsedCsv(header=header, mapping=final, rows=rows, encoding=encoding, delimiter=delimiter)


def row_input(parsed: ParsedCsv, values: list[str]) -> ContactInput:
    """Build the ContactInput for one row of ``parsed`` using its mapping."""
    standard: dict[str, str] = {}
    properties: dict[str, str] = {}
    n = len(values)
    for idx, target in parsed._plan:
        value = values[idx] if idx < n else ""
        if target.startswith(_PROPERTY_PREFIX):
            properties[target[len(_PROPERTY_PREFIX):]] = value
        else:
            standard[target] = value
    tags = split_tags(standard.pop("tags", ""))
    return ContactInput(**standard, properties=properties, tags=tags)


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith(codecs.BOM_UTF8):
        return data.decode("utf-8-sig"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Excel's "Unicode text" and many Windows tools save UTF-16 with a BOM.
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        # Excel on Windows saves "CSV" in cp1252; it has curly quotes and the euro sign.
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        # cp1252 leaves 0x81 0x8D 0x8F 0x90 0x9D undefined; latin-1 decodes every byte.
        return data.decode("latin-1"), "latin-1"


def _sniff_delimiter(text: str) -> str:
    """Pick ",", ";" or tab from the header's first physical line, quotes ignored."""
    line = ""
    for line in io.StringIO(text, newline=""):
        if line.strip(" \t\r\n,;\""):  # leading blank (or separator-only) lines are not the header
            break
    counts = {",": 0, ";": 0, "\t": 0}
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts.values())
    winners = [d for d, c in counts.items() if c == best]
    return winners[0] if best and len(winners) == 1 else ","


def _check_header(header: list[str]) -> None:
    errors = []
    for idx, cell in enumerate(header):
        if _EMAIL_LIKE.search(cell) or (_PHONE_LIKE.fullmatch(cell) and sum(c.isdigit() for c in cell) >= 7):
            errors.append({"loc": ["header", idx], "message": f"{cell!r} looks like data, not a column name."})
    if errors:
        raise CsvRefused("csv_no_header", "The first row looks like data; the first row must be a header naming the columns.", errors)
    seen: dict[str, int] = {}
    for idx, cell in enumerate(header):
        if not cell:
            continue  # unnamed columns (trailing commas from spreadsheets) are ignored, not duplicates
        first = seen.setdefault(cell.casefold(), idx)
        if first != idx:
            errors.append({"loc": ["header", idx], "message": f"Column {cell!r} appears more than once (also column {first})."})
    if errors:
        raise CsvRefused("csv_unmappable_columns", "Column names must be unique.", errors)


def _property_key(name: str) -> str:
    return _NON_ALNUM.sub("_", name.lower()).strip("_")


def _map_columns(header: list[str], explicit: dict[str, str] | None) -> dict[str, str]:
    by_name = {h: h for h in header if h}
    by_fold = {h.casefold(): h for h in header if h}
    result: dict[str, str] = {}
    errors: list[dict] = []
    for col, target in (explicit or {}).items():
        col_s = str(col).strip()
        name = by_name.get(col_s) or by_fold.get(col_s.casefold())
        target_s = target.strip() if isinstance(target, str) else ""
        if name is None:
            errors.append({"loc": ["mapping", col], "message": f"There is no column named {col_s!r}."})
        elif not (target_s in FIELDS or (target_s.startswith(_PROPERTY_PREFIX) and target_s[len(_PROPERTY_PREFIX):].strip())):
            errors.append({"loc": ["mapping", col], "message": f"{target!r} is not a contact field; use one of {', '.join(FIELDS)} or properties.<key>."})
        elif name in result:
            errors.append({"loc": ["mapping", col], "message": f"Column {name!r} is mapped more than once."})
        elif target_s in result.values():
            errors.append({"loc": ["mapping", col], "message": f"Field {target_s!r} is mapped from more than one column."})
        else:
            result[name] = target_s
    if errors:
        raise CsvRefused("csv_unmappable_columns", "The column mapping is not valid.", errors)

    # Columns the caller did not map: standard spelling -> field if still free, else a property.
    taken = set(result.values())
    for name in header:
        if not name or name in result:
            continue
        f = _ALIAS_TO_FIELD.get(_SEPARATORS.sub("", name.lower()))
        if f is not None and f not in taken:
            target = f
        else:
            key = _property_key(name)
            if not key:
                continue  # nothing usable to name the property after
            target, n = _PROPERTY_PREFIX + key, 2
            while target in taken:  # "Company" and "company!" must not overwrite each other
                target, n = f"{_PROPERTY_PREFIX}{key}_{n}", n + 1
        result[name] = target
        taken.add(target)

    missing = []
    if not taken.intersection(_NAME_FIELDS):
        missing.append("a name (first_name, last_name or name)")
    if not taken.intersection(_CONTACT_FIELDS):
        missing.append("a contact point (email or phone)")
    if missing:
        message = f"No column gives {' or '.join(missing)}." if len(missing) == 1 else f"No column gives {missing[0]}, nor {missing[1]}."
        raise CsvRefused("csv_unmappable_columns", message, [{"loc": ["mapping"], "message": message}])
    # Keep header order so callers can show the mapping column by column.
    order = {h: i for i, h in enumerate(header)}
    return dict(sorted(result.items(), key=lambda kv: order[kv[0]]))
