"""The opt-out link of every email (List-Unsubscribe and the footer): ``/u/{token}``.

The token is the outreach's random ``unsubscribe_token``, so the link names no id of ours and
cannot be guessed. A GET only shows who would be unsubscribed (link scanners and mail previews
follow GETs); the RFC 8058 one-click POST (``List-Unsubscribe=One-Click``) and the page's form
POST do the opt-out: the address suppressed on the outreach's channel across the workspace,
every enrollment of it ``finished/opted_out``, its pending and approved outreaches cancelled.
A repeat POST finds its inbound row already recorded and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from agent.inbound.effects import apply_opt_out
from agent.inbound.store import record_inbound
from agent.models import Campaign, Contact, Outreach
from agent.outreaches.repository import with_contact
from agent.states import InboundKind

_TOKEN_MAX = 40  # the column's width; anything longer names no outreach


@dataclass(frozen=True, slots=True)
class Target:
    """What the page shows: the address to be removed and who sent the message."""

    outreach: Outreach
    contact: Contact
    sender: str  # the campaign's name, the only "who is this" a recipient recognises

    @property
    def address(self) -> str:
        return (self.contact.email if self.outreach.channel == "email" else self.contact.phone) or ""


async def find_target(session: AsyncSession, token: str) -> Target | None:
    """The outreach whose link carries ``token``, or None (unknown, malformed)."""
    if not token or len(token) > _TOKEN_MAX:
        return None
    q = (with_contact(Outreach, Contact, Campaign.name).join(Campaign, Campaign.id == Outreach.campaign_id)
         .where(Outreach.unsubscribe_token == token))
    row = (await session.execute(q)).first()
    return Target(row[0], row[1], row[2]) if row else None


async def unsubscribe(session: AsyncSession, target: Target, *, one_click: bool) -> bool:
    """Opt ``target`` out (the caller commits). False when this link was used before."""
    outreach, contact = target.outreach, target.contact
    message, created = await record_inbound(
        session, channel=outreach.channel, provider="link", external_id=f"unsubscribe:{outreach.unsubscribe_token}",
        kind=InboundKind.unsubscribe, from_address=target.address or None,
        detail={"method": "one_click" if one_click else "page"})
    if not created:
        return False
    message.workspace_id, message.outreach_id = outreach.workspace_id, outreach.id
    message.enrollment_id, message.contact_id = outreach.enrollment_id, contact.id
    email = contact.email if outreach.channel == "email" else None
    phone = contact.phone if outreach.channel != "email" else None
    await apply_opt_out(session, outreach.workspace_id, email=email, phone=phone, channel=outreach.channel,
                        source=f"link:{outreach.id}", message=message)
    return True

