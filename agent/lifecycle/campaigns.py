"""Applies campaign and channel moves: checks ``agent.states``, compare-and-sets, logs the event.

The API and the workers both move campaigns and channels only through these functions. A move
the tables do not allow raises ``InvalidTransition`` before anything is written; a move that
loses a race (the row changed underneath) raises it too and the caller's transaction rolls back.
"""

from __future__ import annotations

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity
from agent.channels.readiness import provider_configured
from agent.db import utcnow
from agent.campaigns.repository import get_campaign
from agent.campaigns.schemas import CampaignBulkOut, CampaignBulkResult
from agent.errors import Conflict, InvalidTransition, OvertureError
from agent.lifecycle import remarket
from agent.models import Campaign, Channel, ChannelAudience, Enrollment, Outreach
from agent.settings import get_settings
from agent.states import (
    CAMPAIGN_CHANNEL_EFFECT,
    CAMPAIGN_FINAL,
    CAMPAIGN_TRANSITIONS,
    CHANNEL_TRANSITIONS,
    SYSTEM_CAMPAIGN_ACTIONS,
    CampaignAction,
    CampaignStatus,
    ChannelAction,
    ChannelStatus,
    ENROLLMENT_FINAL,
    ExecutionMode,
    OUTREACH_UPCOMING,
    OutreachStatus,
    campaign_status_from_channels,
    channel_action_campaign_states,
)


async def _cas_campaign(session: AsyncSession, campaign: Campaign, to: CampaignStatus) -> None:
    values: dict = {"status": to.value, "updated_at": utcnow()}
    if campaign.status == CampaignStatus.draft and to == CampaignStatus.active:
        values["went_live_at"] = utcnow()
    result = await session.execute(
        update(Campaign).where(Campaign.id == campaign.id, Campaign.status == campaign.status).values(**values)
    )
    if result.rowcount != 1:
        raise InvalidTransition(f"campaign {campaign.id} changed while moving it; try again")
    for k, v in values.items():
        setattr(campaign, k, v)


async def _cas_channel(session: AsyncSession, channel: Channel, to: ChannelStatus) -> None:
    result = await session.execute(
        update(Channel).where(Channel.id == channel.id, Channel.status == channel.status)
        .values(status=to.value, updated_at=utcnow())
    )
    if result.rowcount != 1:
        raise InvalidTransition(f"channel {channel.id} changed while moving it; try again")
    channel.status = to.value


async def _channels(session: AsyncSession, campaign_id: str) -> list[Channel]:
    q = select(Channel).where(Channel.campaign_id == campaign_id).order_by(Channel.position)
    return list((await session.execute(q)).scalars())


def _check_providers(channels: list[Channel]) -> None:
    """Refuse, before anything is written, to run a channel whose provider has no settings."""
    settings = get_settings()
    for ch in channels:
        missing = provider_configured(ch.kind, ch.config, settings)
        if missing is not None:
            provider = ch.config.get("provider")
            raise Conflict(f"the {ch.kind} channel's provider {provider!r} is not configured: set {missing}",
                           code="provider_not_configured",
                           errors=[{"loc": ["channels", ch.id, "provider"], "message": f"{missing} is not set"}],
                           channel_id=ch.id, setting=missing)


async def campaign_action(session: AsyncSession, campaign: Campaign, action: CampaignAction, actor: str) -> Campaign:
    allowed, to = CAMPAIGN_TRANSITIONS[action]
    current = CampaignStatus(campaign.status)
    if action in SYSTEM_CAMPAIGN_ACTIONS:
        raise InvalidTransition(f"{action.value} is not asked for: it follows from starting a remarketing channel",
                                errors=[{"loc": ["action"], "message": "a system move"}], current_status=current.value)
    if current not in allowed:
        raise InvalidTransition(
            f"cannot {action.value} a campaign that is {current.value}",
            errors=[{"loc": ["status"], "message": f"{action.value} needs one of {sorted(s.value for s in allowed)}"}],
            current_status=current.value,
        )
    channels = await _channels(session, campaign.id)
    if action == CampaignAction.go_live:
        startable, _ = CHANNEL_TRANSITIONS[CAMPAIGN_CHANNEL_EFFECT[action]]
        if not any(ChannelStatus(c.status) in startable for c in channels):
            # Going live starts the ready channels. With none (no channels, or all stopped while
            # a draft) the campaign would be "active" with nothing that could ever run, and no
            # channel move left that could complete it.
            raise InvalidTransition("a campaign needs a ready channel to go live",
                                    errors=[{"loc": ["channels"],
                                             "message": "no ready channel" if channels else "no channels"}],
                                    current_status=current.value)
    effect = CAMPAIGN_CHANNEL_EFFECT.get(action)
    if effect is not None and CHANNEL_TRANSITIONS[effect][1] == ChannelStatus.running:
        _check_providers([c for c in channels if ChannelStatus(c.status) in CHANNEL_TRANSITIONS[effect][0]])
    await _cas_campaign(session, campaign, to)
    moved = []
    effects = [effect] if effect is not None else []
    if to in CAMPAIGN_FINAL:
        # Under a finished campaign nothing may stay startable: channels that never ran stop.
        effects.append(ChannelAction.stop)
    for ch_action in effects:
        ch_allowed, ch_to = CHANNEL_TRANSITIONS[ch_action]
        for ch in channels:
            if ChannelStatus(ch.status) in ch_allowed:
                moved.append({"channel_id": ch.id, "from": ch.status, "to": ch_to.value})
                await _cas_channel(session, ch, ch_to)
    activity.record(session, workspace_id=campaign.workspace_id, actor=actor, kind=f"campaign.{action.value}",
                    campaign_id=campaign.id, payload={"from": current.value, "to": to.value, "channels": moved})
    return campaign


async def is_remarketing(session: AsyncSession, channel_id: str) -> bool:
    """A remarketing channel is one made for an audience (``channel_audiences`` rows)."""
    return bool((await session.execute(select(exists().where(ChannelAudience.channel_id == channel_id)))).scalar())


async def _remarket_campaign(session: AsyncSession, campaign: Campaign, channel: Channel, actor: str) -> None:
    """The campaign's ``remarket`` move (completed -> active), the effect of starting ``channel``."""
    _, to = CAMPAIGN_TRANSITIONS[CampaignAction.remarket]
    before = CampaignStatus(campaign.status)
    await _cas_campaign(session, campaign, to)
    activity.record(session, workspace_id=campaign.workspace_id, actor=actor,
                    kind=f"campaign.{CampaignAction.remarket.value}", campaign_id=campaign.id,
                    payload={"from": before.value, "to": to.value, "channel_id": channel.id})


async def channel_action(session: AsyncSession, campaign: Campaign, channel: Channel, action: ChannelAction,
                         actor: str) -> Channel:
    remarketing = action == ChannelAction.start and await is_remarketing(session, channel.id)
    campaign_ok = channel_action_campaign_states(action, remarketing=remarketing)
    if CampaignStatus(campaign.status) not in campaign_ok:
        raise InvalidTransition(
            f"cannot {action.value} a channel while the campaign is {campaign.status}",
            errors=[{"loc": ["campaign", "status"], "message": f"needs one of {sorted(s.value for s in campaign_ok)}"}],
            current_status=channel.status,
        )
    allowed, to = CHANNEL_TRANSITIONS[action]
    current = ChannelStatus(channel.status)
    if current not in allowed:
        raise InvalidTransition(
            f"cannot {action.value} a channel that is {current.value}",
            errors=[{"loc": ["status"], "message": f"{action.value} needs one of {sorted(s.value for s in allowed)}"}],
            current_status=current.value,
        )
    if to == ChannelStatus.running:
        _check_providers([channel])
    if remarketing and CampaignStatus(campaign.status) in CAMPAIGN_TRANSITIONS[CampaignAction.remarket][0]:
        await _remarket_campaign(session, campaign, channel, actor)
    await _cas_channel(session, channel, to)
    payload = {"channel_id": channel.id, "kind": channel.kind, "from": current.value, "to": to.value}
    if remarketing:
        payload["audience"] = await remarket.reopen_audience(session, channel, actor)
    activity.record(session, workspace_id=campaign.workspace_id, actor=actor, kind=f"channel.{action.value}",
                    campaign_id=campaign.id, payload=payload)
    # The campaign follows its channels.
    statuses = [ChannelStatus(c.status) for c in await _channels(session, campaign.id)]
    before = CampaignStatus(campaign.status)
    after = campaign_status_from_channels(before, statuses)
    if after != before:
        await _cas_campaign(session, campaign, after)
        activity.record(session, workspace_id=campaign.workspace_id, actor=actor, kind="campaign.status_followed",
                        campaign_id=campaign.id,
                        payload={"from": before.value, "to": after.value, "channel_id": channel.id})
    return channel


async def bulk_action(session: AsyncSession, workspace_id: str, ids: list[str], action: CampaignAction,
                      actor: str) -> CampaignBulkOut:
    """Move each campaign on its own, in a savepoint: one refused campaign (wrong status, another
    workspace's or unknown id, a channel without its provider) changes nothing of its own and
    does not stop the others. Each result says what happened and the status it left."""
    results: list[CampaignBulkResult] = []
    for campaign_id in dict.fromkeys(ids):
        before: str | None = None  # read before the move: a rolled-back savepoint expires the row
        try:
            async with session.begin_nested():
                campaign = await get_campaign(session, workspace_id, campaign_id, for_update=True)
                before = str(campaign.status)
                await campaign_action(session, campaign, action, actor)
                after = str(campaign.status)
            results.append(CampaignBulkResult(id=campaign_id, ok=True, status=after))
        except OvertureError as exc:
            status = exc.extra.get("current_status") or before
            results.append(CampaignBulkResult(id=campaign_id, ok=False, status=status, code=exc.code,
                                              detail=exc.detail))
    return CampaignBulkOut(done=sum(r.ok for r in results), results=results)


def _done_with(channel: type[Channel] = Channel) -> object:
    """SQL: every contact of the channel is done with it. Its contacts are its audience (a
    remarketing channel) or else the campaign's enrollments; done means each enrollment is final
    and no outreach of the channel is still upcoming or in flight. A channel with no contacts at
    all is not done (it has not started its work)."""
    live = ~Enrollment.status.in_(ENROLLMENT_FINAL)
    has_audience = exists().where(ChannelAudience.channel_id == channel.id)
    live_in_audience = exists().where(ChannelAudience.channel_id == channel.id,
                                      ChannelAudience.enrollment_id == Enrollment.id, live)
    live_in_campaign = exists().where(Enrollment.campaign_id == channel.campaign_id, live)
    anyone = exists().where(Enrollment.campaign_id == channel.campaign_id)
    pending = exists().where(Outreach.channel_id == channel.id,
                             Outreach.status.in_(OUTREACH_UPCOMING | {OutreachStatus.executing}))
    return and_(anyone, ~pending, or_(and_(has_audience, ~live_in_audience),
                                      and_(~has_audience, ~live_in_campaign)))


async def complete_done_channels(session: AsyncSession) -> list[str]:
    """Finish every running channel whose contacts are all done with it; the campaign follows
    (completed once all its channels are). Only campaigns that run on a schedule complete by
    themselves: a ``manual`` or ``on_contact_added`` one stays active and idle between batches
    of contacts. Returns the channels finished."""
    rows = (await session.execute(
        select(Channel.id, Channel.campaign_id).join(Campaign, Campaign.id == Channel.campaign_id).where(
            Channel.status == ChannelStatus.running, Campaign.status == CampaignStatus.active,
            Campaign.execution_mode == ExecutionMode.scheduled, _done_with()))).all()
    finished = []
    for channel_id, campaign_id in rows:
        campaign = (await session.execute(select(Campaign).where(Campaign.id == campaign_id)
                                          .with_for_update())).scalar_one()
        # Checked again under the campaign's lock: a contact added since the scan keeps it running.
        channel = (await session.execute(select(Channel).where(
            Channel.id == channel_id, Channel.status == ChannelStatus.running, _done_with()))).scalar_one_or_none()
        if channel is None or CampaignStatus(campaign.status) != CampaignStatus.active:
            continue
        await channel_action(session, campaign, channel, ChannelAction.finish, activity.SYSTEM)
        finished.append(channel_id)
    return finished
