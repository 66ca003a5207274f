"""Campaign and channel lookups: each scoped to a workspace (or its campaign), 404 otherwise."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.errors import NotFound
from agent.lookup import get_in_workspace
from agent.models import Campaign, Channel


async def get_campaign(session: AsyncSession, workspace_id: str, campaign_id: str, *,
                       for_update: bool = False) -> Campaign:
    return await get_in_workspace(session, Campaign, workspace_id, campaign_id, missing=f"no campaign {campaign_id}",
                                  for_update=for_update)


async def get_any_campaign(session: AsyncSession, campaign_id: str) -> Campaign:
    """A campaign of any workspace, for the operator's command line (which has no key to scope by)."""
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"no campaign {campaign_id}")
    return campaign


async def get_channel(session: AsyncSession, campaign: Campaign, channel_id: str) -> Channel:
    q = select(Channel).where(Channel.id == channel_id, Channel.campaign_id == campaign.id)
    channel = (await session.execute(q)).scalar_one_or_none()
    if channel is None:
        raise NotFound(f"no channel {channel_id} in campaign {campaign.id}")
    return channel
