"""Query-string filters shared by the list endpoints: ``status=a,b`` read as enum members."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from agent.errors import ValidationFailed

E = TypeVar("E", bound=StrEnum)


def parse_statuses(raw: str | None, enum: type[E], *, noun: str = "status", param: str = "status") -> list[E] | None:
    """The comma-separated words of ``raw`` as members of ``enum``; None when nothing was asked.

    An unknown word is a 422 on ``query.<param>`` naming the first one (``unknown <noun> 'x'``).
    A value of only commas asks for no status at all: an empty list, not None.
    """
    if not raw:
        return None
    words = [w.strip() for w in raw.split(",") if w.strip()]
    unknown = [w for w in words if w not in enum.__members__]
    if unknown:
        raise ValidationFailed(f"unknown {noun} {unknown[0]!r}",
                               errors=[{"loc": ["query", param], "message": f"unknown {param}"}])
    return [enum(w) for w in words]
