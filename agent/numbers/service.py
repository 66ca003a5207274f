"""Adding, editing and removing a campaign's phone numbers; every write locks the campaign first.

The lock makes the duplicate check hold against a concurrent add on PostgreSQL (SQLite runs one
writer at a time); an archived campaign is read-only here as everywhere.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity
from agent.campaigns import service as campaigns
from agent.errors import Conflict
from agent.ids import new_id
from agent.models import CallerNumber, Campaign
from agent.numbers import repository
from agent.numbers.schemas import PhoneNumberIn, PhoneNumberUpdate


async def list_numbers(session: AsyncSession, workspace_id: str, campaign_id: str) -> list[CallerNumber]:
    await campaigns.get(session, workspace_id, campaign_id)
    return await repository.numbers_of(session, campaign_id)


async def _refuse_taken(session: AsyncSession, campaign_id: str, number: str, number_id: str | None = None) -> None:
    holder = await repository.holder_of(session, campaign_id, number)
    if holder is not None and holder != number_id:
        raise Conflict(f"the campaign already has {number}", code="duplicate_number", number_id=holder,
                       errors=[{"loc": ["body", "number"], "message": "already in this campaign"}])


def _record(session: AsyncSession, campaign: Campaign, actor: str, kind: str, row: CallerNumber,
            **payload: Any) -> None:
    activity.record(session, workspace_id=campaign.workspace_id, actor=actor, kind=kind, campaign_id=campaign.id,
                    payload={"number_id": row.id, "number": row.number, **payload})


async def add(session: AsyncSession, workspace_id: str, campaign_id: str, data: PhoneNumberIn,
              actor: str) -> CallerNumber:
    campaign = await campaigns.writable_campaign(session, workspace_id, campaign_id)
    await _refuse_taken(session, campaign.id, data.number)
    row = CallerNumber(id=new_id("num"), campaign_id=campaign.id, **data.model_dump())
    session.add(row)
    await session.flush()
    _record(session, campaign, actor, "phone_number.added", row)
    return row


async def update(session: AsyncSession, workspace_id: str, campaign_id: str, number_id: str,
                 data: PhoneNumberUpdate, actor: str) -> CallerNumber:
    campaign = await campaigns.writable_campaign(session, workspace_id, campaign_id)
    row = await repository.get_number(session, campaign.id, number_id)
    changes = data.model_dump(include=data.model_fields_set)
    if "number" in changes:
        await _refuse_taken(session, campaign.id, changes["number"], row.id)
    for key, value in changes.items():
        setattr(row, key, value)
    await session.flush()
    _record(session, campaign, actor, "phone_number.updated", row, fields=sorted(changes))
    return row


async def remove(session: AsyncSession, workspace_id: str, campaign_id: str, number_id: str, actor: str) -> None:
    campaign = await campaigns.writable_campaign(session, workspace_id, campaign_id)
    row = await repository.get_number(session, campaign.id, number_id)
    _record(session, campaign, actor, "phone_number.removed", row)
    await session.delete(row)
    await session.flush()
