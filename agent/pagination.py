"""Keyset pagination: opaque cursors over (sort value, id)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

from agent.errors import ValidationFailed


def encode_cursor(value: Any, row_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([value, row_id]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Any, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        pair = json.loads(raw)
        if not isinstance(pair, list) or len(pair) != 2:
            raise ValueError
        value, row_id = pair
        if not isinstance(row_id, str) or len(row_id) > 100 or not (value is None or isinstance(value, str)):
            raise ValueError
        return value, row_id
    except ValueError:
        raise ValidationFailed("cursor is not one this API issued", code="invalid_cursor",
                               errors=[{"loc": ["query", "cursor"], "message": "invalid cursor"}]) from None


def _foreign_sort() -> ValidationFailed:
    return ValidationFailed("cursor does not belong to this sort", code="invalid_cursor",
                            errors=[{"loc": ["query", "cursor"], "message": "invalid cursor"}])


def after_id(cursor: str | None) -> str | None:
    """The id an id-ordered page starts after (what :func:`keyset` with no ``sort_col`` reads),
    for a caller that binds it into a statement built once."""
    if not cursor:
        return None
    value, row_id = decode_cursor(cursor)
    if value is not None:
        raise _foreign_sort()
    return row_id


def keyset(q: Select, *, sort_col: Any, id_col: InstrumentedAttribute,
           cursor: str | None, descending: bool, limit: int, parse: Callable[[str], Any] | None = None) -> Select:
    """Order ``q`` by (sort_col, id) and start after ``cursor``; fetches ``limit + 1`` rows.

    ``sort_col`` may be any column expression; a cursor carries its value as text and ``parse``
    turns that text back into what the expression compares with (a number, a datetime); a value
    it cannot read is a forged cursor."""
    cols = [sort_col, id_col] if sort_col is not None else [id_col]
    if cursor:
        value, row_id = decode_cursor(cursor)
        # Strictly typed per sort: no sort carries null, a string sort carries a string (never a dict,
        # a list or a number the database would compare with the column and fail on).
        if (value is not None) if sort_col is None else not isinstance(value, str):
            raise _foreign_sort()
        if parse is not None and value is not None:
            try:
                value = parse(value)
            except (TypeError, ValueError):
                raise _foreign_sort() from None
        if sort_col is None:
            q = q.where(id_col < row_id if descending else id_col > row_id)
        elif descending:
            q = q.where(or_(sort_col < value, and_(sort_col == value, id_col < row_id)))
        else:
            q = q.where(or_(sort_col > value, and_(sort_col == value, id_col > row_id)))
    order = [c.desc() if descending else c.asc() for c in cols]
    return q.order_by(*order).limit(limit + 1)


def page(rows: list[Any], limit: int, key: Any) -> tuple[list[Any], str | None]:
    """Cut the extra row and make the next cursor from the last row kept (``key(row) -> (value, id)``)."""
    if len(rows) <= limit:
        return rows, None
    kept = rows[:limit]
    return kept, encode_cursor(*key(kept[-1]))
