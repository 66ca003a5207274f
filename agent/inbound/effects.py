"""Applying what came back to the campaign, inside the caller's transaction.

Every door (email endpoint and receiver, Twilio's webhooks, the unsubscribe page, a call's end)
parses and matches, keeps the delivery with ``store.record_inbound``, then calls one function
here. Each fills the message's links (workspace, outreach, enrollment, contact), marks it
``applied`` and writes an activity event; the enrollment moves go through
``agent.lifecycle.enrollments`` (a contact already final stays as they are), and whatever was
still to go out to a contact who answered, left or cannot be reached is voided (``cancelled``),
so nothing drafted before the answer is sent after it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity, queue
from agent.campaigns.schemas import CampaignSettings
from agent.db import utcnow
from agent.ids import new_id
from agent.lifecycle.enrollments import move_enrollment
from agent.lifecycle.outreaches import move_outreach, move_outreaches
from agent.models import (Campaign, Contact, Conversation, ConversationTurn, Enrollment, InboundMessage, Outreach,
                          Suppression)
from agent.states import (OUTREACH_SENT, BounceType, ConversationStatus, EnrollmentAction, InboundStatus,
                          OutreachAction, ReplyIntent, Substatus)
from agent.suppressions import service as suppressions
from agent.suppressions.schemas import SuppressionChannel, SuppressionIn

OPT_OUT_REASON = "opted_out"
HARD_BOUNCE_REASON = "hard_bounce"
INTENT_ACTOR = "inbound.classify_intent"


@dataclass(frozen=True, slots=True)
class OptOutResult:
    suppression_id: str
    suppression_created: bool
    enrollments_finished: int
    outreaches_cancelled: int


def _attach(message: InboundMessage | None, outreach: Outreach | None, enrollment: Enrollment | None) -> None:
    if message is None:
        return
    if outreach is not None:
        message.workspace_id, message.outreach_id = outreach.workspace_id, outreach.id
        message.enrollment_id = outreach.enrollment_id
    if enrollment is not None:
        message.workspace_id, message.enrollment_id = enrollment.workspace_id, enrollment.id
        message.contact_id = enrollment.contact_id
    message.status = InboundStatus.applied


def _event(session: AsyncSession, kind: str, enrollment: Enrollment, *, outreach_id: str | None,
           message: InboundMessage | None, **payload: object) -> None:
    activity.record(session, workspace_id=enrollment.workspace_id, actor=activity.SYSTEM, kind=kind,
                    campaign_id=enrollment.campaign_id, contact_id=enrollment.contact_id,
                    enrollment_id=enrollment.id, outreach_id=outreach_id,
                    payload={"inbound_message_id": message.id if message else None, **payload})


async def cancel_upcoming(session: AsyncSession, enrollment_ids: list[str], reason: str) -> int:
    """Void every draft and approved send of these enrollments (review, approved, queued)."""
    if not enrollment_ids:
        return 0
    rows = await move_outreaches(session, OutreachAction.cancel, Outreach.enrollment_id.in_(enrollment_ids),
                                 values={"error": reason})
    ids = {row.enrollment_id for row in rows}
    enrollments = {e.id: e for e in (await session.execute(
        select(Enrollment).where(Enrollment.id.in_(ids)))).scalars()} if ids else {}
    for row in rows:
        _event(session, "outreach.cancelled", enrollments[row.enrollment_id], outreach_id=row.id, message=None,
               reason=reason)
    return len(rows)


async def _enrollment(session: AsyncSession, outreach: Outreach) -> Enrollment:
    return await session.get(Enrollment, outreach.enrollment_id, populate_existing=True)  # type: ignore[return-value]


async def _settings(session: AsyncSession, campaign_id: str) -> tuple[str, CampaignSettings]:
    campaign = await session.get(Campaign, campaign_id)
    return (campaign.name if campaign else "",
            CampaignSettings.model_validate(campaign.settings or {}) if campaign else CampaignSettings())


# --- replies ---------------------------------------------------------------------------------

def thread_key(enrollment_id: str, channel: str) -> str:
    """The thread's ``external_id``: one conversation per contact, campaign and channel."""
    return f"thread:{enrollment_id}:{channel}"


async def _thread(session: AsyncSession, enrollment: Enrollment, outreach: Outreach, now: dt.datetime) -> Conversation:
    key = thread_key(enrollment.id, outreach.channel)
    conv = (await session.execute(select(Conversation).where(
        Conversation.workspace_id == enrollment.workspace_id, Conversation.external_id == key))).scalar_one_or_none()
    if conv is not None:
        return conv
    sent = (await session.execute(select(Outreach).where(
        Outreach.enrollment_id == enrollment.id, Outreach.channel == outreach.channel,
        Outreach.status.in_(OUTREACH_SENT)).order_by(Outreach.sent_at, Outreach.id))).scalars().all()
    contact = await session.get(Contact, enrollment.contact_id)
    conv = Conversation(id=new_id("conv"), workspace_id=enrollment.workspace_id, campaign_id=enrollment.campaign_id,
                        enrollment_id=enrollment.id, contact_id=enrollment.contact_id, outreach_id=outreach.id,
                        external_id=key, channel=outreach.channel, direction="outbound",
                        status=ConversationStatus.closed,
                        to_number=contact.phone if contact is not None and outreach.channel == "sms" else None,
                        started_at=sent[0].sent_at if sent and sent[0].sent_at else now)
    session.add(conv)
    await session.flush()
    session.add_all([ConversationTurn(id=new_id("turn"), conversation_id=conv.id, seq=i, role="assistant",
                                      content=_our_text(o), created_at=o.sent_at or now) for i, o in enumerate(sent)])
    return conv


def _our_text(outreach: Outreach) -> str:
    return f"Subject: {outreach.subject}\n\n{outreach.body}" if outreach.subject else outreach.body


async def apply_reply(session: AsyncSession, message: InboundMessage, outreach: Outreach, *, text: str,
                      intent: ReplyIntent | None = None) -> Conversation:
    """A person answered ``outreach``: the enrollment is ``replied`` (its sequence stops and its
    upcoming outreaches are voided), and the reply is the newest turn of the contact's thread on
    that channel, which the evaluators judge once it has been quiet for the campaign's contact
    completion timeout. The intent is read after the commit (``inbound.classify_intent``) unless
    given, so no model call holds the transaction open."""
    now = utcnow()
    enrollment = await _enrollment(session, outreach)
    _, settings = await _settings(session, enrollment.campaign_id)
    conv = await _thread(session, enrollment, outreach, now)
    seq = (await session.execute(select(func.coalesce(func.max(ConversationTurn.seq), -1)).where(
        ConversationTurn.conversation_id == conv.id))).scalar_one() + 1
    session.add(ConversationTurn(id=new_id("turn"), conversation_id=conv.id, seq=seq, role="user", content=text,
                                 created_at=message.received_at or now))
    # Quiet for the timeout since the latest reply: then judged, once.
    conv.status, conv.ended_at = ConversationStatus.closed, now
    conv.evaluate_after = now + dt.timedelta(seconds=settings.contact_completion_timeout.seconds)
    _attach(message, outreach, enrollment)
    message.text, message.conversation_id, message.intent = text, conv.id, intent
    moved = await move_enrollment(session, enrollment, EnrollmentAction.reply, outreach_id=outreach.id,
                                  payload={"inbound_message_id": message.id, "channel": outreach.channel})
    cancelled = await cancel_upcoming(session, [enrollment.id], "contact replied")
    _event(session, "inbound.reply", enrollment, outreach_id=outreach.id, message=message, channel=outreach.channel,
           conversation_id=conv.id, moved=moved is not None, outreaches_cancelled=cancelled)
    await session.flush()
    if intent is None:
        queue.enqueue(session, INTENT_ACTOR, message_id=message.id)
    return conv


# --- opt-outs --------------------------------------------------------------------------------

async def _contacts_with(session: AsyncSession, workspace_id: str, phone: str | None,
                         email_key: str | None) -> list[str]:
    match = [c for c in (Contact.phone == phone if phone else None,
                         Contact.email_key == email_key if email_key else None) if c is not None]
    return list((await session.execute(select(Contact.id).where(
        Contact.workspace_id == workspace_id, or_(*match)))).scalars())


async def apply_opt_out(session: AsyncSession, workspace_id: str, *, email: str | None = None,
                        phone: str | None = None, channel: str = "all", reason: str = OPT_OUT_REASON,
                        source: str, message: InboundMessage | None = None,
                        actor: str = activity.SYSTEM) -> OptOutResult:
    """The address is suppressed on ``channel`` (an entry already there is kept), and every
    contact with it, in every campaign of the workspace, is ``finished/opted_out`` with their
    drafts and approved sends voided. ValidationFailed for an address that is not one."""
    row, created = await suppressions.add(session, workspace_id, SuppressionIn(
        phone=phone, email=email, channel=SuppressionChannel(channel), reason=reason, source=source[:200]), actor)
    contact_ids = await _contacts_with(session, workspace_id, row.phone, row.email_key)
    enrollments = (await session.execute(select(Enrollment).where(
        Enrollment.workspace_id == workspace_id, Enrollment.contact_id.in_(contact_ids)))).scalars().all() \
        if contact_ids else []
    finished = 0
    for enrollment in enrollments:
        moved = await move_enrollment(session, enrollment, EnrollmentAction.opt_out, substatus=Substatus.opted_out,
                                      actor=actor, payload={"suppression_id": row.id, "source": source[:200]})
        finished += moved is not None
    cancelled = await cancel_upcoming(session, [e.id for e in enrollments], "contact opted out")
    if message is not None:
        message.workspace_id, message.status = workspace_id, InboundStatus.applied
        message.contact_id = message.contact_id or (contact_ids[0] if contact_ids else None)
    activity.record(session, workspace_id=workspace_id, actor=actor, kind="inbound.opt_out", payload={
        "inbound_message_id": message.id if message else None, "suppression_id": row.id, "channel": channel,
        "source": source[:200], "enrollments_finished": finished, "outreaches_cancelled": cancelled})
    return OptOutResult(row.id, created, finished, cancelled)


async def apply_opt_in(session: AsyncSession, workspace_id: str, *, phone: str, channel: str = "sms",
                       source: str, message: InboundMessage | None = None) -> int:
    """START/UNSTOP: the number's opt-out entries on that channel are lifted (a do-not-call entry
    added by a person, or a bounce, stays); enrollments stay where they are. How many were lifted."""
    stored, _ = await suppressions.keys(session, workspace_id, phone, None)
    result = await session.execute(delete(Suppression).where(
        Suppression.workspace_id == workspace_id, Suppression.phone == stored, Suppression.channel == channel,
        Suppression.reason == OPT_OUT_REASON).execution_options(synchronize_session=False))
    lifted = int(result.rowcount or 0)
    if message is not None:
        message.workspace_id, message.status = workspace_id, InboundStatus.applied
    activity.record(session, workspace_id=workspace_id, actor=activity.SYSTEM, kind="inbound.opt_in", payload={
        "inbound_message_id": message.id if message else None, "phone": stored, "channel": channel,
        "source": source[:200], "suppressions_lifted": lifted})
    return lifted


# --- bounces, auto-replies, receipts ---------------------------------------------------------

async def apply_bounce(session: AsyncSession, message: InboundMessage, outreach: Outreach, *,
                       bounce_type: BounceType, recipient: str | None, status_code: str | None = None,
                       diagnostic: str | None = None) -> None:
    """The outreach did not arrive: it is ``failed``. A hard bounce suppresses the address for
    email and finishes the enrollment ``bounced``; a policy block finishes it ``blocked`` (the
    address is fine, our mail is not taken); a soft bounce is recorded and the sequence goes on."""
    enrollment = await _enrollment(session, outreach)
    _attach(message, outreach, enrollment)
    message.bounce_type = bounce_type
    error = f"bounced ({bounce_type.value}{', ' + status_code if status_code else ''}): {diagnostic or ''}".strip()
    await move_outreach(session, outreach.id, OutreachAction.undeliver, values={"error": error[:2000]})
    moved = None
    if bounce_type in (BounceType.hard, BounceType.blocked):
        if bounce_type == BounceType.hard:
            contact = await session.get(Contact, enrollment.contact_id)
            address = recipient or (contact.email if contact else None)
            if address:
                await suppressions.add(session, enrollment.workspace_id, SuppressionIn(
                    email=address, channel=SuppressionChannel.email, reason=HARD_BOUNCE_REASON,
                    source=f"bounce {status_code or ''}".strip()), activity.SYSTEM)
        substatus = Substatus.bounced if bounce_type == BounceType.hard else Substatus.blocked
        moved = await move_enrollment(session, enrollment, EnrollmentAction.bounce, substatus=substatus,
                                      outreach_id=outreach.id, payload={"inbound_message_id": message.id})
        await cancel_upcoming(session, [enrollment.id], f"address {substatus.value}")
    _event(session, "inbound.bounce", enrollment, outreach_id=outreach.id, message=message,
           bounce_type=bounce_type.value, recipient=recipient, status_code=status_code,
           diagnostic=(diagnostic or "")[:500], moved=moved is not None)


async def apply_auto_reply(session: AsyncSession, message: InboundMessage, outreach: Outreach) -> None:
    """An out-of-office or other automatic answer: the enrollment is ``finished/out_of_office``."""
    enrollment = await _enrollment(session, outreach)
    _attach(message, outreach, enrollment)
    moved = await move_enrollment(session, enrollment, EnrollmentAction.auto_reply, substatus=Substatus.out_of_office,
                                  outreach_id=outreach.id, payload={"inbound_message_id": message.id})
    if moved is not None:
        await cancel_upcoming(session, [enrollment.id], "contact out of office")
    _event(session, "inbound.auto_reply", enrollment, outreach_id=outreach.id, message=message,
           moved=moved is not None)


async def apply_receipt(session: AsyncSession, message: InboundMessage, outreach: Outreach, *, delivered: bool,
                        error_code: str | None = None) -> bool:
    """A provider's delivery status: ``delivered`` or ``failed``, forward only (a late ``sent``
    after ``delivered`` is never applied, and a receipt for a final outreach changes nothing).
    Whether the outreach moved."""
    enrollment = await _enrollment(session, outreach)
    _attach(message, outreach, enrollment)
    action = OutreachAction.deliver if delivered else OutreachAction.undeliver
    values = {} if delivered else {"error": f"not delivered{' (error ' + error_code + ')' if error_code else ''}"}
    moved = await move_outreach(session, outreach.id, action, values=values) is not None
    if not moved:
        message.status = InboundStatus.ignored
    _event(session, "outreach.delivered" if delivered else "outreach.undelivered", enrollment,
           outreach_id=outreach.id, message=message, applied=moved, error_code=error_code)
    return moved
