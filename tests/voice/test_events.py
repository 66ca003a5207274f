"""The end-of-call report, POST /v1/voice/events: signed (no API key), it closes the conversation,
counts the attempt, moves the enrollment as docs/statuses.md maps seed 003's words, links the
voice outreach and sets when the evaluators may judge the call. Anything refused stores nothing;
a repeated report, however delivered, changes nothing; concurrent duplicates count once."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select, update

from agent.db import session_scope, utcnow
from agent.ids import new_id
from agent.models import (ActivityEvent, CallerNumber, Campaign, Contact, Conversation, ConversationTurn, Enrollment,
                          Outreach)
from agent.voice.calls import CallInfo, open_call, record_turns
from agent.webhooks import sign
from tests.builders import add_outreach, enrollment_row as enrollment, set_enrollments
from tests.flows import calling_campaign as voice_campaign  # the plain kind: no goals, no number

SECRET = "whsec_voice_c_test"
OUR_NUMBER = "+12025550199"
ONE_RETRY = {"max_retry_attempts": 1, "retry_interval": {"value": 3, "unit": "hours"},
             "contact_completion_timeout": {"value": 2, "unit": "hours"}}
PEOPLE = [{"name": "Ann Lee", "phone": "+1 212 555 0100"}, {"name": "Bo Chen", "phone": "+1 312 555 0101"},
          {"name": "Cy Diaz", "phone": "+1 720 555 0102"}, {"name": "Di Eng", "phone": "+1 415 555 0103"}]
TALK = [{"role": "assistant", "content": "Hi Ann, this is the clinic about your check-up."},
        {"role": "user", "content": "Oh hi, yes."},
        {"role": "assistant", "content": "Would Tuesday at 10 work?"},
        {"role": "user", "content": "Tuesday is perfect."}]


@pytest.fixture
def secret(settings) -> str:
    settings.webhook_secret = SecretStr(SECRET)  # read per request, so no restart needed
    return SECRET


def report(call_id: str, to: str, *, campaign_id: str | None = None, answer_status: str = "human",
           transcript: list[dict] | None = None, frm: str = OUR_NUMBER, **extra: Any) -> dict:
    body = {"call_id": call_id, "from": frm, "to": to, "duration_s": 61.5, "ended_reason": "customer-ended-call",
            "answer_status": answer_status, "transcript": TALK if transcript is None else transcript, **extra}
    if campaign_id:
        body["campaign_id"] = campaign_id
    return body


async def post(client, body: dict | bytes, *, key: str = SECRET, t: int | None = None, header: str | None = None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    signature = sign(raw, key, timestamp=t) if header is None else header
    if signature:
        headers["X-Overture-Signature"] = signature
    return await client.post("/v1/voice/events", content=raw, headers=headers)


async def snapshot() -> dict[str, Any]:
    """Everything a report could write: row counts and the state of enrollments and outreaches."""
    async with session_scope() as s:
        counts = {m.__tablename__: (await s.execute(select(func.count()).select_from(m))).scalar_one()
                  for m in (Conversation, ConversationTurn, ActivityEvent, Contact, Enrollment, Outreach)}
        enrollments = (await s.execute(select(Enrollment.id, Enrollment.status, Enrollment.substatus,
                                              Enrollment.attempts, Enrollment.version).order_by(Enrollment.id))).all()
        conversations = (await s.execute(select(Conversation.id, Conversation.status, Conversation.answer_status,
                                                Conversation.ended_at).order_by(Conversation.id))).all()
        outreaches = (await s.execute(select(Outreach.id, Outreach.status, Outreach.version))).all()
    return {**counts, "enrollments": enrollments, "conversations": conversations, "outreaches": outreaches}


async def conversation(conversation_id: str) -> Conversation:
    async with session_scope() as s:
        return (await s.execute(select(Conversation).where(Conversation.id == conversation_id))).scalar_one()


async def events(conversation_id: str) -> list[ActivityEvent]:
    async with session_scope() as s:
        rows = (await s.execute(select(ActivityEvent).order_by(ActivityEvent.id))).scalars().all()
    return [e for e in rows if e.payload.get("conversation_id") == conversation_id]


async def hook_opens(campaign_id: str, call_id: str, to: str, turns: list[dict]) -> str:
    """What the live hook leaves behind mid-call: an open conversation with the turns so far."""
    async with session_scope() as s:
        ws = (await s.execute(select(Campaign.workspace_id).where(Campaign.id == campaign_id))).scalar_one()
        ctx = await open_call(s, ws, CallInfo(call_id=call_id, from_number=OUR_NUMBER, to_number=to,
                                              campaign_id=campaign_id, direction="outbound"))
        await record_turns(s, ctx.conversation_id, [(t["role"], t["content"]) for t in turns])
    return ctx.conversation_id


def near(value: dt.datetime | None, start: dt.datetime, end: dt.datetime, plus: dt.timedelta) -> bool:
    return value is not None and start + plus - dt.timedelta(seconds=1) <= value <= end + plus + dt.timedelta(seconds=1)


# -- refused: 4xx and nothing stored ----------------------------------------------------------

async def test_bad_or_stale_signatures_are_401_and_store_nothing(client, admin, secret):
    cid, people = await voice_campaign(client, admin, contacts=PEOPLE[:1])
    good = report("call-sig", people["Ann"]["contact"]["phone"], campaign_id=cid)
    raw = json.dumps(good).encode()
    before = await snapshot()
    now = int(time.time())
    cases = [
        ("", "signature_missing"),
        ("t=abc,v1=zz", "signature_missing"),
        (sign(raw, "not-the-secret"), "signature_invalid"),
        (sign(raw + b" ", SECRET), "signature_invalid"),  # signed another body
        (sign(raw, SECRET, timestamp=now - 301), "signature_expired"),
        (sign(raw, SECRET, timestamp=now + 400), "signature_expired"),
    ]
    for header, code in cases:
        r = await post(client, raw, header=header)
        assert r.status_code == 401, (header, r.text)
        assert r.headers["content-type"] == "application/problem+json" and r.json()["code"] == code, (header, r.text)
    # Signature first: an unsigned malformed body gets 401, never a validation answer.
    r = await post(client, b'{"call_id": 7', header="")
    assert (r.status_code, r.json()["code"]) == (401, "signature_missing")
    # A Bearer key is no substitute for the signature.
    r = await client.post("/v1/voice/events", json=good, headers=admin)
    assert (r.status_code, r.json()["code"]) == (401, "signature_missing")
    assert await snapshot() == before
    assert (await post(client, good)).status_code == 202  # the same report, signed, is accepted


async def test_without_a_secret_webhooks_are_refused_with_503(client, admin, settings):
    assert settings.webhook_secret is None
    cid, people = await voice_campaign(client, admin, contacts=PEOPLE[:1])
    before = await snapshot()
    r = await post(client, report("call-x", people["Ann"]["contact"]["phone"], campaign_id=cid))
    assert (r.status_code, r.json()["code"]) == (503, "webhooks_disabled")
    assert await snapshot() == before


async def test_unknown_calls_are_404_and_store_nothing(client, admin, secret):
    cid, people = await voice_campaign(client, admin, contacts=PEOPLE[:1])
    phone = people["Ann"]["contact"]["phone"]
    before = await snapshot()
    for body in (report("call-nobody-knows", phone),  # no conversation, no campaign
                 report("call-nobody-knows", phone, campaign_id="cmp_does_not_exist")):
        r = await post(client, body)
        assert r.status_code == 404 and r.json()["code"] == "unknown_call", r.text
    assert await snapshot() == before


async def test_malformed_reports_are_422_naming_the_field_and_store_nothing(client, admin, secret):
    cid, people = await voice_campaign(client, admin, contacts=PEOPLE[:1])
    phone = people["Ann"]["contact"]["phone"]
    ok = report("call-bad", phone, campaign_id=cid)
    cases = [
        ({**ok, "transcript": [TALK[0], {"role": "robot", "content": "beep"}]}, ["body", "transcript", 1, "role"]),
        ({**ok, "transcript": [TALK[0], TALK[1], {"role": "user"}]}, ["body", "transcript", 2, "content"]),
        ({**ok, "transcript": "hello"}, ["body", "transcript"]),
        ({**ok, "answer_status": "voicemail"}, ["body", "answer_status"]),
        ({**ok, "duration_s": -1}, ["body", "duration_s"]),
        ({**ok, "recording_url": "javascript:alert(1)"}, ["body", "recording_url"]),
        ({k: v for k, v in ok.items() if k != "call_id"}, ["body", "call_id"]),
        ({k: v for k, v in ok.items() if k != "from"}, ["body", "from"]),
    ]
    before = await snapshot()
    for body, loc in cases:
        r = await post(client, body)
        assert r.status_code == 422, (loc, r.text)
        assert r.json()["code"] == "validation_error" and loc in [e["loc"] for e in r.json()["errors"]], r.text
    r = await post(client, b"not json at all")
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    assert await snapshot() == before


async def test_an_oversized_report_is_413_and_stores_nothing(client, admin, secret):
    cid, people = await voice_campaign(client, admin, contacts=PEOPLE[:1])
    huge = [{"role": "user", "content": "x" * 20_000}] * 120  # 2.4 MB, over the 2 MB a long call needs
    before = await snapshot()
    r = await post(client, report("call-big", people["Ann"]["contact"]["phone"], campaign_id=cid, transcript=huge))
    assert (r.status_code, r.json()["code"]) == (413, "payload_too_large")
    assert await snapshot() == before


# -- applied ----------------------------------------------------------------------------------

async def test_a_human_conversation_closes_the_call_counts_it_and_waits_for_evaluation(client, admin, secret):
    cid, people = await voice_campaign(client, admin, contacts=PEOPLE[:1], settings=ONE_RETRY)
    ann = people["Ann"]
    conv_id = await hook_opens(cid, "call-ann-1", ann["contact"]["phone"], TALK[:2])  # mid-call: two turns so far
    start = utcnow()
    r = await post(client, report("call-ann-1", ann["contact"]["phone"], recording_url="https://rec.example/a.wav"))
    end = utcnow()
    assert r.status_code == 202 and r.json() == {"conversation_id": conv_id}, r.text

    conv = await conversation(conv_id)
    assert (conv.status, conv.answer_status, conv.duration_s, conv.ended_reason, conv.recording_url) == (
        "closed", "human", 61.5, "customer-ended-call", "https://rec.example/a.wav")
    assert start <= conv.ended_at <= end
    assert conv.evaluate_after == conv.ended_at + dt.timedelta(hours=2)  # the contact completion timeout
    e = await enrollment(ann["id"])
    # "Called": waiting, no substatus, until the call has been evaluated.
    assert (e.status, e.substatus, e.attempts) == ("waiting", None, 1)
    assert e.next_attempt_at == conv.evaluate_after and e.last_attempt_at == conv.ended_at

    r = await client.get(f"/v1/conversations/{conv_id}", headers=admin)
    assert [(t["role"], t["content"]) for t in r.json()["transcript"]] == [(t["role"], t["content"]) for t in TALK]
    kinds = {ev.kind: ev.payload for ev in await events(conv_id)}
    closed = kinds["conversation.closed"]
    assert (closed["answer_status"], closed["turns_recorded"], closed["call_id"]) == ("human", 2, "call-ann-1")
    assert kinds["enrollment.moved"]["from"] == "not_started" and kinds["enrollment.moved"]["to"] == "waiting"


async def test_each_answer_status_moves_the_enrollment_as_the_docs_map_it(client, admin, secret):
    cid, people = await voice_campaign(client, admin, contacts=PEOPLE, settings=ONE_RETRY)  # two attempts in all
    ann, bo, cy, di = (people[n] for n in ("Ann", "Bo", "Cy", "Di"))
    start = utcnow()
    first = {"Ann": ("machine", []), "Bo": ("human", TALK), "Cy": ("rejected", []), "Di": ("human", TALK[:1])}
    ids = {}
    for name, (answer, transcript) in first.items():
        r = await post(client, report(f"call-{name}-1", people[name]["contact"]["phone"], campaign_id=cid,
                                      answer_status=answer, transcript=transcript))
        assert r.status_code == 202, r.text
        ids[name] = r.json()["conversation_id"]
    end = utcnow()
    # The hook never saw these calls: the report opened them, on the right contact.
    for name in first:
        conv = await conversation(ids[name])
        assert (conv.contact_id, conv.enrollment_id, conv.direction, conv.status) == (
            people[name]["contact"]["id"], people[name]["id"], "outbound", "closed")
    state = {n: await enrollment(people[n]["id"]) for n in first}
    # "Retry": machine / rejected, attempts left.
    for name in ("Ann", "Cy"):
        assert (state[name].status, state[name].substatus, state[name].attempts) == ("waiting", "retry", 1)
        assert near(state[name].next_attempt_at, start, end, dt.timedelta(hours=3))
        assert (await conversation(ids[name])).evaluate_after is None  # nothing to judge
    assert (state["Bo"].status, state["Bo"].substatus, state["Bo"].attempts) == ("waiting", None, 1)
    # "No Conversation": a person picked up, but only the assistant spoke.
    assert (state["Di"].status, state["Di"].substatus, state["Di"].attempts) == ("finished", "no_conversation", 1)
    assert (await conversation(ids["Di"])).evaluate_after is None

    # The last attempts. "Failed": no call ever reached Ann. Bo was reached before: the budget ran out.
    for name, answer in (("Ann", "no_answer"), ("Bo", "no_answer")):
        r = await post(client, report(f"call-{name}-2", people[name]["contact"]["phone"], campaign_id=cid,
                                      answer_status=answer, transcript=[]))
        assert r.status_code == 202 and r.json()["conversation_id"] != ids[name]
    a, b = await enrollment(ann["id"]), await enrollment(bo["id"])
    assert (a.status, a.substatus, a.attempts, a.next_attempt_at) == ("finished", "failed", 2, None)
    assert (b.status, b.substatus, b.attempts, b.next_attempt_at) == ("finished", "max_attempts", 2, None)
    # A final enrollment is not moved by a later call; the call itself is still closed.
    r = await post(client, report("call-Di-2", di["contact"]["phone"], campaign_id=cid, answer_status="human"))
    assert (await conversation(r.json()["conversation_id"])).status == "closed"
    d = await enrollment(di["id"])
    assert (d.status, d.substatus, d.attempts) == ("finished", "no_conversation", 1)


async def test_a_repeated_report_changes_nothing(client, admin, secret):
    cid, people = await voice_campaign(client, admin, contacts=PEOPLE[:1], settings=ONE_RETRY)
    phone = people["Ann"]["contact"]["phone"]
    body = report("call-twice", phone, campaign_id=cid)
    first = await post(client, body)
    assert first.status_code == 202
    after_first = await snapshot()
    redeliveries = [
        body,  # the same delivery again (a new timestamp: a new signature)
        {**body, "answer_status": "no_answer", "transcript": [], "duration_s": 3},  # a contradicting one
        {**body, "transcript": TALK + [{"role": "user", "content": "one more thing"}]},  # a longer one
    ]
    for again in redeliveries:
        r = await post(client, again)
        assert r.status_code == 202 and r.json() == first.json(), r.text
    assert await snapshot() == after_first
    assert (await enrollment(people["Ann"]["id"])).attempts == 1


@pytest.mark.parametrize("seen_by_hook", [True, False], ids=["hook-opened", "report-opened"])
async def test_concurrent_duplicate_reports_count_once(client, admin, secret, seen_by_hook):
    cid, people = await voice_campaign(client, admin, contacts=PEOPLE[:1], settings=ONE_RETRY)
    ann = people["Ann"]
    if seen_by_hook:
        await hook_opens(cid, "call-race", ann["contact"]["phone"], TALK[:1])
    body = report("call-race", ann["contact"]["phone"], campaign_id=cid, answer_status="machine",
                  transcript=[{"role": "assistant", "content": "Hi, leaving a message."}])
    answers = await asyncio.gather(*(post(client, body) for _ in range(6)))
    assert [a.status_code for a in answers] == [202] * 6, [a.text for a in answers]
    assert len({a.json()["conversation_id"] for a in answers}) == 1
    conv_id = answers[0].json()["conversation_id"]
    e = await enrollment(ann["id"])
    assert (e.status, e.substatus, e.attempts) == ("waiting", "retry", 1)
    assert [ev.kind for ev in await events(conv_id)] == ["conversation.closed", "enrollment.moved"]
    async with session_scope() as s:
        assert (await s.execute(select(func.count()).select_from(Conversation))).scalar_one() == 1
        assert (await s.execute(select(func.count()).select_from(ConversationTurn))).scalar_one() == 1


async def test_the_executing_voice_outreach_is_sent_and_linked(client, admin, secret):
    cid, people = await voice_campaign(client, admin, contacts=PEOPLE[:1], settings=ONE_RETRY)
    ann = people["Ann"]
    # The executor placed the call: the outreach and the enrollment stay executing while it runs.
    outreach_id = await add_outreach(cid, ann["id"], status="executing", body="Call about the check-up")
    await set_enrollments(Enrollment.id == ann["id"], status="executing")
    r = await post(client, report("call-placed", ann["contact"]["phone"], campaign_id=cid))
    assert r.status_code == 202
    conv = await conversation(r.json()["conversation_id"])
    async with session_scope() as s:
        o = (await s.execute(select(Outreach).where(Outreach.id == outreach_id))).scalar_one()
    assert (o.status, o.provider_message_id, conv.outreach_id) == ("sent", "call-placed", outreach_id)
    assert o.sent_at == conv.started_at
    e = await enrollment(ann["id"])
    assert (e.status, e.substatus, e.attempts) == ("waiting", None, 1)
    sent = [ev for ev in await events(conv.id) if ev.kind == "outreach.sent"]
    assert len(sent) == 1 and sent[0].outreach_id == outreach_id


async def test_an_attempt_the_executor_already_counted_is_not_counted_again(client, admin, secret):
    cid, people = await voice_campaign(client, admin, contacts=PEOPLE[:1], settings=ONE_RETRY)
    ann = people["Ann"]
    conv_id = await hook_opens(cid, "call-counted", ann["contact"]["phone"], [])
    outreach_id = await add_outreach(cid, ann["id"], status="sent", sent_at=utcnow())
    async with session_scope() as s:
        await s.execute(update(Conversation).where(Conversation.id == conv_id).values(outreach_id=outreach_id))
    await set_enrollments(Enrollment.id == ann["id"], status="waiting", substatus="retry", attempts=1)
    r = await post(client, report("call-counted", ann["contact"]["phone"], answer_status="human", transcript=[]))
    assert r.status_code == 202
    e = await enrollment(ann["id"])
    assert (e.status, e.substatus, e.attempts) == ("finished", "no_conversation", 1)


async def test_a_contact_calling_back_counts_no_attempt_and_waits_for_evaluation(client, admin, secret):
    cid, people = await voice_campaign(client, admin, contacts=PEOPLE[:1], settings=ONE_RETRY)
    ann = people["Ann"]
    async with session_scope() as s:
        s.add(CallerNumber(id=new_id("num"), campaign_id=cid, number=OUR_NUMBER))
    start = utcnow()
    r = await post(client, report("call-back", OUR_NUMBER, frm=ann["contact"]["phone"], campaign_id=cid))
    assert r.status_code == 202, r.text
    conv = await conversation(r.json()["conversation_id"])
    assert (conv.direction, conv.contact_id, conv.enrollment_id) == ("inbound", ann["contact"]["id"], ann["id"])
    e = await enrollment(ann["id"])
    assert (e.status, e.substatus, e.attempts, e.last_attempt_at) == ("waiting", None, 0, None)
    assert e.next_attempt_at == conv.evaluate_after
    assert near(conv.evaluate_after, start, utcnow(), dt.timedelta(hours=2))
