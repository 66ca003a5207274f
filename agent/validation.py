"""The input rules every text, time and nested value of the API obeys before it reaches the
database, zoneinfo or a prompt (issue 16: each of these answered 500 on PostgreSQL).

- Text: no NUL or other C0 control character. ``SafeStr`` (names, ids, numbers) takes none at
  all; ``SafeText`` (briefs, bodies, transcripts) keeps tab, newline and carriage return.
- Times: ``SafeDatetime`` has an offset and lies between 1900 and 9000 UTC, so neither the
  conversion to UTC (``9999-12-31T23:59:59-12:00`` overflowed) nor any later arithmetic can fail.
- Nesting: a JSON value at most ``MAX_DEPTH`` levels deep (``check_json`` walks one, keys and
  strings included, and names the first offending location).

``api/validation.py`` applies ``check_json`` to every authenticated JSON body, so a schema
does not have to name these types for NUL to be refused; they add the single-line rule for
names and cover bodies the middleware does not see (signed webhooks, form fields).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Annotated, Any

from pydantic import AfterValidator

# Control characters no name, search or id may hold (tab, newline and CR are for long text bodies).
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A JSON "\ud800" escape without its pair decodes to a lone surrogate: no UTF-8 encodes it, so the
# database driver would fail on it (a 500) and no mail or SMS could carry it.
SURROGATE = re.compile(r"[\ud800-\udfff]")
MAX_DEPTH = 32
EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)


class InputRefused(ValueError):
    """A value broke one of the rules above: ``code`` says which, ``loc`` where (from the value's root)."""

    def __init__(self, code: str, loc: list[str | int], message: str) -> None:
        super().__init__(message)
        self.code, self.loc, self.message = code, loc, message


def _no_surrogate(value: str) -> None:
    if SURROGATE.search(value):
        raise ValueError("a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape) is not a character")


def _single_line(value: str) -> str:
    _no_surrogate(value)
    if ANY_CONTROL.search(value):
        raise ValueError("control characters (including newlines and tabs) are not allowed here")
    return value


def _text(value: str) -> str:
    _no_surrogate(value)
    if CONTROL.search(value):
        raise ValueError("control characters other than tab, newline and carriage return are not allowed")
    return value


def _in_range(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("give the time with its UTC offset, e.g. 2026-12-01T09:00:00-05:00")
    try:
        utc = value.astimezone(dt.UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError(f"the time must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} UTC")
    return value


SafeStr = Annotated[str, AfterValidator(_single_line)]
SafeText = Annotated[str, AfterValidator(_text)]
SafeDatetime = Annotated[dt.datetime, AfterValidator(_in_range)]


def check_json(value: Any, loc: list[str | int] | None = None, *, max_depth: int = MAX_DEPTH) -> None:
    """Refuse a parsed JSON value nested deeper than ``max_depth`` or holding a control character
    (in a key: any; in a string: any but tab, newline and CR). Iterative: any depth is safe to walk."""
    stack: list[tuple[Any, list[str | int], int]] = [(value, list(loc or []), 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            if SURROGATE.search(item):
                raise InputRefused("invalid_unicode", where, "a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff "
                                   "escape) is not a character")
            if CONTROL.search(item):
                raise InputRefused("control_character", where, "control characters other than tab, newline and "
                                   "carriage return are not allowed")
            continue
        if not isinstance(item, dict | list):
            continue
        if depth >= max_depth:
            raise InputRefused("too_deep", where, f"nested more than {max_depth} levels deep")
        if isinstance(item, dict):
            for key, child in item.items():
                if SURROGATE.search(key):
                    raise InputRefused("invalid_unicode", [*where, key.encode("unicode_escape").decode()],
                                       "a lone UTF-16 surrogate is not allowed in keys")
                if ANY_CONTROL.search(key):
                    raise InputRefused("control_character", [*where, key.encode("unicode_escape").decode()],
                                       "control characters are not allowed in keys")
                stack.append((child, [*where, key], depth + 1))
        else:
            stack.extend((child, [*where, i], depth + 1) for i, child in enumerate(item))


def loads_checked(text: str | bytes, loc: list[str | int] | None = None, *, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` then ``check_json``; a value too deep for the parser itself is ``too_deep``
    too (it raised RecursionError, a 500). Invalid JSON still raises ``ValueError``."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise InputRefused("too_deep", list(loc or []), f"nested more than {max_depth} levels deep") from None
    check_json(value, loc, max_depth=max_depth)
    return value
