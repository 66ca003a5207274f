"""Taking in one raw email: kept once, matched, and applied. The API route and the SMTP receiver
both call :func:`ingest_email`, so a message means the same whichever door it came through."""

from __future__ import annotations

import logging

from agent.db import session_scope
from agent.inbound import effects
from agent.inbound.email import imports as email_imports
from agent.inbound.email.match import match_outreach
from agent.inbound.email.parse import ParsedEmail, parse_email
from agent.inbound.store import record_inbound
from agent.models import InboundMessage
from agent.states import BounceType, InboundKind, InboundStatus

log = logging.getLogger(__name__)
MAX_BYTES = 10 * 1024 * 1024  # the API's and the receiver's cap on one message


async def ingest_email(raw: bytes, *, provider: str = "api") -> InboundMessage:
    """Keep ``raw``, match it and apply what it means, in one transaction; a delivery seen before
    answers its first row and changes nothing."""
    parsed = parse_email(raw)
    async with session_scope() as session:
        message, created = await record_inbound(
            session, channel="email", provider=provider, external_id=parsed.external_id, kind=parsed.kind,
            raw=raw, from_address=parsed.from_address, to_address=parsed.to_address,
            subject=parsed.subject[:2000] or None, text=parsed.reply_text, bounce_type=parsed.bounce_type,
            detail=_detail(parsed))
        if not created:
            return message
        config = await email_imports.find_for(session, parsed.to_addresses)
        if config is not None:
            await email_imports.take_import(session, config, message, raw, parsed.from_address)
            await session.commit()
            return message
        outreach = await match_outreach(session, parsed)
        if outreach is None:
            message.kind = InboundKind.unmatched if parsed.kind is not InboundKind.receipt else parsed.kind
            message.status = InboundStatus.unmatched if parsed.kind is not InboundKind.receipt else InboundStatus.ignored
            log.info("inbound email %s matches no outreach (%s)", message.id, parsed.kind.value)
        elif parsed.kind is InboundKind.receipt:
            # A delayed (or delivered) report: the server is still trying; nothing changes.
            message.outreach_id, message.workspace_id = outreach.id, outreach.workspace_id
            message.enrollment_id = outreach.enrollment_id
            message.status = InboundStatus.ignored
        else:
            await _apply(session, message, outreach, parsed)
        await session.commit()
        return message


async def _apply(session, message: InboundMessage, outreach, parsed: ParsedEmail) -> None:
    if parsed.kind is InboundKind.bounce:
        await effects.apply_bounce(session, message, outreach, bounce_type=parsed.bounce_type or BounceType.hard,
                                   recipient=parsed.recipient, status_code=parsed.status_code,
                                   diagnostic=parsed.diagnostic)
    elif parsed.kind is InboundKind.auto_reply:
        await effects.apply_auto_reply(session, message, outreach)
    elif parsed.kind is InboundKind.unsubscribe:
        # "Remove me": the whole workspace stops writing to the address (and the thread ends there).
        message.outreach_id, message.enrollment_id = outreach.id, outreach.enrollment_id
        await effects.apply_opt_out(session, outreach.workspace_id, email=parsed.from_address, channel="email",
                                    source="email reply", message=message)
    else:
        await effects.apply_reply(session, message, outreach, text=parsed.reply_text or "")


def _detail(parsed: ParsedEmail) -> dict:
    return {k: v for k, v in {
        "message_id": parsed.message_id, "in_reply_to": parsed.in_reply_to, "references": parsed.references,
        "action": parsed.action, "recipient": parsed.recipient, "status_code": parsed.status_code,
        "diagnostic": parsed.diagnostic, "original_message_id": parsed.original_message_id,
    }.items() if v}
