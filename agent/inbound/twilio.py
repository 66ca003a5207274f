"""Twilio's webhooks applied: an incoming text (reply, STOP, START) and a message status callback.

Each delivery is recorded once through ``record_inbound`` (channel ``sms``; the incoming
message's ``MessageSid``, or ``MessageSid:MessageStatus`` for a callback) and applied only by
the delivery that created the row, so Twilio's retries and a replayed request change nothing.

- A status callback is matched by ``provider_message_id`` (the Sid the adapter stored at send).
  ``delivered`` -> outreach ``delivered``; ``undelivered``/``failed`` -> ``failed`` (monotonic
  through ``apply_receipt``: a late ``sent`` never undoes ``delivered``); error 21610 means the
  recipient had texted STOP to Twilio, so the number is opted out on sms as well. ``queued``,
  ``sending``, ``sent`` and the like are kept but move nothing.
- An incoming text is matched to the most recent SMS sent to the ``From`` number by a channel
  whose sender is the ``To`` number (or whose Messaging Service received it): that names the
  workspace and the enrollment. Then ``agent.inbound.sms.classify`` decides: opt-out -> the number
  suppressed on sms across the workspace (``apply_opt_out``); opt-in -> its sms opt-outs removed
  (``apply_opt_in``); else a reply (``apply_reply``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import phonenumbers
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.inbound.effects import OPT_OUT_REASON, apply_opt_in, apply_opt_out, apply_receipt, apply_reply
from agent.inbound.sms import SmsIntent, classify
from agent.inbound.store import record_inbound
from agent.models import Channel, Contact, InboundMessage, Outreach, Suppression
from agent.outreaches.repository import with_contact
from agent.states import InboundKind, InboundStatus

log = logging.getLogger(__name__)

PROVIDER = "twilio"
OPTED_OUT_ERROR = "21610"  # "Attempt to send to unsubscribed recipient": they texted STOP to Twilio
DELIVERED, NOT_DELIVERED = frozenset({"delivered", "read"}), frozenset({"undelivered", "failed"})
_CANDIDATES = 20  # recent SMS outreaches to one number looked at for the one whose sender was ``To``


@dataclass(frozen=True, slots=True)
class Handled:
    message_id: str
    created: bool  # False: a redelivery of something already recorded; nothing was applied
    intent: SmsIntent | None = None


def e164(number: str | None) -> str | None:
    """``number`` in E.164 when it reads as a phone number, else as given (short codes, ids)."""
    if not number:
        return None
    value = number.strip()
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return value
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) \
        if phonenumbers.is_valid_number(parsed) else value


def _link(message: InboundMessage, outreach: Outreach, contact_id: str | None = None) -> None:
    message.workspace_id, message.outreach_id = outreach.workspace_id, outreach.id
    message.enrollment_id = outreach.enrollment_id
    if contact_id is not None:
        message.contact_id = contact_id


async def handle_status(session: AsyncSession, form: dict[str, str]) -> Handled:
    """Apply one status callback (the caller commits)."""
    sid, status = form.get("MessageSid") or form.get("SmsSid") or "", (form.get("MessageStatus") or "").lower()
    error_code = form.get("ErrorCode") or None
    message, created = await record_inbound(
        session, channel="sms", provider=PROVIDER, external_id=f"{sid}:{status}", kind=InboundKind.receipt,
        from_address=e164(form.get("From")), to_address=e164(form.get("To")),
        detail={"message_sid": sid, "status": status, "error_code": error_code})
    if not created:
        return Handled(message.id, False)
    outreach = (await session.execute(
        select(Outreach).where(Outreach.provider_message_id == sid, Outreach.channel == "sms"))).scalars().first()
    if outreach is None:
        return Handled(message.id, True)  # stays unmatched: not one of ours, or sent by another tool
    if status not in DELIVERED | NOT_DELIVERED:
        _link(message, outreach)
        message.status = InboundStatus.ignored  # queued, sending, sent...: nothing to move
        return Handled(message.id, True)
    await apply_receipt(session, message, outreach, delivered=status in DELIVERED, error_code=error_code)
    if error_code == OPTED_OUT_ERROR:
        contact = await _contact_of(session, outreach)
        if contact is not None and contact.phone:
            await apply_opt_out(session, outreach.workspace_id, phone=contact.phone, channel="sms",
                                source=f"twilio:{OPTED_OUT_ERROR}", message=message)
    return Handled(message.id, True)


async def handle_incoming(session: AsyncSession, form: dict[str, str]) -> Handled:
    """Apply one incoming text (the caller commits)."""
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    sender, receiver, body = e164(form.get("From")), e164(form.get("To")), form.get("Body") or ""
    intent = classify(body)
    kind = {SmsIntent.opt_out: InboundKind.unsubscribe, SmsIntent.opt_in: InboundKind.opt_in}.get(
        intent, InboundKind.reply)
    message, created = await record_inbound(
        session, channel="sms", provider=PROVIDER, external_id=sid, kind=kind, from_address=sender,
        to_address=receiver, text=body, detail={"message_sid": sid,
                                                "messaging_service_sid": form.get("MessagingServiceSid")})
    if not created:
        return Handled(message.id, False, intent)
    found = await _answered(session, sender, receiver, form.get("MessagingServiceSid"))
    if found is None:
        return Handled(message.id, True, intent)  # stays unmatched: we never texted this number from there
    outreach, contact = found
    _link(message, outreach, contact.id)
    if intent == SmsIntent.opt_out:
        await apply_opt_out(session, outreach.workspace_id, phone=contact.phone or sender, channel="sms",
                            source=f"sms:{sid}", message=message)
        return Handled(message.id, True, intent)
    if intent == SmsIntent.opt_in and body.strip().lower().strip(".!") == "yes" \
            and not await _opted_out(session, outreach.workspace_id, contact.phone or sender):
        # A bare YES from a number that is not opted out is an answer, not a re-subscription.
        message.kind, intent = InboundKind.reply, SmsIntent.reply
    if intent == SmsIntent.opt_in:
        lifted = await apply_opt_in(session, outreach.workspace_id, phone=contact.phone or sender, channel="sms",
                                    source=f"sms:{sid}", message=message)
        if not lifted:
            message.status = InboundStatus.ignored  # START from a number that was never opted out
        return Handled(message.id, True, intent)
    await apply_reply(session, message, outreach, text=body)
    return Handled(message.id, True, intent)


async def _opted_out(session: AsyncSession, workspace_id: str, phone: str | None) -> bool:
    """Whether ``phone`` has an opt-out on sms in the workspace (what START and YES would lift)."""
    q = select(Suppression.id).where(Suppression.workspace_id == workspace_id, Suppression.phone == phone,
                                     Suppression.channel == "sms", Suppression.reason == OPT_OUT_REASON)
    return phone is not None and (await session.execute(q.limit(1))).first() is not None


async def _contact_of(session: AsyncSession, outreach: Outreach) -> Contact | None:
    q = with_contact(Contact).where(Outreach.id == outreach.id)
    return (await session.execute(q)).scalar_one_or_none()


async def _answered(session: AsyncSession, sender: str | None, receiver: str | None,
                    service_sid: str | None) -> tuple[Outreach, Contact] | None:
    """The most recent SMS sent to ``sender`` by a channel whose sender is ``receiver`` (or whose
    Messaging Service is ``service_sid``), with its contact; contacts are unique per workspace by
    phone, so the channel's number is what tells one workspace's thread from another's."""
    if not sender:
        return None
    q = (with_contact(Outreach, Contact, Channel.config)
         .outerjoin(Channel, Channel.id == Outreach.channel_id)
         .where(Contact.phone == sender, Outreach.channel == "sms", Outreach.sent_at.is_not(None))
         .order_by(Outreach.sent_at.desc(), Outreach.id.desc()).limit(_CANDIDATES))
    for outreach, contact, config in (await session.execute(q)).all():
        config = config or {}
        if (receiver and e164(str(config.get("from_number") or "")) == receiver) or \
                (service_sid and config.get("messaging_service_sid") == service_sid):
            return outreach, contact
    return None
