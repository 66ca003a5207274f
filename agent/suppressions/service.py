"""Adding and removing suppressions by hand (or from another system's do-not-contact list).

Addresses are normalised the way contacts are, so an entry matches the contact it names: the
phone to E.164 in the workspace's default region, the email case-folded. Adding an entry that
already exists (same keys, same channel) answers the existing one, so a list can be pushed again
without errors. Nothing here touches enrollments: the send-time guard and the planner check the
list on every send and every plan.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity
from agent.contacts.normalize import ContactInput, normalize_contact
from agent.contacts.repository import workspace_region
from agent.errors import ValidationFailed
from agent.ids import new_id
from agent.models import Suppression
from agent.suppressions import repository
from agent.suppressions.schemas import SuppressionChannel, SuppressionIn


def _normalised(field: str, raw: str, region: str) -> str | None:
    """The stored form of one address (E.164 phone, case-folded email), None when it does not read as one."""
    contact, _, _ = normalize_contact(ContactInput(name="-", **{field: raw}), region=region, row=0)
    if contact is None:
        return None
    return contact.phone if field == "phone" else contact.email_key


async def keys(session: AsyncSession, workspace_id: str, phone: str | None,
               email: str | None) -> tuple[str | None, str | None]:
    """``(phone, email_key)`` as stored; 422 naming each field that is not a valid address, or both
    when neither is given."""
    phone, email = (phone or "").strip(), (email or "").strip()
    if not phone and not email:
        raise ValidationFailed("a suppression needs a phone number or an email address", errors=[
            {"loc": ["body", "phone"], "message": "give a phone or an email"},
            {"loc": ["body", "email"], "message": "give a phone or an email"}])
    region = await workspace_region(session, workspace_id)
    stored = {f: _normalised(f, raw, region) if raw else None for f, raw in (("phone", phone), ("email", email))}
    bad = [f for f, raw in (("phone", phone), ("email", email)) if raw and stored[f] is None]
    if bad:
        raise ValidationFailed(f"{bad[0]} is not a valid {'phone number' if bad[0] == 'phone' else 'email address'}",
                               errors=[{"loc": ["body", f], "message": f"not a valid {f}"} for f in bad])
    return stored["phone"], stored["email"]


def _record(session: AsyncSession, row: Suppression, actor: str, kind: str) -> None:
    payload: dict[str, Any] = {"suppression_id": row.id, "phone": row.phone, "email": row.email_key,
                               "channel": row.channel, "reason": row.reason, "source": row.source}
    # Workspace-wide: the event belongs to no campaign.
    activity.record(session, workspace_id=row.workspace_id, actor=actor, kind=kind, payload=payload)


async def add(session: AsyncSession, workspace_id: str, data: SuppressionIn, actor: str) -> tuple[Suppression, bool]:
    """The entry and whether it is new; an entry with the same keys and channel is answered as it is."""
    phone, email_key = await keys(session, workspace_id, data.phone, data.email)
    existing = await repository.find_same(session, workspace_id, phone=phone, email_key=email_key,
                                          channel=data.channel)
    if existing is not None:
        return existing, False
    row = Suppression(id=new_id("sup"), workspace_id=workspace_id, phone=phone, email_key=email_key,
                      channel=data.channel, reason=data.reason, source=data.source)
    session.add(row)
    await session.flush()
    _record(session, row, actor, "suppression.added")
    return row, True


async def remove(session: AsyncSession, workspace_id: str, suppression_id: str, actor: str) -> None:
    row = await repository.get_suppression(session, workspace_id, suppression_id)
    _record(session, row, actor, "suppression.removed")
    await session.delete(row)
    await session.flush()


async def list_page(session: AsyncSession, workspace_id: str, *, channel: SuppressionChannel | None,
                    q: str | None, limit: int, cursor: str | None) -> tuple[list[Suppression], str | None]:
    """One page, newest first; ``q`` matches part of a phone or email, or a phone written any way."""
    phone = _normalised("phone", q, await workspace_region(session, workspace_id)) if q else None
    return await repository.list_suppressions(session, workspace_id, channel=channel, text=q and q.strip(),
                                              phone=phone, limit=limit, cursor=cursor)
