"""Outreach moves over many rows at once, each row from the version it was seen at and with
values of its own (the executor's result write: sent, with each message's provider id)."""

from __future__ import annotations

from sqlalchemy import select

from agent.db import session_scope
from agent.lifecycle.outreaches import move_seen_outreaches
from agent.models import Enrollment, Outreach
from agent.states import OutreachAction
from tests.builders import add_outreach
from tests.agent.test_enrollment_lifecycle import _enrolled


async def _rows(ids: list[str]) -> dict[str, Outreach]:
    async with session_scope() as s:
        return {o.id: o for o in (await s.execute(select(Outreach).where(Outreach.id.in_(ids)))).scalars()}


async def test_each_row_moves_from_its_seen_version_with_its_own_values(client, admin):
    cid, enrollments = await _enrolled(client, admin)
    ids = [await add_outreach(cid, e, status="executing", channel="email", version=3) for e in enrollments]
    stale, other_status = ids[1], ids[2]
    async with session_scope() as s:  # one moved on since it was seen, one is no longer executing
        await s.execute(Outreach.__table__.update().where(Outreach.id == stale).values(version=4))
        await s.execute(Outreach.__table__.update().where(Outreach.id == other_status).values(status="unknown"))
    async with session_scope() as s:
        moved = await move_seen_outreaches(s, OutreachAction.send, [
            {"id": i, "version": 3, "provider_message_id": f"<{n}@clinic.example>"} for n, i in enumerate(ids)])
    assert [(r.id, r.version) for r in moved] == [(ids[0], 4)]
    enrollment_of = {o.id: o.enrollment_id for o in (await _rows(ids)).values()}
    assert moved[0].enrollment_id == enrollment_of[ids[0]]
    rows = await _rows(ids)
    assert (rows[ids[0]].status, rows[ids[0]].provider_message_id, rows[ids[0]].version) == (
        "sent", "<0@clinic.example>", 4)
    assert (rows[stale].status, rows[stale].provider_message_id, rows[stale].version) == ("executing", None, 4)
    assert (rows[other_status].status, rows[other_status].provider_message_id) == ("unknown", None)


async def test_common_values_land_on_every_moved_row_and_nothing_is_a_no_op(client, admin):
    cid, enrollments = await _enrolled(client, admin)
    ids = [await add_outreach(cid, e, status="executing", channel="email", version=2) for e in enrollments]
    async with session_scope() as s:
        assert await move_seen_outreaches(s, OutreachAction.send, []) == []
        moved = await move_seen_outreaches(s, OutreachAction.send, [
            {"id": i, "version": 2, "provider_message_id": f"p-{i}"} for i in ids], values={"error": "kept"})
    assert sorted(r.id for r in moved) == sorted(ids)
    rows = await _rows(ids)
    assert all((o.status, o.provider_message_id, o.error, o.version) == ("sent", f"p-{o.id}", "kept", 3)
               for o in rows.values())
    async with session_scope() as s:  # the enrollments are the caller's to move
        assert {e.status for e in (await s.execute(select(Enrollment).where(
            Enrollment.id.in_(enrollments)))).scalars()} == {"not_started"}


async def test_a_claim_moves_each_row_from_its_seen_version_by_one_statement_per_action(client, admin):
    from agent.lifecycle.outreaches import _at_statement, move_outreaches_at

    cid, enrollments = await _enrolled(client, admin)
    ids = [await add_outreach(cid, e, status="awaiting_execution", channel="email", version=2) for e in enrollments]
    stale, sent = ids[1], ids[2]
    async with session_scope() as s:  # one moved on since it was seen, one went out already
        await s.execute(Outreach.__table__.update().where(Outreach.id == stale).values(version=3))
        await s.execute(Outreach.__table__.update().where(Outreach.id == sent).values(status="sent"))
    built = _at_statement.cache_info().misses
    async with session_scope() as s:
        moved = await move_outreaches_at(s, OutreachAction.claim, [(i, 2) for i in ids])
        assert await move_outreaches_at(s, OutreachAction.claim, []) == []
    assert [(r.id, r.version) for r in moved] == [(ids[0], 3)]
    rows = await _rows(ids)
    assert moved[0].enrollment_id == rows[ids[0]].enrollment_id
    assert [(rows[i].status, rows[i].version) for i in ids] == [
        ("executing", 3), ("awaiting_execution", 3), ("sent", 2)]
    async with session_scope() as s:  # the same action again: the same statement, other rows
        again = await move_outreaches_at(s, OutreachAction.claim, [(stale, 3)])
    assert [(r.id, r.version) for r in again] == [(stale, 4)]
    assert _at_statement.cache_info().misses <= built + 1


async def test_the_result_write_is_built_once_per_shape(client, admin):
    from agent.lifecycle.outreaches import _seen_statement

    cid, enrollments = await _enrolled(client, admin)
    ids = [await add_outreach(cid, e, status="executing", channel="email", version=2) for e in enrollments]
    for i in ids:  # one write per row: the same shape each time, other rows and values
        async with session_scope() as s:
            await move_seen_outreaches(s, OutreachAction.send, [{"id": i, "version": 2, "provider_message_id": i}],
                                       values={"error": f"e-{i}"})
        if i == ids[0]:
            hits = _seen_statement.cache_info().hits
    assert _seen_statement.cache_info().hits == hits + len(ids) - 1
    rows = await _rows(ids)
    assert all((o.status, o.provider_message_id, o.error) == ("sent", o.id, f"e-{o.id}") for o in rows.values())
