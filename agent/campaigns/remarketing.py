"""Remarketing: a new channel on a live or completed campaign for a chosen set of its contacts,
starting ``ready``; starting it reopens that audience (``agent.lifecycle.remarket``).

The audience is picked by enrollment status, by the primary goal's result (the contact table's
column: the best result any of the contact's conversations reached, a correction winning) and by
contact id; each filter given narrows the set. The chosen enrollments are written as
``channel_audiences`` rows, so the set is fixed when the channel is made (contacts added later
are not in it). A channel without audience rows is for every contact, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity
from agent.campaigns.schemas import ChannelIn
from agent.errors import Conflict, ValidationFailed
from agent.ids import new_id
from agent.models import Campaign, Channel, ChannelAudience, Conversation, Enrollment, Evaluation, Goal, GoalResult
from agent.reports.export_rows import goal_rank, result_of_rank
from agent.states import (CAMPAIGN_FINAL, CAMPAIGN_TRANSITIONS, CampaignAction, CampaignStatus, ChannelStatus,
                          EnrollmentStatus, GoalResultValue)

MAX_IDS = 10_000
# A completed campaign takes a remarketing channel too: starting it runs the campaign again (the
# campaign's ``remarket`` move); a cancelled or archived one never runs again.
REMARKETABLE = CAMPAIGN_TRANSITIONS[CampaignAction.remarket][0]
# A remarketing channel in these has started (and reopened its audience); a stopped one is
# treated as never run, its contacts fall back to the campaign's other channels.
REMARKETING_STARTED = frozenset({ChannelStatus.running, ChannelStatus.paused, ChannelStatus.completed})


class Audience(BaseModel):
    model_config = ConfigDict(extra="forbid")
    statuses: list[EnrollmentStatus] | None = Field(None, min_length=1, description="Enrollment statuses to include")
    goal_results: list[GoalResultValue] | None = Field(
        None, min_length=1, description="Results of the campaign's primary goal to include (unknown: not evaluated)")
    contact_ids: list[str] | None = Field(None, min_length=1, max_length=MAX_IDS)


class RemarketingIn(ChannelIn):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"kind": "sms", "audience": {"statuses": ["finished"], "goal_results": ["not_achieved", "unknown"]}},
        {"kind": "email", "audience": {"contact_ids": ["ct_01h..."]}}]})
    audience: Audience

    def config(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"kind", "audience"}, exclude_none=True)


def _refuse(campaign: Campaign) -> None:
    status = CampaignStatus(campaign.status)
    if status == CampaignStatus.draft:
        raise Conflict("a draft campaign's channels are edited with PATCH; remarketing is for a live or "
                       "completed campaign",
                       code="campaign_not_live")
    if status in CAMPAIGN_FINAL - REMARKETABLE:
        raise Conflict(f"a {status.value} campaign takes no new channel", code="campaign_final")


async def _primary_goal(session: AsyncSession, campaign_id: str) -> str | None:
    return (await session.execute(select(Goal.id).where(
        Goal.campaign_id == campaign_id, Goal.is_primary.is_(True), Goal.archived_at.is_(None)))).scalar()


async def choose(session: AsyncSession, campaign: Campaign, audience: Audience) -> list[str]:
    """The ids of the campaign's enrollments the audience names (removed ones never)."""
    if not (audience.statuses or audience.goal_results or audience.contact_ids):
        raise ValidationFailed("name the audience by statuses, goal_results or contact_ids",
                               errors=[{"loc": ["body", "audience"], "message": "at least one filter"}])
    q = select(Enrollment.id, Enrollment.contact_id).where(
        Enrollment.campaign_id == campaign.id, Enrollment.status != EnrollmentStatus.removed)
    if audience.statuses:
        q = q.where(Enrollment.status.in_(audience.statuses))
    if audience.contact_ids:
        q = q.where(Enrollment.contact_id.in_(audience.contact_ids))
    rows = (await session.execute(q.order_by(Enrollment.id))).all()
    if audience.contact_ids:
        unknown = sorted(set(audience.contact_ids) - {c for _, c in rows})
        if unknown and not audience.statuses:
            raise ValidationFailed(f"{len(unknown)} contact id(s) are not in this campaign",
                                   code="unknown_contacts",
                                   errors=[{"loc": ["body", "audience", "contact_ids"], "message": f"not enrolled: {i}"}
                                           for i in unknown[:20]])
    ids = [e for e, _ in rows]
    if audience.goal_results:
        ids = await _with_result(session, campaign.id, ids, set(audience.goal_results))
    return ids


async def _with_result(session: AsyncSession, campaign_id: str, ids: Sequence[str],
                       wanted: set[GoalResultValue]) -> list[str]:
    goal_id = await _primary_goal(session, campaign_id)
    if goal_id is None:
        raise Conflict("the campaign has no primary goal to choose contacts by", code="no_primary_goal")
    best = (await session.execute(
        select(Conversation.enrollment_id, func.max(goal_rank()))
        .join(GoalResult, GoalResult.conversation_id == Conversation.id)
        .join(Evaluation, and_(Evaluation.id == GoalResult.evaluation_id, Evaluation.is_current.is_(True)))
        .where(Conversation.campaign_id == campaign_id, GoalResult.goal_id == goal_id)
        .group_by(Conversation.enrollment_id))).all()
    result = {eid: result_of_rank(rank) for eid, rank in best}
    return [i for i in ids if result.get(i, GoalResultValue.unknown) in wanted]


async def add_channel(session: AsyncSession, campaign: Campaign, data: RemarketingIn, actor: str) -> tuple[Channel, int]:
    """The new ``ready`` channel and how many contacts it is for (422 ``empty_audience`` for none)."""
    _refuse(campaign)
    ids = await choose(session, campaign, data.audience)
    if not ids:
        raise ValidationFailed("no contact of the campaign matches the audience", code="empty_audience",
                               errors=[{"loc": ["body", "audience"], "message": "matches no contact"}])
    position = (await session.execute(select(func.coalesce(func.max(Channel.position), -1)).where(
        Channel.campaign_id == campaign.id))).scalar_one() + 1
    channel = Channel(id=new_id("chn"), campaign_id=campaign.id, kind=data.kind.value, position=position,
                      status=ChannelStatus.ready, config=data.config())
    session.add(channel)
    await session.flush()
    for start in range(0, len(ids), 1000):
        await session.execute(insert(ChannelAudience), [
            {"id": new_id("aud"), "channel_id": channel.id, "enrollment_id": e} for e in ids[start:start + 1000]])
    payload: dict[str, Any] = {"channel_id": channel.id, "kind": channel.kind, "contacts": len(ids),
                               "audience": data.audience.model_dump(mode="json", exclude_none=True)}
    activity.record(session, workspace_id=campaign.workspace_id, actor=actor, kind="channel.remarketing",
                    campaign_id=campaign.id, payload=payload)
    return channel, len(ids)


async def count(session: AsyncSession, campaign: Campaign, audience: Audience) -> int:
    """How many contacts a remarketing channel for ``audience`` would be for, before adding it: the
    same refusals and the same choice as :func:`add_channel`, nothing written (none is an answer
    here, not an error)."""
    _refuse(campaign)
    return len(await choose(session, campaign, audience))


async def audience_size(session: AsyncSession, channel_id: str) -> int:
    return (await session.execute(select(func.count()).where(ChannelAudience.channel_id == channel_id))).scalar_one()


async def channels_for(session: AsyncSession, enrollment_id: str, channels: Sequence[Channel]) -> list[Channel]:
    """Of a campaign's channels, those planning should offer this enrollment (:func:`offered`)."""
    return (await offered(session, enrollment_id, channels))[0]


async def offered(session: AsyncSession, enrollment_id: str,
                  channels: Sequence[Channel]) -> tuple[list[Channel], bool]:
    """The channels planning offers this enrollment, and whether they are a started remarketing
    run's. A channel with no audience is for everyone, one with an audience for its members;
    once a remarketing channel the contact is in has started, the contact's sequence is on the
    remarketing channels alone (the old ones reached it already: that is why it was remarketed)."""
    with_audience = set((await session.execute(select(ChannelAudience.channel_id).where(
        ChannelAudience.channel_id.in_([c.id for c in channels])).distinct())).scalars())
    member = set((await session.execute(select(ChannelAudience.channel_id).where(
        ChannelAudience.enrollment_id == enrollment_id))).scalars())
    mine = [c for c in channels if c.id in member]
    if any(ChannelStatus(c.status) in REMARKETING_STARTED for c in mine):
        return mine, True
    return [c for c in channels if c.id not in with_audience or c.id in member], False
