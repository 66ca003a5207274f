"""Keeping inbound deliveries: one row per delivery, whatever the sender retries."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from agent.db import utcnow
from agent.ids import new_id
from agent.models import InboundMessage
from agent.states import BounceType, InboundKind, InboundStatus

EXTERNAL_ID_MAX = 300


async def record_inbound(session: AsyncSession, *, channel: str, provider: str, external_id: str, kind: InboundKind,
                         raw: bytes | None = None, from_address: str | None = None, to_address: str | None = None,
                         subject: str | None = None, text: str | None = None, detail: dict[str, Any] | None = None,
                         bounce_type: BounceType | None = None,
                         received_at: dt.datetime | None = None) -> tuple[InboundMessage, bool]:
    """``(row, created)``. A delivery already kept (same channel and ``external_id``) answers the
    first row and ``False``, and the caller applies nothing; a new row is ``unmatched`` until one of
    ``agent.inbound.effects`` applies it. Two deliveries racing each other meet at the unique key."""
    key = external_id[:EXTERNAL_ID_MAX]
    existing = await _find(session, channel, key)
    if existing is not None:
        return existing, False
    now = utcnow()
    row = InboundMessage(id=new_id("inb"), channel=channel, provider=provider, external_id=key, kind=kind,
                         status=InboundStatus.unmatched, bounce_type=bounce_type, from_address=from_address,
                         to_address=to_address, subject=subject, text=text, raw=raw, detail=detail or {},
                         received_at=received_at or now, created_at=now)
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        existing = await _find(session, channel, key)
        if existing is None:
            raise
        return existing, False
    return row, True


async def _find(session: AsyncSession, channel: str, external_id: str) -> InboundMessage | None:
    return (await session.execute(select(InboundMessage).where(
        InboundMessage.channel == channel, InboundMessage.external_id == external_id))).scalar_one_or_none()


async def get_message(session: AsyncSession, workspace_id: str, message_id: str) -> InboundMessage | None:
    """One message of the workspace (an unmatched one belongs to no workspace and is not shown)."""
    return (await session.execute(select(InboundMessage).where(
        InboundMessage.id == message_id, InboundMessage.workspace_id == workspace_id))).scalar_one_or_none()
