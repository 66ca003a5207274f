"""``session_scope``: commits on success, rolls back on error (a failed commit too), closes the
session and returns its connection either way, and sees that through when cancelled meanwhile."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event, select

from agent.db import get_engine, session_scope
from agent.models import Workspace


async def _names() -> list[str]:
    async with session_scope() as s:
        return list((await s.execute(select(Workspace.name).order_by(Workspace.name))).scalars())


def _checked_out() -> int:
    return get_engine().sync_engine.pool.checkedout()


async def test_it_commits_on_success_and_rolls_back_on_error(settings):
    async with session_scope() as s:
        s.add(Workspace(id="ws_kept", name="kept"))
    with pytest.raises(RuntimeError, match="undone"):
        async with session_scope() as s:
            s.add(Workspace(id="ws_undone", name="undone"))
            await s.flush()
            raise RuntimeError("undone")
    assert await _names() == ["kept"] and _checked_out() == 0


async def test_a_commit_that_fails_is_rolled_back_and_raised(settings):
    def refuse(session) -> None:  # noqa: ANN001 - the sync Session
        raise RuntimeError("refused at commit")

    with pytest.raises(RuntimeError, match="refused at commit"):
        async with session_scope() as s:
            event.listen(s.sync_session, "before_commit", refuse)
            s.add(Workspace(id="ws_refused", name="refused"))
            await s.flush()
    assert await _names() == [] and _checked_out() == 0


async def test_cancelled_while_committing_it_commits_closes_and_then_raises(settings):
    entered = asyncio.Event()

    async def approve() -> None:
        async with session_scope() as s:
            s.add(Workspace(id="ws_cancelled", name="cancelled"))
            await s.flush()
            entered.set()  # the canceller runs at this task's next await: the commit's

    task = asyncio.create_task(approve())
    await entered.wait()
    for _ in range(3):  # anyio cancels again and again
        task.cancel()
        await asyncio.sleep(0)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _names() == ["cancelled"] and _checked_out() == 0
