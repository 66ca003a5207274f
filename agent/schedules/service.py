"""Reusable schedules: create, edit and delete them, say whether they are open, and link them.

A campaign follows either its inline ``schedule`` or a linked one (``Campaign.hours``), never
both: linking clears the inline hours, setting inline hours unlinks. Edits to a schedule apply to
every campaign linked to it at once (the send guard, the planner and the queue read it live).
Deleting one is refused while an active or paused campaign follows it (409 ``schedule_in_use``);
the other campaigns linked to it keep its hours as an inline copy, so nothing changes for them.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity
from agent.campaigns import versions
from agent.campaigns.schemas import EffectiveSchedule, HoursStatus, Schedule as Hours
from agent.db import utcnow
from agent.errors import Conflict, ValidationFailed
from agent.ids import new_id
from agent.models import Campaign, Schedule
from agent.scheduling import Window, hours_status
from agent.schedules import repository
from agent.schedules.schemas import ScheduleIn, ScheduleOut, ScheduleUpdate
from agent.states import CampaignStatus

get = repository.get_schedule
LIVE = frozenset({CampaignStatus.active, CampaignStatus.paused})


async def _refuse_taken_name(session: AsyncSession, workspace_id: str, name: str, own_id: str | None = None) -> None:
    found = await repository.named(session, workspace_id, name)
    if found is not None and found.id != own_id:
        raise Conflict(f"a schedule named {name!r} exists in this workspace", code="schedule_name_taken",
                       errors=[{"loc": ["body", "name"], "message": "already used by another schedule"}])


async def create(session: AsyncSession, workspace_id: str, data: ScheduleIn, actor: str) -> Schedule:
    await _refuse_taken_name(session, workspace_id, data.name)
    stored = data.model_dump(mode="json")
    row = Schedule(id=new_id("sch"), workspace_id=workspace_id, name=data.name, timezone=data.timezone,
                   business_hours=stored["business_hours"], holidays=stored["holidays"])
    session.add(row)
    await session.flush()
    activity.record(session, workspace_id=workspace_id, actor=actor, kind="schedule.created",
                    payload={"schedule_id": row.id, "name": row.name})
    return row


async def update(session: AsyncSession, workspace_id: str, schedule_id: str, data: ScheduleUpdate,
                 actor: str) -> Schedule:
    row = await get(session, workspace_id, schedule_id, for_update=True)
    given = data.model_dump(mode="json", exclude_unset=True)
    nulls = sorted(k for k, v in given.items() if v is None)
    if nulls:
        raise ValidationFailed(f"{', '.join(nulls)} cannot be null",
                               errors=[{"loc": ["body", k], "message": "may not be null"} for k in nulls])
    if "name" in given:
        await _refuse_taken_name(session, workspace_id, given["name"], own_id=row.id)
    # Locked and snapshotted before the edit: a live campaign following the schedule gets a settings
    # version of its own (its hours changed), numbered under its row lock like any campaign edit.
    linked = await repository.linked_campaigns(session, row.id, for_update=True)
    before = {c.id: versions.before_edit(c) for c in linked}
    for key, value in given.items():
        setattr(row, key, value)
    row.updated_at = utcnow()
    bumped = {}
    for campaign in linked:
        number = versions.record(session, campaign, before[campaign.id], actor)
        if number is not None:
            campaign.updated_at = row.updated_at
            bumped[campaign.id] = number
    await session.flush()
    activity.record(session, workspace_id=workspace_id, actor=actor, kind="schedule.updated",
                    payload={"schedule_id": row.id, "fields": sorted(given), "campaign_ids": [c.id for c in linked],
                             "settings_versions": bumped})
    return row


async def remove(session: AsyncSession, workspace_id: str, schedule_id: str, actor: str) -> list[str]:
    """Delete the schedule; the ids of the campaigns that now carry its hours inline."""
    row = await get(session, workspace_id, schedule_id, for_update=True)
    linked = await repository.linked_campaigns(session, row.id, for_update=True)
    live = [c.id for c in linked if c.status in LIVE]
    if live:
        raise Conflict(f"{len(live)} active or paused campaign(s) follow this schedule; link them to another "
                       "schedule (PATCH schedule_id) or give them their own hours first", code="schedule_in_use",
                       errors=[{"loc": ["path", "schedule_id"], "message": f"used by campaign {cid}"} for cid in live],
                       campaign_ids=live)
    hours = row.hours()
    for campaign in linked:
        campaign.schedule = hours
        campaign.link_schedule(None)
    await session.delete(row)
    await session.flush()
    activity.record(session, workspace_id=workspace_id, actor=actor, kind="schedule.deleted",
                    payload={"schedule_id": row.id, "name": row.name, "copied_to": [c.id for c in linked]})
    return [c.id for c in linked]


async def link_target(session: AsyncSession, workspace_id: str, schedule_id: str) -> Schedule:
    """The schedule a campaign's ``schedule_id`` names; 422 ``unknown_schedule`` (the body's field)
    when the workspace has none by that id, another workspace's included."""
    row = await repository.find_schedule(session, workspace_id, schedule_id)
    if row is None:
        raise ValidationFailed(f"no schedule {schedule_id} in this workspace", code="unknown_schedule",
                               errors=[{"loc": ["body", "schedule_id"], "message": "no such schedule"}])
    return row


def _window(hours: dict, zone: str) -> Window:
    return Window.for_campaign(contact_tz=None, campaign_timezone=zone, schedule=hours)


def status(hours: dict, zone: str, at: dt.datetime) -> HoursStatus:
    open_now, change = hours_status(at, _window(hours, zone))
    return HoursStatus(open_now=open_now, next_change_at=change)


def to_out(row: Schedule, campaigns: int, at: dt.datetime | None = None) -> ScheduleOut:
    hours = Hours.model_validate(row.hours())
    return ScheduleOut(id=row.id, name=row.name, timezone=row.timezone, business_hours=hours.business_hours,
                       holidays=hours.holidays, campaigns=campaigns, created_at=row.created_at,
                       updated_at=row.updated_at,
                       **status(row.hours(), row.timezone, at or utcnow()).model_dump())


async def get_out(session: AsyncSession, workspace_id: str, schedule_id: str, at: dt.datetime | None = None
                  ) -> ScheduleOut:
    row = await get(session, workspace_id, schedule_id)
    return to_out(row, (await repository.campaign_counts(session, [row.id])).get(row.id, 0), at)


async def list_out(session: AsyncSession, workspace_id: str, at: dt.datetime | None = None) -> list[ScheduleOut]:
    rows = await repository.list_schedules(session, workspace_id)
    counts = await repository.campaign_counts(session, [r.id for r in rows])
    return [to_out(r, counts.get(r.id, 0), at) for r in rows]


def effective(campaign: Campaign, at: dt.datetime | None = None) -> EffectiveSchedule:
    """The hours a campaign follows, where they come from, and whether they are open at ``at``."""
    linked = campaign.linked_schedule
    hours = campaign.hours
    if hours is None:
        return EffectiveSchedule(source="none", schedule_id=None, name=None, timezone=campaign.timezone,
                                 business_hours=None, holidays=[], open_now=True, next_change_at=None)
    parsed = Hours.model_validate(hours)
    zone = parsed.timezone or campaign.timezone
    return EffectiveSchedule(source="schedule" if linked is not None else "campaign",
                             schedule_id=linked.id if linked is not None else None,
                             name=linked.name if linked is not None else None, timezone=zone,
                             business_hours=parsed.business_hours, holidays=parsed.holidays,
                             **status(hours, zone, at or utcnow()).model_dump())
