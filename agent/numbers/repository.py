"""Phone-number queries, each inside one campaign (scope the campaign to the workspace first)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.errors import NotFound
from agent.models import CallerNumber


async def get_number(session: AsyncSession, campaign_id: str, number_id: str) -> CallerNumber:
    q = select(CallerNumber).where(CallerNumber.id == number_id, CallerNumber.campaign_id == campaign_id)
    row = (await session.execute(q)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no phone number {number_id} in campaign {campaign_id}")
    return row


async def numbers_of(session: AsyncSession, campaign_id: str) -> list[CallerNumber]:
    """The campaign's numbers in the order they were added."""
    q = select(CallerNumber).where(CallerNumber.campaign_id == campaign_id).order_by(CallerNumber.id)
    return list((await session.execute(q)).scalars())


async def holder_of(session: AsyncSession, campaign_id: str, number: str) -> str | None:
    """The id of the campaign's row with this number, if any."""
    q = select(CallerNumber.id).where(CallerNumber.campaign_id == campaign_id, CallerNumber.number == number)
    return (await session.execute(q.limit(1))).scalar_one_or_none()


async def numbers_by_campaign(session: AsyncSession, campaign_ids: list[str]) -> dict[str, list[str]]:
    """Each of these campaigns' numbers (E.164) in the order they were added, in one query; the
    ids must already be scoped to one workspace."""
    found: dict[str, list[str]] = {c: [] for c in campaign_ids}
    if campaign_ids:
        q = (select(CallerNumber.campaign_id, CallerNumber.number)
             .where(CallerNumber.campaign_id.in_(campaign_ids)).order_by(CallerNumber.id))
        for campaign_id, number in (await session.execute(q)).all():
            found[campaign_id].append(number)
    return found
