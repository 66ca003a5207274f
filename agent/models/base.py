"""Declarative base, portable column types and the common id/timestamp columns."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import JSON, CheckConstraint, DateTime, MetaData, String, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from agent.db import utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware datetimes on every backend (SQLite stores them naive, in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


E = TypeVar("E", bound=StrEnum)


class StrEnumType(TypeDecorator[E]):
    """A ``StrEnum`` stored as plain VARCHAR(n): rows read back as members, and a word outside
    the enum raises before the statement reaches the database.

    Not ``sqlalchemy.Enum``: the column stays a String for Alembic (no type drift, no implicit
    unnamed CHECK) and the allowed words are checked by the named CHECKs of ``enum_check``.
    """

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Any) -> str | None:
        # enum(value) raises ValueError on an unknown word; a member or its plain string passes.
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Any) -> E | None:
        return None if value is None else self.enum(value)


def enum_check(column: str, enum: type[StrEnum], *, nullable: bool = False) -> CheckConstraint:
    """The CHECK ``ck_<table>_<column>`` allowing only ``enum``'s words (and NULL if ``nullable``).

    Migrations spell the same lists out literally; tests/test_migrations.py keeps them equal.
    """
    words = ", ".join(f"'{m.value}'" for m in enum)
    sql = f"{column} IN ({words})"
    return CheckConstraint(f"{column} IS NULL OR {sql}" if nullable else sql, name=column)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


def id_column() -> Mapped[str]:
    return mapped_column(String(40), primary_key=True)


def created_column() -> Mapped[dt.datetime]:
    return mapped_column(UTCDateTime, default=utcnow, nullable=False)


def updated_column() -> Mapped[dt.datetime]:
    return mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)


def fk(target: str, ondelete: str = "CASCADE", nullable: bool = False, index: bool = True) -> Any:
    from sqlalchemy import ForeignKey

    return mapped_column(String(40), ForeignKey(target, ondelete=ondelete), nullable=nullable, index=index)
