"""The plan's context is read in one statement for a contact never reached before, and the
optional parts (history, suppressions, a pending evaluation) are still read when they exist."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import event, select

from agent.activity import record_all
from agent.db import get_engine, session_scope, utcnow
from agent.ids import new_id
from agent.lifecycle.enrollments import MOVED, move_enrollment
from agent.models import ActivityEvent, Suppression
from agent.states import EnrollmentAction
from planner.service import load_context, plan_enrollment
from tests.builders import add_conversation, add_outreach, outreaches, workspace_of
from tests.flows import enrollments, live_campaign, people


class Statements:
    """The SQL the database engine runs while this is open, first words only."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.engine = get_engine().sync_engine

    def _record(self, conn, cursor, statement, params, context, executemany) -> None:  # noqa: ANN001
        self.seen.append(" ".join(statement.split()[:3]))

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)


async def test_a_first_touch_reads_its_context_in_one_statement_then_claims_and_drafts(client, admin):
    cid = await live_campaign(client, admin, contacts=people(1))
    eid = (await enrollments(client, admin, cid))["Ann"]["id"]
    with Statements() as sql:
        await plan_enrollment(eid)
    [draft] = await outreaches(cid)
    assert draft.enrollment_id == eid and draft.status == "awaiting_approval"
    first_write = next(i for i, s in enumerate(sql.seen) if s.startswith("UPDATE"))
    reads = [s for s in sql.seen[:first_write] if s.startswith("SELECT")]
    assert len(reads) == 1, sql.seen
    # After the model: the route's writes only, nothing read again.
    assert not [s for s in sql.seen[first_write:] if s.startswith("SELECT")], sql.seen


async def test_history_suppression_and_a_pending_evaluation_are_read_when_they_exist(client, admin):
    cid = await live_campaign(client, admin, contacts=people(1))
    ann = (await enrollments(client, admin, cid))["Ann"]
    eid = ann["id"]
    async with session_scope() as s:
        ctx = await load_context(s, eid, 1, None)
    assert ctx.history == [] and ctx.suppressed_channels == frozenset() and not ctx.awaiting_evaluation
    await add_outreach(cid, eid, status="sent", channel="email", subject="Hello", body="First note")
    async with session_scope() as s:
        s.add(Suppression(id=new_id("sup"), workspace_id=await workspace_of(cid), email_key=ann["contact"]["email"],
                          channel="sms", reason="opt_out"))
    # A call that ended a minute ago and is due to be judged: the contact waits for the verdict.
    await add_conversation(cid, enrollment=ann, evaluate_after=utcnow() - dt.timedelta(minutes=1))
    async with session_scope() as s:
        ctx = await load_context(s, eid, 1, None)
    assert [(h.channel, h.subject) for h in ctx.history] == [("email", "Hello")]
    assert ctx.suppressed_channels == frozenset({"sms"}) and not ctx.suppressed
    assert ctx.awaiting_evaluation


async def _events(enrollment_id: str) -> list[ActivityEvent]:
    async with session_scope() as s:
        return list((await s.execute(select(ActivityEvent).where(ActivityEvent.enrollment_id == enrollment_id)
                                     .order_by(ActivityEvent.id))).scalars())


async def test_a_plan_logs_its_claim_its_draft_and_the_outreach_in_order(client, admin):
    cid = await live_campaign(client, admin, contacts=people(1))
    eid = (await enrollments(client, admin, cid))["Ann"]["id"]
    before = len(await _events(eid))
    await plan_enrollment(eid)
    [draft] = await outreaches(cid)
    claim, moved, planned = (await _events(eid))[before:]
    assert [claim.kind, moved.kind, planned.kind] == [MOVED, MOVED, "outreach.planned"]
    assert [claim.payload["action"], moved.payload["action"]] == ["claim", "draft"]
    assert (claim.payload["from"], claim.payload["to"], moved.payload["to"]) == ("not_started", "planning",
                                                                                "awaiting_approval")
    assert planned.outreach_id == draft.id and planned.payload["channel"] == "email"
    assert planned.payload["status"] == "awaiting_approval" and planned.payload["step"] == 1
    assert {(e.enrollment_id, e.campaign_id) for e in (claim, moved, planned)} == {(eid, cid)}
    assert len({e.contact_id for e in (claim, moved, planned)} - {None}) == 1


async def test_a_move_handed_its_event_to_the_caller_writes_it_only_with_the_callers_batch(client, admin):
    cid = await live_campaign(client, admin, contacts=people(1))
    eid = (await enrollments(client, admin, cid))["Ann"]["id"]
    before = len(await _events(eid))
    events: list[dict] = []
    async with session_scope() as s:
        moved = await move_enrollment(s, eid, EnrollmentAction.claim, events=events)
        assert moved is not None and not s.new  # nothing added to the session
    assert [e["payload"]["action"] for e in events] == ["claim"]
    assert len(await _events(eid)) == before  # the move committed, its event was the caller's to write
    async with session_scope() as s:
        await record_all(s, events)
    [claim] = (await _events(eid))[before:]
    assert (claim.kind, claim.payload["to"], claim.workspace_id) == (MOVED, "planning", await workspace_of(cid))


async def test_a_linked_schedule_is_read_with_the_context_only_when_the_campaign_links_one(client, admin):
    hours = {"mon": [{"start": "10:00", "end": "11:00"}]}
    r = await client.post("/v1/schedules", headers=admin, json={
        "name": "Late morning", "timezone": "America/Chicago", "business_hours": hours})
    assert r.status_code == 201, r.text
    linked = await live_campaign(client, admin, contacts=people(1), schedule_id=r.json()["id"])
    inline = await live_campaign(client, admin, contacts=people(1))
    for cid, expected in ((linked, 2), (inline, 1)):
        eid = (await enrollments(client, admin, cid))["Ann"]["id"]
        async with session_scope() as s:
            with Statements() as sql:
                ctx = await load_context(s, eid, 1, None)
        assert len([q for q in sql.seen if q.startswith("SELECT")]) == expected, sql.seen
        if cid == linked:
            assert ctx.schedule == {"timezone": "America/Chicago", "business_hours": hours, "holidays": []}
        else:
            assert (ctx.schedule or {}).get("timezone") != "America/Chicago"
