"""Fast multi-row inserts for imports: the driver's own bulk path inside the session's transaction.

SQLAlchemy's executemany spends more time preparing 10,000 rows than SQLite spends writing
them; this hands rows straight to the driver (sqlite3 ``executemany``, asyncpg ``COPY``) with
values already in the form SQLAlchemy itself would store: datetimes in UTC (naive on SQLite)
and JSON serialised to text.
"""

from __future__ import annotations

import datetime as dt
import json
import operator
import sqlite3
from typing import Any

import asyncpg
from sqlalchemy import JSON, ColumnElement, Table, any_, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from agent.models.base import StrEnumType, UTCDateTime

_SQLITE_DT = "%Y-%m-%d %H:%M:%S.%f"


def _same_instant_once(convert: Any) -> Any:
    """``convert`` that reuses its last answer for the same value: a batch's rows mostly share
    one timestamp (``now``), and formatting it is most of a row's cost."""
    last: list[Any] = [object(), None]

    def once(v: Any) -> Any:
        if v is not last[0]:
            last[0], last[1] = v, convert(v)
        return last[1]
    return once


def _converters(table: Table, columns: list[str], sqlite: bool) -> list[Any]:
    out = []
    for name in columns:
        col_type = table.c[name].type
        if isinstance(col_type, UTCDateTime):
            # The exact text SQLAlchemy's SQLite DateTime writes (microseconds always present), so
            # string comparisons in queries order these rows like any other.
            out.append(_same_instant_once((lambda v: v.astimezone(dt.UTC).strftime(_SQLITE_DT) if v else v)
                                          if sqlite else (lambda v: v.astimezone(dt.UTC) if v else v)))
        elif isinstance(col_type, JSON):
            out.append(lambda v: None if v is None else json.dumps(v))
        elif isinstance(col_type, StrEnumType):
            # The driver path skips SQLAlchemy's bind processing: refuse a word outside the enum here too.
            out.append(lambda v, t=col_type: t.process_bind_param(v, None))
        else:
            out.append(None)
    return out


def _records(rows: list[dict[str, Any]], columns: list[str], conv: list[Any]) -> list[tuple[Any, ...]]:
    """The rows as the driver's tuples: a row's plain values taken at once, only the columns that
    need it converted (the executor writes events several times a send; this is their cost)."""
    take = operator.itemgetter(*columns)
    converted = [(i, c) for i, c in enumerate(conv) if c is not None]
    raw = [take(r) for r in rows] if len(columns) > 1 else [(take(r),) for r in rows]
    if not converted:
        return raw
    out = []
    for values in raw:
        row = list(values)
        for i, c in converted:
            row[i] = c(row[i])
        out.append(tuple(row))
    return out


def one_of(column: Any, values: list[Any], dialect: str) -> ColumnElement[bool]:
    """``column IN (values)`` with the list bound as one parameter: a PostgreSQL array, a JSON list
    SQLite reads with ``json_each``. 10,000 keys are one statement, not 20 of 500 parameters that
    SQLAlchemy expands one by one (and PostgreSQL parses and binds one by one)."""
    if dialect == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    each = func.json_each(bindparam(None, json.dumps(values))).table_valued("value")
    return column.in_(select(each.c.value))


async def insert_rows(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` in the session's open transaction."""
    if not rows:
        return
    columns = list(rows[0])
    conn = await session.connection()
    sqlite = conn.dialect.name == "sqlite"
    records = _records(rows, columns, _converters(table, columns, sqlite))
    raw = (await conn.get_raw_connection()).driver_connection
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    try:
        if sqlite:
            await raw.executemany(sql, records)
        else:
            # SQLAlchemy opens the asyncpg transaction lazily on its first statement; make sure it
            # is open, or COPY would autocommit outside the caller's transaction (a round trip the
            # executor's event writes skip: their transaction has always run a statement already).
            if not raw.is_in_transaction():
                await conn.execute(text("SELECT 1"))
            await raw.copy_records_to_table(table.name, records=records, columns=columns)
    except (sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError) as exc:
        # Callers handle constraint races the same way whichever path wrote the rows.
        raise IntegrityError(sql, None, exc) from exc
