"""Time-ordered string ids (``cmp_01J...``): sortable by creation, so they double as keyset cursors."""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
_lock = threading.Lock()
_last = (0, 0)


# Two digits per lookup: an id is written on every event, several per send.
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]


def _b32(value: int, length: int) -> str:
    """The low ``5 * length`` bits of ``value`` as ``length`` digits, most significant first."""
    out = []
    if length & 1:
        out.append(_ALPHABET[(value >> (5 * (length - 1))) & 31])
    for shift in range(5 * (length - 2 - (length & 1)), -1, -10):
        out.append(_PAIRS[(value >> shift) & 1023])
    return "".join(out)


def _reserve(n: int) -> tuple[int, int]:
    """The millisecond and the first of ``n`` consecutive random parts, none handed out before."""
    global _last
    with _lock:
        ms = time.time_ns() // 1_000_000
        last_ms, last_rand = _last
        if ms <= last_ms:
            ms, rand = last_ms, last_rand + 1
        else:
            rand = int.from_bytes(os.urandom(10), "big") >> 1  # room to increment
        _last = (ms, rand + n - 1)
    return ms, rand


def new_id(prefix: str) -> str:
    """A ULID-like id: 48-bit milliseconds + 80 bits that increase within a millisecond."""
    ms, rand = _reserve(1)
    return f"{prefix}_{_b32(ms, 10)}{_b32(rand, 16)}"


def new_ids(prefix: str, n: int) -> list[str]:
    """``n`` ids in increasing order, as ``n`` calls of :func:`new_id` in a row would make them
    (an import's 10,000 contacts and enrollments: one lock and clock reading, not 10,000)."""
    if n <= 0:
        return []
    ms, rand = _reserve(n)
    head = f"{prefix}_{_b32(ms, 10)}"
    return [head + _b32(rand + i, 16) for i in range(n)]
