"""Campaign CRUD: create, read, list, edit, duplicate and delete, scoped to a workspace."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity
from agent.campaigns import versions
# The scoped lookups live in the repository; ``campaigns.get`` stays the name callers know.
from agent.campaigns.repository import get_campaign as get  # noqa: F401 - re-exported
from agent.campaigns.repository import get_channel  # noqa: F401 - re-exported
from agent.campaigns.schemas import CampaignCreate, CampaignOut, CampaignSettings, CampaignUpdate, ChannelIn, ChannelOut
from agent.db import utcnow
from agent.errors import Conflict, ValidationFailed
from agent.ids import new_id
from agent.models import Analysis, Campaign, Channel, Enrollment, Goal
from agent.pagination import keyset, page
from agent.schedules import service as schedules
from agent.states import CAMPAIGN_READ_ONLY, CampaignStatus, ChannelStatus, EnrollmentStatus

def _channel_rows(campaign_id: str, channels: list[ChannelIn]) -> list[Channel]:
    return [Channel(id=new_id("chn"), campaign_id=campaign_id, kind=c.kind.value, position=i,
                    status=ChannelStatus.ready, config=c.config())
            for i, c in enumerate(channels)]


def _refuse_two_schedules(data: CampaignCreate | CampaignUpdate) -> None:
    if data.schedule is not None and data.schedule_id is not None:
        raise ValidationFailed("give either schedule (inline hours) or schedule_id (a reusable schedule), not both",
                               code="schedule_conflict",
                               errors=[{"loc": ["body", f], "message": "only one of schedule and schedule_id"}
                                       for f in ("schedule", "schedule_id")])


async def create(session: AsyncSession, workspace_id: str, data: CampaignCreate, actor: str) -> Campaign:
    _refuse_two_schedules(data)
    linked = await schedules.link_target(session, workspace_id, data.schedule_id) if data.schedule_id else None
    campaign = Campaign(
        id=new_id("cmp"), workspace_id=workspace_id, name=data.name, type=data.type.value,
        status=CampaignStatus.draft, execution_mode=data.execution_mode.value,
        manual_review=data.manual_review, brief=data.brief, start_at=data.start_at, end_at=data.end_at,
        timezone=data.timezone, schedule=data.schedule.model_dump(mode="json") if data.schedule else None,
        schedule_id=linked.id if linked else None, linked_schedule=linked,
        settings=(data.settings or CampaignSettings()).model_dump(), ai_variables=data.ai_variables or {},
        notes=data.notes or "", add_inbound_contacts=bool(data.add_inbound_contacts),
        inbound_rules=data.inbound_rules, inbound_prompt=data.inbound_prompt or "",
    )
    session.add(campaign)
    session.add_all(_channel_rows(campaign.id, data.channels))
    await session.flush()
    activity.record(session, workspace_id=workspace_id, actor=actor, kind="campaign.created",
                    campaign_id=campaign.id, payload={"name": campaign.name})
    return campaign


def refuse_read_only(campaign: Campaign) -> None:
    """409 ``campaign_archived`` when the campaign is read-only."""
    if CampaignStatus(campaign.status) in CAMPAIGN_READ_ONLY:
        raise Conflict("an archived campaign is read-only", code="campaign_archived")


async def writable_campaign(session: AsyncSession, workspace_id: str, campaign_id: str) -> Campaign:
    """The campaign, locked for this transaction, for a write to something it owns (goals, numbers...)."""
    campaign = await get(session, workspace_id, campaign_id, for_update=True)
    refuse_read_only(campaign)
    return campaign


async def update(session: AsyncSession, campaign: Campaign, data: CampaignUpdate, actor: str) -> Campaign:
    refuse_read_only(campaign)
    _refuse_two_schedules(data)
    fields = data.model_dump(exclude_unset=True)
    structural = {"channels", "type"} & fields.keys()
    if structural and campaign.status != CampaignStatus.draft:
        # Once live the step structure is locked: duplicate the campaign to change it.
        raise Conflict("the campaign's channels and type are locked once it has gone live",
                       code="campaign_locked",
                       errors=[{"loc": ["body", f], "message": "locked after go-live"} for f in sorted(structural)])
    for key in ("channels", "type", "schedule", "schedule_id", "settings"):
        fields.pop(key, None)
    before = versions.before_edit(campaign)
    if data.type is not None:
        campaign.type = data.type.value
    # One source of hours at a time: whichever the request sets replaces the other.
    if "schedule" in data.model_fields_set:
        campaign.schedule = data.schedule.model_dump(mode="json") if data.schedule else None
        if data.schedule is not None:
            campaign.link_schedule(None)
    if "schedule_id" in data.model_fields_set:
        campaign.link_schedule(await schedules.link_target(session, campaign.workspace_id, data.schedule_id)
                               if data.schedule_id else None)
        if data.schedule_id is not None:
            campaign.schedule = None
    if data.settings is not None:
        # PATCH merges: settings the request does not name keep their values.
        given = data.settings.model_dump(exclude_unset=True)
        campaign.settings = CampaignSettings.model_validate({**campaign.settings, **given}).model_dump()
    start = fields.get("start_at", campaign.start_at)
    end = fields.get("end_at", campaign.end_at)
    if start and end and end <= start:
        raise ValidationFailed("end_at must be after start_at", errors=[{"loc": ["body", "end_at"],
                                                                        "message": "must be after start_at"}])
    for key, value in fields.items():
        if value is None and key not in ("start_at", "end_at", "inbound_rules"):
            raise ValidationFailed(f"{key} cannot be null", errors=[{"loc": ["body", key], "message": "may not be null"}])
        setattr(campaign, key, value.value if hasattr(value, "value") else value)
    if data.channels is not None:
        await session.execute(delete(Channel).where(Channel.campaign_id == campaign.id))
        session.add_all(_channel_rows(campaign.id, data.channels))
    campaign.updated_at = utcnow()
    number = versions.record(session, campaign, before, actor)
    await session.flush()
    payload: dict[str, Any] = {"fields": sorted(data.model_fields_set)}
    if number is not None:
        payload["settings_version"] = number
    activity.record(session, workspace_id=campaign.workspace_id, actor=actor, kind="campaign.updated",
                    campaign_id=campaign.id, payload=payload)
    return campaign


async def duplicate(session: AsyncSession, source: Campaign, actor: str) -> Campaign:
    """A new draft with the same configuration, channels, goals and analyses (no contacts)."""
    copy = Campaign(
        id=new_id("cmp"), workspace_id=source.workspace_id, name=f"{source.name} (copy)"[:200], type=source.type,
        status=CampaignStatus.draft, execution_mode=source.execution_mode,
        manual_review=source.manual_review, brief=source.brief, start_at=source.start_at, end_at=source.end_at,
        timezone=source.timezone, schedule=source.schedule, schedule_id=source.schedule_id,
        linked_schedule=source.linked_schedule,
        settings=dict(source.settings),
        ai_variables=dict(source.ai_variables), notes=source.notes, add_inbound_contacts=source.add_inbound_contacts,
        inbound_rules=source.inbound_rules, inbound_prompt=source.inbound_prompt, duplicated_from_id=source.id,
    )
    session.add(copy)
    for ch in await channels_of(session, source.id):
        session.add(Channel(id=new_id("chn"), campaign_id=copy.id, kind=ch.kind, position=ch.position,
                            status=ChannelStatus.ready, config=dict(ch.config)))
    goals = (await session.execute(select(Goal).where(Goal.campaign_id == source.id, Goal.archived_at.is_(None))
                                   .order_by(Goal.id))).scalars()
    for g in goals:
        session.add(Goal(id=new_id("goal"), campaign_id=copy.id, name=g.name, description=g.description,
                         is_primary=g.is_primary))
    analyses = (await session.execute(select(Analysis).where(Analysis.campaign_id == source.id,
                                                             Analysis.archived_at.is_(None))
                                      .order_by(Analysis.id))).scalars()
    for a in analyses:
        session.add(Analysis(id=new_id("ana"), campaign_id=copy.id, name=a.name, description=a.description,
                             type=a.type, options=a.options, scale_min=a.scale_min, scale_max=a.scale_max,
                             data_type=a.data_type, active=a.active))
    await session.flush()
    activity.record(session, workspace_id=source.workspace_id, actor=actor, kind="campaign.duplicated",
                    campaign_id=source.id, payload={"copy_id": copy.id})
    activity.record(session, workspace_id=source.workspace_id, actor=actor, kind="campaign.created",
                    campaign_id=copy.id, payload={"name": copy.name, "duplicated_from_id": source.id})
    return copy


async def remove(session: AsyncSession, campaign: Campaign, actor: str) -> None:
    """Delete the campaign with its channels and enrollments (the database cascades)."""
    activity.record(session, workspace_id=campaign.workspace_id, actor=actor, kind="campaign.deleted",
                    payload={"campaign_id": campaign.id, "name": campaign.name})
    await session.execute(delete(Campaign).where(Campaign.id == campaign.id))


async def channels_of(session: AsyncSession, campaign_id: str) -> list[Channel]:
    q = select(Channel).where(Channel.campaign_id == campaign_id).order_by(Channel.position)
    return list((await session.execute(q)).scalars())


def _active_enrollments():
    return select(func.count(Enrollment.id)).where(Enrollment.status != EnrollmentStatus.removed)


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    # Freshly written rows still hold the caller's offset; answer UTC as a re-read would.
    return value.astimezone(dt.UTC) if value is not None else None


async def to_out(session: AsyncSession, campaign: Campaign, contacts_count: int | None = None,
                 channels: list[Channel] | None = None) -> CampaignOut:
    if contacts_count is None:
        contacts_count = (await session.execute(
            _active_enrollments().where(Enrollment.campaign_id == campaign.id))).scalar_one()
    if channels is None:
        channels = await channels_of(session, campaign.id)
    channel_out = [ChannelOut(id=c.id, kind=c.kind, status=c.status, position=c.position, config=c.config)
                   for c in channels]
    return CampaignOut(
        id=campaign.id, name=campaign.name, type=campaign.type, status=campaign.status,
        execution_mode=campaign.execution_mode, manual_review=campaign.manual_review, brief=campaign.brief,
        start_at=_utc(campaign.start_at), end_at=_utc(campaign.end_at), timezone=campaign.timezone,
        schedule=campaign.schedule, schedule_id=campaign.schedule_id,
        effective_schedule=schedules.effective(campaign),
        settings=CampaignSettings.model_validate(campaign.settings), ai_variables=campaign.ai_variables,
        notes=campaign.notes, add_inbound_contacts=campaign.add_inbound_contacts,
        inbound_rules=campaign.inbound_rules, inbound_prompt=campaign.inbound_prompt, channels=channel_out,
        contacts_count=contacts_count, duplicated_from_id=campaign.duplicated_from_id,
        went_live_at=campaign.went_live_at, settings_version=campaign.settings_version or 1,
        created_at=campaign.created_at, updated_at=campaign.updated_at,
    )


# Start date: campaigns without one sort after every dated one (ascending), as if set far ahead.
_NO_START = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)


def _sorts() -> dict[str, tuple[Any, Any, Any]]:
    """Sort key -> (expression, cursor text -> comparable value, row value -> cursor text)."""
    contacts = (select(func.count(Enrollment.id))
                .where(Enrollment.campaign_id == Campaign.id, Enrollment.status != EnrollmentStatus.removed)
                .correlate(Campaign).scalar_subquery())
    return {
        "name": (Campaign.name, None, str),
        "status": (Campaign.status, None, str),
        "created_at": (None, None, None),
        "start_at": (func.coalesce(Campaign.start_at, _NO_START), dt.datetime.fromisoformat,
                     lambda v: _utc(v).isoformat() if isinstance(v, dt.datetime) else str(v)),
        "contacts_count": (contacts, int, str),
    }


async def list_campaigns(session: AsyncSession, workspace_id: str, *, statuses: list[CampaignStatus] | None,
                         q: str | None,
                         sort: str, cursor: str | None, limit: int) -> tuple[list[CampaignOut], str | None]:
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    sorts = _sorts()
    if key not in sorts:
        raise ValidationFailed(f"sort must be one of {sorted(sorts)} (prefix '-' for descending)",
                               errors=[{"loc": ["query", "sort"], "message": "unknown sort"}])
    sort_col, parse, text = sorts[key]
    stmt = select(Campaign, sort_col.label("sort_value") if sort_col is not None else Campaign.id)
    stmt = stmt.where(Campaign.workspace_id == workspace_id)
    if statuses:
        stmt = stmt.where(Campaign.status.in_(statuses))
    else:
        # Archived campaigns leave the main list; ask for status=archived to see them.
        stmt = stmt.where(Campaign.status != CampaignStatus.archived)
    if q:
        # autoescape: a "%" or "_" in the search text means itself, not a wildcard
        stmt = stmt.where(or_(Campaign.name.icontains(q, autoescape=True),
                              Campaign.notes.icontains(q, autoescape=True)))
    stmt = keyset(stmt, sort_col=sort_col, id_col=Campaign.id, cursor=cursor, descending=descending, limit=limit,
                  parse=parse)
    rows = list((await session.execute(stmt)).all())
    kept_rows, next_cursor = page(rows, limit, lambda r: (text(r[1]) if text is not None else None, r[0].id))
    kept = [r[0] for r in kept_rows]
    counts: dict[str, Any] = {}
    channels: dict[str, list[Channel]] = {c.id: [] for c in kept}
    if kept:
        ids = [c.id for c in kept]
        cq = (select(Enrollment.campaign_id, func.count(Enrollment.id))
              .where(Enrollment.campaign_id.in_(ids), Enrollment.status != EnrollmentStatus.removed)
              .group_by(Enrollment.campaign_id))
        counts = dict((await session.execute(cq)).all())
        chq = select(Channel).where(Channel.campaign_id.in_(ids)).order_by(Channel.position)
        for ch in (await session.execute(chq)).scalars():
            channels[ch.campaign_id].append(ch)
    return [await to_out(session, c, counts.get(c.id, 0), channels[c.id]) for c in kept], next_cursor
