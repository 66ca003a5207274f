"""The demo's second campaign: two weeks of history, so every page has real figures on first start.

Emails sent, delivered and bounced, texts, replies read as interested or as a question, calls
answered by people and machines with their transcripts, evaluations with goal results and
analysis answers, and one result a person corrected. Rows are written in the states the
services leave them in (sent outreaches, applied inbound messages, closed and evaluated calls),
in manual execution mode so nothing plans or sends on its own. Times are fixed offsets before
the first start, spread over weekdays and hours in New York so the heatmap has a shape.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity
from agent.campaigns import service as campaigns
from agent.campaigns.schemas import CampaignCreate
from agent.contacts.normalize import ContactInput
from agent.contacts.service import add_contacts
from agent.db import utcnow
from agent.ids import new_id
from agent.lifecycle import campaigns as lifecycle
from agent.models import (Analysis, AnalysisAnswer, Contact, Conversation, ConversationTurn, Enrollment, Evaluation, Goal,
                          GoalResult, InboundMessage, Outreach)
from agent.lifecycle.enrollments import seed_story
from agent.states import CampaignAction, EnrollmentStatus, Substatus

NAME = "Flu shot clinic days"
BRIEF = ("Invite patients to a walk-in flu shot clinic day at their clinic this month and offer to book a time. "
         "Mention their clinic, keep it friendly, and answer questions about cost (covered by most plans).")

# first, last, email, phone, clinic, what happened
_PEOPLE = [
    ("Elena", "Rossi", "elena.rossi@example.com", "+1 212 555 0121", "Midtown", "replied_interested"),
    ("Daniel", "Kim", "daniel.kim@example.com", "+1 312 555 0122", "Loop", "call_booked"),
    ("Fatima", "Zahra", "fatima.zahra@example.com", "+1 415 555 0123", "Mission", "call_corrected"),
    ("George", "Hill", "george.hill.old@example.com", "+1 720 555 0124", "Denver", "bounced"),
    ("Hana", "Suzuki", "hana.suzuki@example.com", "+1 617 555 0125", "Back Bay", "replied_question"),
    ("Ivan", "Petrov", "ivan.petrov@example.com", "+1 713 555 0126", "Heights", "call_machine"),
    ("Julia", "Costa", "julia.costa@example.com", "+1 206 555 0127", "Capitol Hill", "delivered"),
    ("Kofi", "Mensah", "kofi.mensah@example.com", "+1 305 555 0128", "Brickell", "call_no_answer"),
    ("Lena", "Fischer", "lena.fischer@example.com", "+1 404 555 0129", "Midtown", "sms_delivered"),
    ("Marco", "Bianchi", "marco.bianchi@example.com", "+1 503 555 0130", "Pearl", "not_started"),
]

_TRANSCRIPTS = {
    "call_booked": [("assistant", "Hi Daniel, this is the Loop clinic calling about our flu shot day. Do you have a minute?"),
                    ("user", "Sure, what's it about?"),
                    ("assistant", "We run a walk-in flu shot day on the 14th. Would you like me to book you a time?"),
                    ("user", "Yes, Thursday morning works, around 9."),
                    ("assistant", "Done: Thursday at 9:00 at the Loop clinic. Your phone and email are still current?"),
                    ("user", "Yes, both are the same. Thanks!")],
    "call_corrected": [("assistant", "Hi Fatima, calling from the Mission clinic about the flu shot day."),
                       ("user", "Oh, I might come, but I need to check my shifts first."),
                       ("assistant", "Of course. Shall I pencil you in for Saturday at 11 and you confirm by text?"),
                       ("user", "OK, pencil me in, I'll text to confirm.")],
}


def _at(days_ago: int, hour: int, minute: int = 0) -> dt.datetime:
    """A fixed time ``days_ago`` before now, at ``hour`` New York time (EST/EDT ignored: a demo)."""
    day = (utcnow() - dt.timedelta(days=days_ago)).replace(hour=0, minute=0, second=0, microsecond=0)
    return day + dt.timedelta(hours=hour + 5, minutes=minute)


def _outreach(ws: str, cid: str, enrollment: Enrollment, channel: Any, *, step: int, status: str, sent_at: dt.datetime,
              subject: str | None, body: str, approver: str) -> Outreach:
    oid = new_id("out")
    return Outreach(id=oid, workspace_id=ws, campaign_id=cid, enrollment_id=enrollment.id, channel_id=channel.id,
                    channel=channel.kind, step=step, status=status, scheduled_at=sent_at, sent_at=sent_at,
                    subject=subject, body=body, rationale="Demo history.", model="overture/offline",
                    idempotency_key=oid, approved_by=approver, approved_at=sent_at - dt.timedelta(hours=2))


async def seed_history(session: AsyncSession, workspace_id: str, key_id: str) -> str:
    campaign = await campaigns.create(session, workspace_id, CampaignCreate(
        name=NAME, type="follow_up", execution_mode="manual", manual_review=True, timezone="America/New_York",
        channels=[{"kind": "email", "from_address": "care@clinic.example"}, {"kind": "sms"}, {"kind": "voice"}],
        brief=BRIEF, ai_variables={"clinic_name": "Riverside Health"}), key_id)
    booked = Goal(id=new_id("goal"), campaign_id=campaign.id, name="Flu shot booked", is_primary=True,
                  description="The patient agreed to a time at the flu shot clinic day.")
    details = Goal(id=new_id("goal"), campaign_id=campaign.id, name="Contact details confirmed",
                   description="The patient confirmed their phone and email are current.")
    when = Analysis(id=new_id("ana"), campaign_id=campaign.id, name="Preferred time of day", type="single_choice",
                    options=["morning", "afternoon", "evening"])
    session.add_all([booked, details, when])
    await add_contacts(session, campaign, [ContactInput(first_name=f, last_name=l, email=e, phone=p,
                                                        properties={"clinic": c})
                                           for f, l, e, p, c, _ in _PEOPLE], actor=key_id, source="manual")
    await lifecycle.campaign_action(session, campaign, CampaignAction.go_live, key_id)
    channels = {c.kind: c for c in await campaigns.channels_of(session, campaign.id)}
    rows = (await session.execute(select(Enrollment, Contact.email).join(Contact, Contact.id == Enrollment.contact_id)
                                  .where(Enrollment.campaign_id == campaign.id))).all()
    by_email = {email: e for e, email in rows}
    ws, cid = workspace_id, campaign.id
    for i, (first, _last, email, _phone, clinic, story) in enumerate(_PEOPLE):
        e = by_email[email]
        await _story(session, ws, cid, e, first, clinic, story, i, channels, key_id, (booked, details, when))
    activity.record(session, workspace_id=ws, actor=key_id, kind="demo.seeded", campaign_id=cid,
                    payload={"history": True})
    return cid


async def _story(session: AsyncSession, ws: str, cid: str, e: Any, first: str, clinic: str, story: str, i: int,
                 channels: dict[str, Any], key_id: str, defs: tuple[Goal, Goal, Analysis]) -> None:
    if story == "not_started":
        return
    sent = _at(12 - i, 9 + i % 6, 15 * (i % 4))
    subject = f"{first}, a flu shot day at {clinic}"
    email_body = (f"Hi {first},\n\nWe'd love to invite you to a walk-in flu shot clinic day at our {clinic} clinic "
                  "this month. It is covered by most plans.\n\nWould you like us to book a time for you? Just reply "
                  "to this email.\n\nBest regards,\nRiverside Health")
    status = {"bounced": "sent", "sms_delivered": "delivered"}.get(story, "delivered")
    first_touch = (_outreach(ws, cid, e, channels["sms"], step=1, status=status, sent_at=sent, subject=None,
                             body=f"Hi {first}, flu shots at {clinic} this month, covered by most plans. Reply YES "
                                  "to book a time. Reply STOP to opt out.", approver=key_id)
                   if story == "sms_delivered" else
                   _outreach(ws, cid, e, channels["email"], step=1, status=status, sent_at=sent, subject=subject,
                             body=email_body, approver=key_id))
    session.add(first_touch)
    await session.flush()
    attempts, enrollment_status, substatus = 1, "waiting", "scheduled"
    last = sent
    if story == "bounced":
        session.add(_inbound(ws, e, first_touch, "email", "bounce", sent + dt.timedelta(minutes=3),
                             text="550 5.1.1 The email account that you tried to reach does not exist."))
        enrollment_status, substatus = "finished", "bounced"
    elif story.startswith("replied"):
        interested = story == "replied_interested"
        text = ("Yes please, I'd like a morning slot if you have one." if interested
                else "Is it really free? My plan is a bit unusual.")
        session.add(_inbound(ws, e, first_touch, "email", "reply", sent + dt.timedelta(hours=3), text=text,
                             intent="interested" if interested else "question"))
        enrollment_status, substatus = "replied", None
    elif story.startswith("call"):
        call_at = _at(6 - i % 5, 10 + (i * 3) % 7, 30 * (i % 2))
        call = _outreach(ws, cid, e, channels["voice"], step=2, status="delivered", sent_at=call_at, subject=None,
                         body=f"Call {first} about the flu shot day at {clinic}; offer to book a time.", approver=key_id)
        session.add(call)
        await session.flush()
        await _call(session, ws, cid, e, call, story, call_at, key_id, defs)
        attempts, last = 2, call_at
        if story == "call_booked":
            enrollment_status, substatus = "completed", None
        elif story == "call_no_answer":
            enrollment_status, substatus = "waiting", "retry"
    status = EnrollmentStatus(enrollment_status)
    await seed_story(session, e.id, status=status, substatus=Substatus(substatus) if substatus else None,
                     attempts=attempts, last_attempt_at=last,
                     next_attempt_at=last + dt.timedelta(days=2) if status == EnrollmentStatus.waiting else None)
    activity.record(session, workspace_id=ws, actor=activity.SYSTEM, kind="outreach.sent", campaign_id=cid,
                    contact_id=e.contact_id, enrollment_id=e.id, outreach_id=first_touch.id,
                    payload={"channel": first_touch.channel, "demo": True})


def _inbound(ws: str, e: Any, outreach: Outreach, channel: str, kind: str, at: dt.datetime, *, text: str,
             intent: str | None = None) -> InboundMessage:
    return InboundMessage(id=new_id("inb"), workspace_id=ws, channel=channel, provider="demo",
                          external_id=new_id("demo"), kind=kind, status="applied", intent=intent, text=text,
                          bounce_type="hard" if kind == "bounce" else None, outreach_id=outreach.id,
                          enrollment_id=e.id, contact_id=e.contact_id, received_at=at, created_at=at, detail={})


async def _call(session: AsyncSession, ws: str, cid: str, e: Any, call: Outreach, story: str, at: dt.datetime,
                key_id: str, defs: tuple[Goal, Goal, Analysis]) -> None:
    booked, details, when = defs
    answer = {"call_machine": "machine", "call_no_answer": "no_answer"}.get(story, "human")
    turns = _TRANSCRIPTS.get(story, [])
    duration = 30.0 * len(turns) + 12 if answer == "human" else 8.0 if answer == "machine" else None
    conv = Conversation(id=new_id("cnv"), workspace_id=ws, campaign_id=cid, enrollment_id=e.id,
                        contact_id=e.contact_id, outreach_id=call.id, external_id=new_id("call"), channel="voice",
                        direction="outbound", status="closed", answer_status=answer, duration_s=duration,
                        ended_reason="hangup" if answer == "human" else answer, started_at=at,
                        ended_at=at + dt.timedelta(seconds=duration or 25), evaluated_at=at + dt.timedelta(minutes=5))
    session.add(conv)
    await session.flush()
    for seq, (role, content) in enumerate(turns, start=1):
        session.add(ConversationTurn(id=new_id("turn"), conversation_id=conv.id, seq=seq, role=role, content=content))
    if answer != "human":
        return
    ev = Evaluation(id=new_id("evl"), conversation_id=conv.id, status="succeeded", model="overture/offline",
                    is_current=True)
    session.add(ev)
    await session.flush()
    if story == "call_booked":
        results = [(booked, "achieved", 95, None), (details, "achieved", 90, None)]
        preferred = "morning"
    else:  # the model read a pencilled-in slot as booked; a person corrected it to partially
        results = [(booked, "achieved", 70, "partially_achieved"), (details, "unknown", None, None)]
        preferred = "afternoon"
    for goal, result, score, corrected in results:
        session.add(GoalResult(id=new_id("gr"), evaluation_id=ev.id, conversation_id=conv.id, goal_id=goal.id,
                               result=result, score=score, reason="Demo evaluation.",
                               evidence=turns[-1][1] if turns else None, corrected_result=corrected,
                               corrected_by=key_id if corrected else None,
                               corrected_at=at + dt.timedelta(hours=1) if corrected else None))
    session.add(AnalysisAnswer(id=new_id("aa"), evaluation_id=ev.id, conversation_id=conv.id, analysis_id=when.id,
                               value=preferred, reason="Demo evaluation."))
