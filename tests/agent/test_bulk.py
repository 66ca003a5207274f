"""Rows written by the driver-level bulk path read back exactly like ORM-written rows."""

import datetime as dt

import pytest
from sqlalchemy import select

from agent import bulk
from agent.db import session_scope
from agent.models import ActivityEvent, Workspace


async def test_bulk_rows_round_trip_times_and_json_like_orm_rows(settings):
    when = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5)))  # no microseconds
    later = when + dt.timedelta(microseconds=250)
    async with session_scope() as s:
        s.add(Workspace(id="ws_1", name="w"))
        await s.flush()
        s.add(ActivityEvent(id="evt_orm", workspace_id="ws_1", actor="a", kind="k", payload={"n": 1},
                            created_at=later))
        await bulk.insert_rows(s, ActivityEvent.__table__, [
            {"id": "evt_bulk", "workspace_id": "ws_1", "actor": "a", "kind": "k",
             "payload": {"n": 2, "text": "Müller"}, "created_at": when}])
    async with session_scope() as s:
        rows = {e.id: e for e in (await s.execute(select(ActivityEvent))).scalars()}
        assert rows["evt_bulk"].created_at == when and rows["evt_bulk"].created_at.tzinfo is not None
        assert rows["evt_bulk"].payload == {"n": 2, "text": "Müller"}
        # Ordering and range filters treat both kinds of rows alike.
        ordered = (await s.execute(select(ActivityEvent.id).order_by(ActivityEvent.created_at))).scalars().all()
        assert ordered == ["evt_bulk", "evt_orm"]
        since = (await s.execute(select(ActivityEvent.id).where(ActivityEvent.created_at >= when))).scalars().all()
        assert sorted(since) == ["evt_bulk", "evt_orm"]
        after = (await s.execute(select(ActivityEvent.id).where(ActivityEvent.created_at > when))).scalars().all()
        assert after == ["evt_orm"]


@pytest.mark.parametrize("after_a_statement", [False, True])
async def test_bulk_insert_rolls_back_with_the_transaction(settings, after_a_statement):
    # After a statement (the executor's event writes follow its UPDATEs) the COPY joins the
    # transaction that statement opened, with nothing run to open it, and still rolls back with it.
    async with session_scope() as s:
        s.add(Workspace(id="ws_1", name="w"))
    try:
        async with session_scope() as s:
            if after_a_statement:
                await s.execute(select(Workspace.id))
            for event_id in ("evt_1", "evt_2"):
                await bulk.insert_rows(s, ActivityEvent.__table__, [
                    {"id": event_id, "workspace_id": "ws_1", "actor": "a", "kind": "k", "payload": {},
                     "created_at": dt.datetime.now(dt.UTC)}])
            raise RuntimeError("abort")
    except RuntimeError:
        pass
    async with session_scope() as s:
        assert (await s.execute(select(ActivityEvent))).first() is None


async def test_one_of_matches_exactly_the_listed_values(settings):
    # Past the 500 keys a chunked IN list held, and values that need quoting in SQL or JSON.
    odd = ["it's", 'say "hi"', "back\\slash", "Müller", "日本", "%", "_", ""]
    wanted = odd + [f"+1555{i:07d}" for i in range(1200)]
    async with session_scope() as s:
        s.add(Workspace(id="ws_1", name="w"))
        await s.flush()
        await bulk.insert_rows(s, ActivityEvent.__table__, [
            {"id": f"evt_{i}", "workspace_id": "ws_1", "actor": v, "kind": "k", "payload": {},
             "created_at": dt.datetime.now(dt.UTC)}
            for i, v in enumerate([*wanted, "MÜLLER", "it", "+15550001200", "x%"])])
    async with session_scope() as s:
        found = (await s.execute(select(ActivityEvent.actor).where(
            bulk.one_of(ActivityEvent.actor, wanted, s.bind.dialect.name)))).scalars().all()
        assert sorted(found) == sorted(wanted)
        none = (await s.execute(select(ActivityEvent.actor).where(
            bulk.one_of(ActivityEvent.actor, [], s.bind.dialect.name)))).scalars().all()
        assert none == []
