"""The stats rollups (migration 0016's triggers) against a recount of the raw rows, after a
history with every kind of write the figures see: real sends through the executor's bulk
claims and records, bounces, replies and their intents, opt-outs, a removal, bulk status
UPDATEs, calls re-reported, tasks, goal results corrected and re-evaluated, and deletions.

After each step ``campaign_stats`` (the counters) must equal ``recount_stats`` (the GROUP BYs
the stats ran before), and both must show what the step did, so a step the triggers miss fails.
"""

from __future__ import annotations

import datetime as dt

import pytest

from sqlalchemy import delete, func, select, update

from agent.db import session_scope
from agent.ids import new_id
from agent.inbound.store import record_inbound
from agent.models import (Campaign, Conversation, Enrollment, Evaluation, Goal, GoalResult, InboundMessage, Outreach,
                          StatsCount, StatsMark, Task)
from agent.reports.stats import campaign_stats
from agent.states import InboundKind, ReplyIntent
from tests.builders import add_conversation, add_goals, add_outreach, set_enrollments, workspace_of
from tests.conftest import drain_queue
from tests.e2e.test_send_email import SENDER, inbox  # noqa: F401 (the fixture)
from tests.flows import by_name, live_campaign, people, queue_with_drafts, zone_at_noon
from tests.reports.recount import recount_stats


async def _same(cid: str) -> dict:
    """The rollups' stats, asserted equal to the recount; returned for the step's own checks."""
    async with session_scope() as s:
        campaign = await s.get(Campaign, cid)
        kept, counted = await campaign_stats(s, campaign), await recount_stats(s, campaign)
    assert kept == counted
    return kept


async def _evaluation(conversation_id: str, results: dict[str, str], *, current: bool) -> str:
    async with session_scope() as s:
        ev = Evaluation(id=new_id("eval"), conversation_id=conversation_id, status="succeeded", is_current=False)
        s.add(ev)
        await s.flush()
        for goal_id, result in results.items():
            s.add(GoalResult(id=new_id("gr"), evaluation_id=ev.id, conversation_id=conversation_id, goal_id=goal_id,
                             result=result))
        await s.flush()
        if current:  # the way evaluators.service swaps the current evaluation: one bulk UPDATE each
            await s.execute(update(Evaluation).where(Evaluation.conversation_id == conversation_id,
                                                     Evaluation.id != ev.id).values(is_current=False))
            await s.execute(update(Evaluation).where(Evaluation.id == ev.id).values(is_current=True))
    return ev.id


async def test_the_rollups_equal_a_recount_after_every_kind_of_write(client, admin, inbox) -> None:  # noqa: F811
    cid, items = await queue_with_drafts(client, admin, 6, channels=(SENDER,),
                                         contacts=people(6, timezone=zone_at_noon()))
    named = by_name(items)
    first = await _same(cid)
    assert first["review"]["awaiting_approval"] == 6 and first["all"]["contacted"] == 0

    # Real sends: four approved, executed by the executor (bulk claim, send, bulk record).
    for name in list(named)[:4]:
        assert (await client.post(f"/v1/outreaches/{named[name]['id']}/approve", headers=admin)).status_code == 200
    assert (await client.post(f"/v1/campaigns/{cid}/execute-approved", headers=admin)).json() == {"queued": 4}
    await drain_queue()
    sent = await _same(cid)
    assert sent["email"]["sent"] == 4 and sent["all"]["contacted"] == 4 and len(inbox.received) == 4
    assert sent["review"]["awaiting_approval"] == 2

    async with session_scope() as s:
        rows = {e.contact_id: e for e in (await s.scalars(select(Enrollment).where(Enrollment.campaign_id == cid)))}
    a, b, c, d, e, f = (rows[named[n]["contact"]["id"]] for n in named)

    # A second step and an sms touch; one delivered, one failed (bulk UPDATEs like the receipts').
    step2 = await add_outreach(cid, a.id, status="sent", channel="email", step=2)
    await add_outreach(cid, b.id, status="sent", channel="sms", step=2)
    failed = await add_outreach(cid, c.id, status="sent", channel="sms", step=2)
    async with session_scope() as s:
        await s.execute(update(Outreach).where(Outreach.id == step2).values(status="delivered"))
        await s.execute(update(Outreach).where(Outreach.id == failed).values(status="failed"))
    moved = await _same(cid)
    assert moved["sms"] == {"sent": 1, "delivered": 0, "failed": 1, "replied": 0, "opted_out": 0}
    assert {(r["step"], r["channel"]): r["contacts"] for r in moved["flow"]} == {(1, "email"): 4, (2, "email"): 1,
                                                                                 (2, "sms"): 1}

    # Outcomes: a replied (interested, read later), b bounced, c opted out on sms, d removed.
    await set_enrollments(Enrollment.id == a.id, status="replied", substatus=None)
    await set_enrollments(Enrollment.id == b.id, status="finished", substatus="bounced")
    await set_enrollments(Enrollment.id == c.id, status="finished", substatus="opted_out")
    async with session_scope() as s:
        message, _ = await record_inbound(s, channel="email", provider="test", external_id=f"r-{a.id}",
                                          kind=InboundKind.reply, text="Yes please")
        message.workspace_id, message.enrollment_id = a.workspace_id, a.id
    replied = await _same(cid)
    assert replied["all"]["positive"] == 0 and replied["email"]["replied"] == 1
    async with session_scope() as s:  # the intent arrives once the reply is read
        await s.execute(update(InboundMessage).where(InboundMessage.enrollment_id == a.id)
                        .values(intent=ReplyIntent.interested))
    assert (await client.delete(f"/v1/campaigns/{cid}/contacts/{d.contact_id}", headers=admin)).status_code == 204
    outcomes = await _same(cid)
    assert outcomes["all"]["positive"] == outcomes["email"]["positive"] == 1
    assert outcomes["email"]["bounced"] == outcomes["email"]["unsubscribed"] == 1  # c: reached by email only
    assert outcomes["all"]["total_contacts"] == 5 and outcomes["statuses"].get("removed") == 1
    await set_enrollments(Enrollment.id == b.id, status="waiting", substatus=None)  # a bounce undone
    assert (await _same(cid))["email"]["bounced"] == 0

    # Calls, re-reported (answer and start moved), tasks, goals with a correction and a re-evaluation.
    ae = {"id": e.id, "contact": {"id": e.contact_id}}
    call = await add_conversation(cid, enrollment=ae, answer_status=None, status="open", duration_s=None)
    other = await add_conversation(cid, enrollment={"id": f.id, "contact": {"id": f.contact_id}},
                                   answer_status="machine", started_at=dt.datetime(2026, 3, 9, 13, 50, tzinfo=dt.UTC))
    async with session_scope() as s:
        await s.execute(update(Conversation).where(Conversation.id == call).values(
            answer_status="human", status="closed", duration_s=75.0,
            started_at=dt.datetime(2026, 3, 9, 14, 5, tzinfo=dt.UTC)))
        ws = await workspace_of(cid)
        for i, status in enumerate(("pending", "pending", "completed")):
            s.add(Task(id=new_id("task"), workspace_id=ws, campaign_id=cid, contact_id=a.contact_id,
                       idempotency_key=new_id("idem"), title=f"t{i}", status=status))
    async with session_scope() as s:
        await s.execute(update(Task).where(Task.campaign_id == cid, Task.title == "t0").values(status="completed"))
    details, booked = await add_goals(cid)
    await _evaluation(call, {details: "achieved", booked: "not_achieved"}, current=True)
    corrected = await _evaluation(other, {details: "not_achieved", booked: "not_achieved"}, current=True)
    async with session_scope() as s:
        await s.execute(update(GoalResult).where(GoalResult.evaluation_id == corrected, GoalResult.goal_id == booked)
                        .values(corrected_result="achieved"))
    await _evaluation(call, {details: "achieved", booked: "achieved"}, current=True)  # the re-evaluation wins
    voiced = await _same(cid)
    assert voiced["voice"]["calls"] == 2 and voiced["voice"]["total_duration_s"] == 75.0
    assert voiced["all"]["contacted"] == 6 and voiced["tasks"] == {"pending": 1, "completed": 2}
    assert [g["results"] for g in voiced["goals"]] == [{"achieved": 1, "not_achieved": 1}, {"achieved": 2}]
    assert sum(cell["calls"] for cell in voiced["heatmap"]["cells"]) == 2

    # Deletions: an outreach, a call (with its evaluations' results), a goal archived, an enrollment.
    async with session_scope() as s:
        await s.execute(delete(Outreach).where(Outreach.id == step2))
        await s.execute(delete(GoalResult).where(GoalResult.evaluation_id == corrected))
        await s.execute(delete(Evaluation).where(Evaluation.conversation_id == call))
        await s.execute(update(Goal).where(Goal.id == details).values(archived_at=dt.datetime.now(dt.UTC)))
        await s.execute(delete(Conversation).where(Conversation.id == other))
        await s.execute(delete(Enrollment).where(Enrollment.id == c.id))
    gone = await _same(cid)
    assert gone["voice"]["calls"] == 1 and gone["goals"] == [
        {"goal_id": booked, "name": "Appointment booked", "is_primary": True, "results": {}}]
    assert gone["sms"]["failed"] == 0 and gone["all"]["contacted"] == 4  # c deleted, f only called

    # A deleted campaign takes its counters and marks with it.
    async with session_scope() as s:
        await s.execute(delete(Campaign).where(Campaign.id == cid))
    async with session_scope() as s:
        left = [await s.scalar(select(func.count()).select_from(t).where(t.campaign_id == cid))
                for t in (StatsCount, StatsMark)]
    assert left == [0, 0]


async def test_postgresql_writers_of_one_campaign_never_wait_on_each_others_counters(settings, client, admin):
    """Each connection adds to counter rows of its own, so a writer never waits for another's
    commit on a counter (nor deadlocks with it). The second writer's transaction is picked to
    fall on the first one's old shard (transaction id mod 16), where it used to wait."""
    if settings.is_sqlite:
        pytest.skip("SQLite has one writer at a time; its counters have one shard")
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    cid = await live_campaign(client, admin, contacts=people(2, timezone=zone_at_noon()))
    enrollments = [e["id"] for e in (await client.get(f"/v1/campaigns/{cid}/contacts", headers=admin)).json()["items"]]
    ids = [await add_outreach(cid, e, status="awaiting_execution", channel="email") for e in enrollments]
    a, b = create_async_engine(settings.db_url), create_async_engine(settings.db_url)
    try:
        async with a.connect() as ca, b.connect() as cb:
            await ca.begin()
            mine = (await ca.execute(text("SELECT txid_current()"))).scalar_one()
            await ca.execute(update(Outreach).where(Outreach.id == ids[0]).values(status="executing"))
            for _ in range(40):  # a transaction on the same txid % 16 as A's
                await cb.begin()
                if (await cb.execute(text("SELECT txid_current()"))).scalar_one() % 16 == mine % 16:
                    break
                await cb.rollback()
            await cb.execute(text("SET LOCAL lock_timeout = '3s'"))
            await cb.execute(update(Outreach).where(Outreach.id == ids[1]).values(status="executing"))
            await cb.commit()
            await ca.commit()
    finally:
        await a.dispose()
        await b.dispose()
    stats = await _same(cid)
    assert stats["email"]["sent"] == 0
    async with session_scope() as s:
        rows = (await s.execute(select(StatsCount.shard, StatsCount.n).where(
            StatsCount.campaign_id == cid, StatsCount.figure == "out:email:executing"))).all()
    assert sum(n for _, n in rows) == 2 and len(rows) == 2  # one row per connection


async def test_the_scheduler_folds_closed_connections_counters_into_one_row(settings, client, admin):
    if settings.is_sqlite:
        pytest.skip("SQLite writes shard 0 only")
    from sqlalchemy.ext.asyncio import create_async_engine

    from planner import scheduler

    cid = await live_campaign(client, admin, contacts=people(3, timezone=zone_at_noon()))
    enrollments = [e["id"] for e in (await client.get(f"/v1/campaigns/{cid}/contacts", headers=admin)).json()["items"]]
    for e in enrollments:  # each through a connection that then closes
        engine = create_async_engine(settings.db_url)
        async with engine.begin() as conn:
            await conn.execute(Outreach.__table__.insert().values(
                id=new_id("out"), workspace_id=await workspace_of(cid), campaign_id=cid, enrollment_id=e,
                channel="email", status="sent", body="Hi", idempotency_key=new_id("idem")))
        await engine.dispose()
    before = await _same(cid)
    assert before["email"]["sent"] == 3
    await scheduler.fold_stats()
    after = await _same(cid)
    assert after == before
    async with session_scope() as s:
        rows = (await s.execute(select(StatsCount.figure, StatsCount.shard, StatsCount.n).where(
            StatsCount.campaign_id == cid, StatsCount.figure == "out:email:sent"))).all()
    assert rows == [("out:email:sent", 0, 3)]


def test_moving_an_enrollment_reads_no_marks_unless_its_flags_change(empty_db_url: str) -> None:
    """0018: the enrollments' rollup trigger re-flags marks only when a moved enrollment's flags
    (replied, bounced, opted out) changed. 0016 ran the re-flag on every UPDATE of enrollments,
    planned as a sequential scan of the whole of ``stats_marks`` (11 ms at 30,000 marks for a
    move of five): with 3,000 marks of other enrollments here, a move that keeps the flags reads
    none of them, and a reply still re-flags the enrollment's own."""
    if empty_db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's statement-level trigger; SQLite's row triggers read one row's marks by key")
    from sqlalchemy import text

    from agent.migrate import upgrade
    from tests.review.test_inbox_search import _fill
    from tests.test_migrations import _on, _rows_at_0002

    upgrade(empty_db_url)
    _fill(empty_db_url, _rows_at_0002())  # its sent outreach gives enrollment "enr" its marks

    def fill(conn) -> None:  # noqa: ANN001
        conn.execute(text("INSERT INTO stats_marks (enrollment_id, figure, campaign_id, n, replied, bounced, opted_out)"
                          " SELECT 'other' || i, f, 'cmp', 1, 0, 0, 0 FROM generate_series(1, 1000) AS i,"
                          " unnest(ARRAY['contact', 'reach:email', 'flow:1:email']) AS f"))

    _on(empty_db_url, fill)

    def move(status: str) -> tuple[int, int]:
        def go(conn) -> tuple[int, int]:  # noqa: ANN001
            # Any read of the marks shows in seq_tup_read, whatever plan the statistics would pick.
            for setting in ("enable_indexscan", "enable_bitmapscan"):
                conn.execute(text(f"SET LOCAL {setting} = off"))
            conn.execute(text("UPDATE enrollments SET status = :s, substatus = NULL WHERE id = 'enr'"), {"s": status})
            return conn.execute(text("SELECT seq_tup_read, (SELECT min(replied) FROM stats_marks"
                                     " WHERE enrollment_id = 'enr') FROM pg_stat_xact_user_tables"
                                     " WHERE relname = 'stats_marks'")).one()
        return tuple(_on(empty_db_url, go))

    assert move("waiting") == (0, 0)
    assert move("executing") == (0, 0)
    assert move("replied")[1] == 1  # the flag followed the reply
