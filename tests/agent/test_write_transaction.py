"""``write_transaction``: on SQLite one event loop's write transactions take turns in the order
they asked, each holding its turn until it has committed or rolled back."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from agent.db import dispose_engines, sessionmaker, write_transaction


async def test_write_transactions_on_one_loop_take_turns_in_arrival_order(settings):
    if not settings.db_url.startswith("sqlite"):
        pytest.skip("the turns are SQLite's; elsewhere the database arbitrates")
    log: list[str] = []

    async def writer(name: str, fail: bool = False) -> None:
        async with sessionmaker()() as s:
            try:
                async with write_transaction(s):
                    log.append(f"{name} in")
                    await s.execute(text("UPDATE alembic_version SET version_num = version_num"))
                    await asyncio.sleep(0.05)  # another writer would get in here without the turn
                    log.append(f"{name} out")
                    if fail:
                        raise RuntimeError("rolled back")
            except RuntimeError:
                pass

    tasks = []
    for name in "abcd":
        tasks.append(asyncio.create_task(writer(name, fail=name == "b")))
        await asyncio.sleep(0)  # each asks in turn
    await asyncio.gather(*tasks)
    await dispose_engines()
    assert log == [f"{n} {w}" for n in "abcd" for w in ("in", "out")]
