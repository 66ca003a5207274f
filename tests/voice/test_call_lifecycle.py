"""A placed call through Vapi or Retell (local servers speaking their create-call APIs): the
outreach stays ``executing`` for the whole call under its own lease, the signed end-of-call
report makes it ``sent`` with the conversation linked, no answer / busy / voicemail follow the
retry settings, and a report that never comes leaves it ``unknown`` after the lease."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from agent.db import session_scope, utcnow
from agent.executor import Outcome, execute
from agent.models import Channel, Conversation, Enrollment
from agent.webhooks import sign
from planner import scheduler
from tests.builders import (
    add_outreach,
    enrollment_row,
    events,
    outreach_row,
    set_enrollments,
)
from tests.flows import enrollments, live_campaign
from tests.provider_server import ProviderServer, Reply

NY = ZoneInfo("America/New_York")
T0 = dt.datetime(2026, 12, 9, 12, 0, tzinfo=NY)  # a Wednesday noon in New York
KEY, SECRET, PUBLIC = "voice-key-7f6e5d", "whsec_lifecycle_test", "https://overture.example.com"
ANN = {"name": "Ann Lee", "phone": "+1 212 555 0100", "timezone": "America/New_York"}
ANN_E164 = "+12125550100"
ONE_RETRY = {"max_retry_attempts": 1, "retry_interval": {"value": 3, "unit": "hours"}}
TALK = [{"role": "assistant", "content": "Hi Ann, this is the clinic about your check-up."},
        {"role": "user", "content": "Tuesday at ten works for me."}]
PROVIDERS = {  # name: (create-call path, its answer, the channel's own configuration)
    "vapi": ("/call", {"id": "5d1c0f3e-2b7a-4c3d-9e8f-1a2b3c4d5e6f", "status": "queued"},
             {"phone_number_id": "pn-1"}),
    "retell": ("/v2/create-phone-call", {"call_id": "Jabr9TXYYJHfvl6Syypi88rdAHYHmcq6", "call_status": "registered"},
               {"from_number": "+12125550199"}),
}


@pytest.fixture(params=sorted(PROVIDERS))
def provider(request, settings):
    name = request.param
    path, answer, _ = PROVIDERS[name]
    with ProviderServer(path=path, authorization=f"Bearer {KEY}", default=Reply(201, answer),
                        unauthorized=Reply(401, {"message": "Invalid Key"})) as server:
        setattr(settings, f"{name}_api_key", SecretStr(KEY))
        setattr(settings, f"{name}_base_url", server.base_url)
        settings.public_url = PUBLIC
        settings.webhook_secret = SecretStr(SECRET)
        yield name, server


async def placed_call(client, admin, provider, **call_settings) -> tuple[str, str, str]:
    """A live voice campaign through the provider and Ann's call placed at T0: (campaign, outreach, call id)."""
    name, server = provider
    _, answer, config = PROVIDERS[name]
    cid = await live_campaign(client, admin, channels=[{"kind": "voice", "provider": name, **config}],
                              manual_review=False, contacts=[ANN], settings={**ONE_RETRY, **call_settings})
    [ann] = (await enrollments(client, admin, cid)).values()
    async with session_scope() as s:
        channel_id = (await s.execute(select(Channel.id).where(Channel.campaign_id == cid))).scalar_one()
    oid = await add_outreach(cid, ann["id"], status="awaiting_execution", channel_id=channel_id, scheduled_at=T0,
                             body="Call Ann about her check-up.")
    await set_enrollments(Enrollment.id == ann["id"], status="awaiting_execution")
    assert await execute(oid, now=T0) == Outcome.calling
    [seen] = server.seen
    assert seen.json["metadata" if name == "retell" else "assistant"] is not None
    return cid, oid, answer.get("id") or answer["call_id"]


async def post_report(client, cid: str, call: str, *, answer_status: str = "human", ended_reason: str = "hangup",
                      transcript=TALK):
    body = {"call_id": call, "campaign_id": cid, "from": "+12125550199", "to": ANN_E164, "duration_s": 42.0,
            "ended_reason": ended_reason, "answer_status": answer_status, "transcript": transcript}
    raw = json.dumps(body).encode()
    r = await client.post("/v1/voice/events", content=raw, headers={
        "Content-Type": "application/json", "X-Overture-Signature": sign(raw, SECRET)})
    assert r.status_code == 202, r.text
    return r.json()["conversation_id"]


async def test_the_call_stays_executing_until_its_signed_report_then_is_sent_and_linked(client, admin, provider):
    cid, oid, call = await placed_call(client, admin, provider)
    row = await outreach_row(oid)
    assert row.status == "executing" and row.provider_message_id == call and row.sent_at is None
    assert row.lease_until == T0 + dt.timedelta(seconds=30 + 1800 + 300)  # ring + the longest call + grace
    enrollment = await enrollment_row(row.enrollment_id)
    assert enrollment.status == "executing" and enrollment.attempts == 0
    [placed] = await events(oid, "outreach.call_placed")
    assert placed.payload["call_id"] == call
    # 20 minutes into the call: past the plain send lease, inside the call's own; nothing moves.
    assert await scheduler.settle_lost_sends(T0 + dt.timedelta(minutes=20)) == 0
    assert (await outreach_row(oid)).status == "executing"

    conversation_id = await post_report(client, cid, call)
    row = await outreach_row(oid)
    assert row.status == "sent" and row.sent_at is not None
    async with session_scope() as s:
        conv = await s.get(Conversation, conversation_id)
    assert conv.outreach_id == oid and conv.status == "closed"
    enrollment = await enrollment_row(row.enrollment_id)
    assert (enrollment.status, enrollment.substatus, enrollment.attempts) == ("waiting", None, 1)
    # The redelivered report changes nothing.
    assert await post_report(client, cid, call) == conversation_id
    assert (await enrollment_row(row.enrollment_id)).attempts == 1


@pytest.mark.parametrize(("answer_status", "ended_reason"), [
    ("no_answer", "customer-did-not-answer"), ("rejected", "customer-busy"), ("machine", "voicemail")])
async def test_no_answer_busy_and_voicemail_schedule_a_retry_per_the_settings(client, admin, provider,
                                                                            answer_status, ended_reason):
    cid, oid, call = await placed_call(client, admin, provider)
    before = utcnow()
    conversation_id = await post_report(client, cid, call, answer_status=answer_status, ended_reason=ended_reason,
                                        transcript=[])
    row = await outreach_row(oid)
    assert row.status == "sent"
    async with session_scope() as s:
        assert (await s.get(Conversation, conversation_id)).outreach_id == oid
    enrollment = await enrollment_row(row.enrollment_id)
    assert (enrollment.status, enrollment.substatus, enrollment.attempts) == ("waiting", "retry", 1)
    retry_at = enrollment.next_attempt_at
    assert before + dt.timedelta(hours=3) - dt.timedelta(seconds=1) <= retry_at <= utcnow() + dt.timedelta(hours=3)


async def test_with_no_retries_left_an_unanswered_call_finishes_the_contact(client, admin, provider):
    cid, oid, call = await placed_call(client, admin, provider, max_retry_attempts=0)
    await post_report(client, cid, call, answer_status="no_answer", ended_reason="customer-did-not-answer",
                      transcript=[])
    enrollment = await enrollment_row((await outreach_row(oid)).enrollment_id)
    assert (enrollment.status, enrollment.substatus) == ("finished", "failed")


async def test_a_report_that_never_comes_leaves_the_call_unknown_after_its_lease(client, admin, provider):
    _, oid, _ = await placed_call(client, admin, provider)
    lease = (await outreach_row(oid)).lease_until
    assert await scheduler.settle_lost_sends(lease - dt.timedelta(seconds=1)) == 0
    assert await scheduler.settle_lost_sends(lease + dt.timedelta(seconds=1)) == 1
    row = await outreach_row(oid)
    assert row.status == "unknown"
    enrollment = await enrollment_row(row.enrollment_id)
    assert (enrollment.status, enrollment.substatus) == ("error", "system_error")
