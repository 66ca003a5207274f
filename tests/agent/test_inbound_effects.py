"""The inbound core: each effect of a reply, opt-out, bounce, auto-reply and receipt, applied once."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from agent.db import session_scope, utcnow
from agent.inbound import effects
from agent.inbound.intent import offline_intent
from agent.inbound.store import record_inbound
from agent.models import Conversation, Enrollment, InboundMessage, Outreach, Suppression
from agent.states import BounceType, InboundKind, InboundStatus, ReplyIntent
from tests.builders import add_outreach, count, enrollment_row, outreach_row, set_enrollments, turns
from tests.conftest import drain_queue
from tests.flows import enrollments, live_campaign, people


async def _sent_and_next(client, admin, cid: str) -> dict[str, tuple[str, str, str]]:
    """Per first name: (enrollment id, a sent email, the next step's draft in review)."""
    out = {}
    for name, item in (await enrollments(client, admin, cid)).items():
        eid = item["id"]
        await set_enrollments(Enrollment.id == eid, status="waiting")
        sent = await add_outreach(cid, eid, status="sent", channel="email", body="Join our webinar on Friday.",
                                  subject="Webinar", sent_at=utcnow() - dt.timedelta(hours=2))
        draft = await add_outreach(cid, eid, status="awaiting_approval", channel="email", body="A reminder", step=2)
        out[name] = (eid, sent, draft)
    return out


async def _message(kind: InboundKind, external_id: str, **fields) -> InboundMessage:
    async with session_scope() as s:
        row, created = await record_inbound(s, channel="email", provider="test", external_id=external_id, kind=kind,
                                            **fields)
        assert created
        return row


async def test_a_reply_stops_the_sequence_and_opens_the_thread_once(client, admin):
    cid = await live_campaign(client, admin, contacts=people(2))
    rows = await _sent_and_next(client, admin, cid)
    eid, sent, draft = rows["Ann"]
    async with session_scope() as s:
        message, created = await record_inbound(s, channel="email", provider="smtp", external_id="<r1@mail>",
                                                kind=InboundKind.reply, raw=b"raw bytes")
        await effects.apply_reply(s, message, await s.get(Outreach, sent), text="Sounds good, let's talk on Tuesday")
    async with session_scope() as s:  # the same delivery again: found, nothing applied
        again, created = await record_inbound(s, channel="email", provider="smtp", external_id="<r1@mail>",
                                              kind=InboundKind.reply)
        assert not created and again.id == message.id and again.status == InboundStatus.applied
    assert (await enrollment_row(eid)).status == "replied"
    assert (await outreach_row(draft)).status == "cancelled"
    other_eid, _, other_draft = rows["Bo"]
    assert (await enrollment_row(other_eid)).status == "waiting" and (await outreach_row(other_draft)).status == \
        "awaiting_approval"
    async with session_scope() as s:
        conv = (await s.execute(select(Conversation).where(Conversation.enrollment_id == eid))).scalar_one()
        stored = await s.get(InboundMessage, message.id)
    assert conv.channel == "email" and conv.status == "closed" and conv.evaluate_after > utcnow()
    assert await turns(conv.id) == [("assistant", "Subject: Webinar\n\nJoin our webinar on Friday."),
                                    ("user", "Sounds good, let's talk on Tuesday")]
    assert (stored.enrollment_id, stored.contact_id, stored.conversation_id) == (eid, conv.contact_id, conv.id)
    await drain_queue()
    async with session_scope() as s:
        assert (await s.get(InboundMessage, message.id)).intent == ReplyIntent.interested
    # A second reply joins the same thread.
    second = await _message(InboundKind.reply, "<r2@mail>")
    async with session_scope() as s:
        await effects.apply_reply(s, await s.get(InboundMessage, second.id), await s.get(Outreach, sent),
                                  text="Also, can my colleague join?", intent=ReplyIntent.question)
    assert await count(Conversation, enrollment_id=eid) == 1
    assert [t[0] for t in await turns(conv.id)] == ["assistant", "user", "user"]


async def test_an_opt_out_finishes_the_contact_in_every_campaign_and_voids_their_drafts(client, admin):
    contact = people(1)[0]
    first = await live_campaign(client, admin, contacts=[contact])
    second = await live_campaign(client, admin, contacts=[contact, *people(2, domain="example.org")[1:]])
    a, b = (await _sent_and_next(client, admin, first)), (await _sent_and_next(client, admin, second))
    async with session_scope() as s:
        ws = (await s.get(Outreach, a["Ann"][1])).workspace_id
        result = await effects.apply_opt_out(s, ws, email=contact["email"].upper(), channel="email",
                                             source="reply to Webinar")
    assert (result.suppression_created, result.enrollments_finished, result.outreaches_cancelled) == (True, 2, 2)
    for eid, _, draft in (a["Ann"], b["Ann"]):
        row = await enrollment_row(eid)
        assert (row.status, row.substatus) == ("finished", "opted_out")
        assert (await outreach_row(draft)).status == "cancelled"
    assert (await enrollment_row(b["Bo"][0])).status == "waiting"
    async with session_scope() as s:
        again = await effects.apply_opt_out(s, ws, email=contact["email"], channel="email", source="again")
    assert (again.suppression_created, again.enrollments_finished) == (False, 0)
    assert await count(Suppression, email_key=contact["email"].lower()) == 1


async def test_opt_in_lifts_only_the_opt_out_entry_of_that_channel(client, admin):
    cid = await live_campaign(client, admin, contacts=people(1))
    rows = await _sent_and_next(client, admin, cid)
    async with session_scope() as s:
        ws = (await s.get(Outreach, rows["Ann"][1])).workspace_id
        await effects.apply_opt_out(s, ws, phone="+12025550123", channel="sms", source="STOP")
        await effects.apply_opt_out(s, ws, phone="+12025550123", channel="voice", source="call")
    async with session_scope() as s:
        assert await effects.apply_opt_in(s, ws, phone="(202) 555-0123", channel="sms", source="START") == 1
    assert [r.channel for r in await _suppressions()] == ["voice"]


async def _suppressions() -> list[Suppression]:
    async with session_scope() as s:
        return list((await s.execute(select(Suppression))).scalars())


async def test_bounces_by_kind(client, admin):
    cid = await live_campaign(client, admin, contacts=people(3))
    rows = await _sent_and_next(client, admin, cid)
    cases = {"Ann": (BounceType.hard, ("finished", "bounced"), 1), "Bo": (BounceType.blocked, ("finished", "blocked"), 0),
             "Cy": (BounceType.soft, ("waiting", None), 0)}
    for name, (kind, _, _) in cases.items():
        message = await _message(InboundKind.bounce, f"<b-{name}@mx>")
        async with session_scope() as s:
            await effects.apply_bounce(s, await s.get(InboundMessage, message.id), await s.get(Outreach, rows[name][1]),
                                       bounce_type=kind, recipient=f"{name.lower()}@example.com", status_code="5.1.1")
    for name, (_, expected, suppressed) in cases.items():
        eid, sent, draft = rows[name]
        row = await enrollment_row(eid)
        assert (row.status, row.substatus) == expected, name
        assert (await outreach_row(sent)).status == "failed"
        assert (await outreach_row(draft)).status == ("awaiting_approval" if expected[0] == "waiting" else "cancelled")
        assert await count(Suppression, email_key=f"{name.lower()}@example.com") == suppressed, name


async def test_an_auto_reply_finishes_out_of_office(client, admin):
    cid = await live_campaign(client, admin, contacts=people(1))
    eid, sent, draft = (await _sent_and_next(client, admin, cid))["Ann"]
    message = await _message(InboundKind.auto_reply, "<ooo@mx>")
    async with session_scope() as s:
        await effects.apply_auto_reply(s, await s.get(InboundMessage, message.id), await s.get(Outreach, sent))
    row = await enrollment_row(eid)
    assert (row.status, row.substatus) == ("finished", "out_of_office")
    assert (await outreach_row(draft)).status == "cancelled"


async def test_receipts_only_move_forward(client, admin):
    cid = await live_campaign(client, admin, contacts=people(1))
    _, sent, _ = (await _sent_and_next(client, admin, cid))["Ann"]
    results = []
    for external_id, delivered in (("SM1:delivered", True), ("SM1:sent", True), ("SM1:undelivered", False)):
        message = await _message(InboundKind.receipt, external_id)
        async with session_scope() as s:
            results.append(await effects.apply_receipt(s, await s.get(InboundMessage, message.id),
                                                       await s.get(Outreach, sent), delivered=delivered,
                                                       error_code=None if delivered else "30003"))
    assert results == [True, False, True]
    row = await outreach_row(sent)
    assert row.status == "failed" and "30003" in row.error


def test_the_offline_intent_answers_only_from_clear_keywords():
    assert offline_intent("Please remove me from this list") == ReplyIntent.unsubscribe
    assert offline_intent("Not interested, thanks") == ReplyIntent.not_interested
    assert offline_intent("Yes please, book me in for Thursday") == ReplyIntent.interested
    assert offline_intent("How much does it cost?") == ReplyIntent.question
    assert offline_intent("Thanks for the note.") == ReplyIntent.unknown
