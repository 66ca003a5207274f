"""Rows written by the driver-level bulk path read back exactly like ORM-written rows."""

import datetime as dt

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


async def test_bulk_insert_rolls_back_with_the_transaction(settings):
    async with session_scope() as s:
        s.add(Workspace(id="ws_1", name="w"))
    try:
        async with session_scope() as s:
            await bulk.insert_rows(s, ActivityEvent.__table__, [
                {"id": "evt_1", "workspace_id": "ws_1", "actor": "a", "kind": "k", "payload": {},
                 "created_at": dt.datetime.now(dt.UTC)}])
            raise RuntimeError("abort")
    except RuntimeError:
        pass
    async with session_scope() as s:
        assert (await s.execute(select(ActivityEvent))).first() is None


async def test_bulk_insert_after_other_statements_still_rolls_back_with_them(settings):
    # The executor's event writes come after its UPDATEs: the transaction the COPY joins is the
    # one those opened (no extra statement to open it), and it still rolls back as one.
    async with session_scope() as s:
        s.add(Workspace(id="ws_1", name="w"))
    try:
        async with session_scope() as s:
            await s.execute(select(Workspace.id))
            await bulk.insert_rows(s, ActivityEvent.__table__, [
                {"id": "evt_1", "workspace_id": "ws_1", "actor": "a", "kind": "k", "payload": {},
                 "created_at": dt.datetime.now(dt.UTC)}])
            await bulk.insert_rows(s, ActivityEvent.__table__, [
                {"id": "evt_2", "workspace_id": "ws_1", "actor": "a", "kind": "k", "payload": {},
                 "created_at": dt.datetime.now(dt.UTC)}])
            raise RuntimeError("abort")
    except RuntimeError:
        pass
    async with session_scope() as s:
        assert (await s.execute(select(ActivityEvent))).first() is None
