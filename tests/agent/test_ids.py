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


def _counter(id_: str) -> int:
    return int("".join(f"{ids._ALPHABET.index(c):05b}" for c in id_[-16:]), 2)


def test_a_batch_of_ids_is_what_calls_one_after_another_would_make(monkeypatch):
    # A clock that stands still (here: before the last id made, so the ids stay in the last one's
    # millisecond): ids around the batch take the counter values next to it, none twice.
    monkeypatch.setattr(ids.time, "time_ns", lambda: 0)
    before = ids.new_id("con")
    batch = ids.new_ids("con", 5000)
    after = ids.new_id("con")
    made = [before, *batch, after]
    assert made == sorted(made) and len(set(made)) == len(made)
    assert all(len(i) == len("con_") + 26 and i.startswith("con_") for i in batch)
    assert [_counter(i) for i in made] == list(range(_counter(before), _counter(before) + len(made)))
    assert ids.new_ids("con", 0) == []
