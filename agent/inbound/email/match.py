"""Which of our email outreaches an inbound message answers.

In order of certainty: a Message-ID of ours in the bounce's returned original, ``In-Reply-To`` or
``References`` (the smtp adapter writes ``<idempotency-key@sender-domain>`` and keeps it as the
outreach's ``provider_message_id``); else the most recent email we sent (``OUTREACH_SENT``) to the
failed recipient of a bounce, or to the sender of a reply or auto-reply.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.inbound.email.parse import ParsedEmail
from agent.models import Contact, Enrollment, Outreach
from agent.states import OUTREACH_SENT, OutreachStatus

# Sent, or failed by a bounce already (a second report of the same failure still finds it).
_MATCHABLE = (*OUTREACH_SENT, OutreachStatus.failed, OutreachStatus.unknown)


async def match_outreach(session: AsyncSession, parsed: ParsedEmail) -> Outreach | None:
    ids = parsed.thread_ids
    if ids:
        found = (await session.scalars(
            select(Outreach).where(Outreach.channel == "email", Outreach.provider_message_id.in_(ids))
            .order_by(Outreach.sent_at.desc()).limit(1))).first()
        if found is not None:
            return found
    address = parsed.recipient if parsed.kind == "bounce" else parsed.from_address
    return await latest_sent_to(session, address) if address else None


async def latest_sent_to(session: AsyncSession, address: str) -> Outreach | None:
    """The most recent email sent to ``address`` in any workspace (an inbound domain is ours alone)."""
    return (await session.scalars(
        select(Outreach).join(Enrollment, Enrollment.id == Outreach.enrollment_id)
        .join(Contact, Contact.id == Enrollment.contact_id)
        .where(Outreach.channel == "email", Outreach.status.in_(_MATCHABLE),
               func.lower(Contact.email) == address.lower())
        .order_by(Outreach.sent_at.desc().nulls_last()).limit(1))).first()
