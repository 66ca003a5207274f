"""Campaign type (seed 001: "One Time (simple) or Follow-up (ongoing)"): a one-time campaign
gives each contact one touch and then finishes it; a follow-up campaign runs the sequence with its
retries. A failed send is no touch, so a one-time campaign still retries it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update

from agent.db import session_scope
from agent.executor import Outcome, execute
from agent.models import Enrollment, Outreach
from tests.builders import enrollment_row, outreach_row
from tests.flows import approved_and_queued, run_plan


async def _outreaches_of(enrollment_id: str) -> int:
    async with session_scope() as s:
        return (await s.execute(select(func.count()).select_from(Outreach)
                                .where(Outreach.enrollment_id == enrollment_id))).scalar_one()


async def _last_attempt_ago(enrollment_id: str, ago: dt.timedelta) -> None:
    """Move the enrollment's last attempt into the past, as if that much time had gone by."""
    async with session_scope() as s:
        last = (await s.execute(select(Enrollment.last_attempt_at).where(Enrollment.id == enrollment_id))).scalar_one()
        await s.execute(update(Enrollment).where(Enrollment.id == enrollment_id)
                        .values(last_attempt_at=last - ago, next_attempt_at=None))


async def test_a_one_time_contact_gets_exactly_one_outreach_then_finishes(client, admin):
    cid, named = await approved_and_queued(client, admin, 1, type="one_time")
    oid = named["Ann"]["id"]
    assert await execute(oid) is Outcome.sent
    sent = await outreach_row(oid)
    enrollment = await enrollment_row(sent.enrollment_id)
    # The one touch: no retry is planned; the contact has the completion timeout (1 hour) to reply.
    assert (enrollment.status, enrollment.substatus, enrollment.attempts) == ("waiting", None, 1)
    assert enrollment.next_attempt_at - sent.sent_at == dt.timedelta(hours=1)
    # Planned again inside that window: it keeps waiting, no draft.
    await run_plan(client, admin, cid)
    enrollment = await enrollment_row(sent.enrollment_id)
    assert (enrollment.status, enrollment.substatus) == ("waiting", "scheduled")
    assert await _outreaches_of(sent.enrollment_id) == 1
    # After it, with no reply: finished, no response, and still the one outreach.
    await _last_attempt_ago(sent.enrollment_id, dt.timedelta(hours=2))
    await run_plan(client, admin, cid)
    enrollment = await enrollment_row(sent.enrollment_id)
    assert (enrollment.status, enrollment.substatus) == ("finished", "no_response")
    assert await _outreaches_of(sent.enrollment_id) == 1
    r = await client.get(f"/v1/campaigns/{cid}/contacts", headers=admin)
    [item] = r.json()["items"]
    assert (item["status"], item["substatus"]) == ("finished", "no_response")


async def test_a_follow_up_contact_gets_its_next_step(client, admin):
    cid, named = await approved_and_queued(client, admin, 1, type="follow_up")
    oid = named["Ann"]["id"]
    assert await execute(oid) is Outcome.sent
    enrollment_id = (await outreach_row(oid)).enrollment_id
    enrollment = await enrollment_row(enrollment_id)
    assert (enrollment.status, enrollment.substatus, enrollment.attempts) == ("waiting", "retry", 1)
    await _last_attempt_ago(enrollment_id, dt.timedelta(days=2))
    run = await run_plan(client, admin, cid)
    assert run["planned"] == 1, run
    async with session_scope() as s:
        steps = (await s.execute(select(Outreach.step).where(Outreach.enrollment_id == enrollment_id)
                                 .order_by(Outreach.step))).scalars().all()
    assert steps == [1, 2]
    assert (await enrollment_row(enrollment_id)).status == "awaiting_approval"


async def test_a_one_time_send_that_failed_is_no_touch_and_is_retried(client, admin):
    cid, named = await approved_and_queued(client, admin, 1, type="one_time")
    oid = named["Ann"]["id"]
    assert await execute(oid) is Outcome.sent
    enrollment_id = (await outreach_row(oid)).enrollment_id
    # The provider took it, then it bounced softly (a failed receipt): nothing reached the contact.
    async with session_scope() as s:
        await s.execute(update(Outreach).where(Outreach.id == oid).values(status="failed"))
    await _last_attempt_ago(enrollment_id, dt.timedelta(days=2))
    run = await run_plan(client, admin, cid)
    assert run["planned"] == 1, run
    assert await _outreaches_of(enrollment_id) == 2
    assert (await enrollment_row(enrollment_id)).status == "awaiting_approval"
