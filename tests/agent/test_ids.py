"""Ids keep their exact form: base32 digits of the millisecond and the counter, in order."""

from __future__ import annotations

import random

from agent import ids


def _digits_one_by_one(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(ids._ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


def test_the_pairwise_encoder_writes_the_same_digits_as_one_at_a_time():
    rnd = random.Random(3)
    for length in range(1, 30):
        for _ in range(200):
            value = rnd.getrandbits(150)
            assert ids._b32(value, length) == _digits_one_by_one(value, length)


def test_ids_sort_in_creation_order():
    made = [ids.new_id("evt") for _ in range(2000)]
    assert made == sorted(made) and len(set(made)) == len(made)
    assert all(len(i) == len("evt_") + 26 for i in made)
