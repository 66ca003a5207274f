"""The one place rows change status: each move is checked against its table in ``agent.states``,
applied by compare-and-set, and (for enrollments) written to the activity log in the same
transaction. Nothing else in the code base assigns a status."""

from typing import Any

from sqlalchemy import and_, tuple_
from sqlalchemy.sql.elements import ColumnElement


def rows_as_seen(id_column: Any, columns: tuple[Any, ...], seen: list[tuple[Any, ...]]) -> ColumnElement[bool]:
    """``(id, *columns) IN seen`` for a compare-and-set over many rows, led by ``id IN (...)``:
    SQLite scans the whole table for a row-value IN alone (no index serves it), so the plain IN
    picks the rows by primary key and the tuple then checks what each was seen at."""
    return and_(id_column.in_([row[0] for row in seen]), tuple_(id_column, *columns).in_(seen))
