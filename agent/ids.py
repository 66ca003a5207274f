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


def new_id(prefix: str) -> str:
    """A ULID-like id: 48-bit milliseconds + 80 bits that increase within a millisecond."""
    global _last
    with _lock:
        ms = time.time_ns() // 1_000_000
        last_ms, last_rand = _last
        if ms <= last_ms:
            ms, rand = last_ms, last_rand + 1
        else:
            rand = int.from_bytes(os.urandom(10), "big") >> 1  # room to increment
        _last = (ms, rand)
    return f"{prefix}_{_b32(ms, 10)}{_b32(rand, 16)}"
