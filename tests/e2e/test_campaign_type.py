"""Campaign type (seed 001: "One Time (simple) or Follow-up (ongoing)"): a one-time campaign
gives each contact one touch and then finishes it; a follow-up campaign runs the sequence with its
retries. A failed send is no touch, so a one-time campaign still retries it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, update

from agent.db import session_scope
from agent.executor import Outcome, execute
from agent.models import Enrollment, Outreach
from tests import builders
from tests.builders import enrollment_row, outreach_row
from tests.flows import approved_and_queued, run_plan, voice_campaign


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


@pytest.mark.parametrize("answer, ends", [("human", ("finished", "max_attempts")), ("machine", None)])
async def test_a_one_time_call_is_its_touch_only_when_a_person_answered(client, admin, answer, ends):
    campaign = await voice_campaign(client, admin, type="one_time", goals=())
    contact = next(iter(campaign.contacts.values()))
    enrollment_id = contact["enrollment_id"]
    await builders.add_conversation(campaign.id, enrollment_id=enrollment_id, contact_id=contact["id"],
                                    answer_status=answer, turns=[(0, "assistant", "Hello"), (1, "user", "Hi")])
    last = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    await builders.set_enrollments(Enrollment.id == enrollment_id, status="waiting", substatus=None, attempts=1,
                                   last_attempt_at=last, next_attempt_at=None)
    await run_plan(client, admin, campaign.id, {"contact_ids": [contact["id"]]})
    enrollment = await enrollment_row(enrollment_id)
    if ends is None:  # a voicemail is no touch: the retry is planned
        assert await _outreaches_of(enrollment_id) == 1 and enrollment.status == "awaiting_approval"
    else:
        assert (enrollment.status, enrollment.substatus) == ends and await _outreaches_of(enrollment_id) == 0
