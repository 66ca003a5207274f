"""What the inbox page reads beyond the review API: its tabs, the page model (list, selection,
neighbours, names), the campaign menu with the number of approved drafts each would send, readable
names for the actors in a draft's history, and the changes an edit form actually makes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.errors import NotFound, OvertureError
from agent.send_guard import address_of
from agent.models import Campaign, Channel, Contact, Outreach, Workspace
from agent.states import CampaignStatus, OutreachStatus
from review import service
from review.schemas import InboxPage, OutreachDetail
from review.thread import ContactThread, contact_thread

S = OutreachStatus


@dataclass(frozen=True, slots=True)
class Tab:
    slug: str
    label: str
    statuses: tuple[OutreachStatus, ...]


# The inbox's tabs over the outreach statuses; the first is the queue itself.
TABS = (
    Tab("review", "To review", (S.awaiting_approval,)),
    Tab("approved", "Approved", (S.approved,)),
    Tab("queued", "Queued", (S.awaiting_execution, S.executing)),
    Tab("sent", "Sent", (S.sent, S.delivered)),
    Tab("rejected", "Rejected", (S.rejected, S.superseded)),
    Tab("failed", "Failed", (S.failed, S.unknown)),
)
TAB_BY_SLUG = {t.slug: t for t in TABS}


def tab_counts(counts: dict[str, int]) -> dict[str, int]:
    return {t.slug: sum(counts.get(s.value, 0) for s in t.statuses) for t in TABS}


@dataclass(frozen=True, slots=True)
class CampaignChoice:
    id: str
    name: str
    status: str
    approved: int  # approvals on record that "Execute all approved" would queue

    @property
    def can_execute(self) -> bool:
        return self.status == CampaignStatus.active and self.approved > 0


async def campaign_choices(session: AsyncSession, workspace_id: str) -> list[CampaignChoice]:
    """The workspace's campaigns that are not archived, newest first, with their approved counts."""
    approved = (select(Outreach.campaign_id, func.count().label("n")).where(
        Outreach.workspace_id == workspace_id, Outreach.status == S.approved, Outreach.approved_by.is_not(None))
        .group_by(Outreach.campaign_id).subquery())
    rows = (await session.execute(
        select(Campaign.id, Campaign.name, Campaign.status, func.coalesce(approved.c.n, 0))
        .outerjoin(approved, approved.c.campaign_id == Campaign.id)
        .where(Campaign.workspace_id == workspace_id, Campaign.status != CampaignStatus.archived)
        .order_by(Campaign.id.desc()).limit(500))).all()
    return [CampaignChoice(id=r[0], name=r[1], status=r[2], approved=int(r[3])) for r in rows]


actor_names = service.actor_names


# --- the page model -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class InboxView:
    """Everything the inbox template shows for one set of filters and one selected draft."""

    tab: Tab
    filters: dict[str, str]  # as applied: a cursor the list refused is dropped
    page: InboxPage
    selected: str | None
    detail: OutreachDetail | None
    missing: bool  # a draft was asked for by id and is not in this workspace
    after: str | None  # where the selection goes once the draft leaves the list
    prev_id: str | None
    next_id: str | None
    names: dict[str, str]
    campaigns: list[CampaignChoice]
    error: str | None  # why the filters were changed, if they were
    counts: dict[str, int]  # drafts per tab
    thread: ContactThread | None = None  # the selected draft's contact story
    me: str = ""  # the signed-in key's name
    workspace: str = ""  # the workspace's name


async def who_and_where(session: AsyncSession, workspace_id: str, key_id: str) -> tuple[str, str]:
    """The signed-in key's name and the workspace's, for the page header."""
    me = (await actor_names(session, workspace_id, [key_id])).get(key_id, "")
    workspace = (await session.execute(select(Workspace.name).where(Workspace.id == workspace_id))).scalar_one()
    return me, workspace


async def inbox_view(session: AsyncSession, workspace_id: str, filters: Mapping[str, str], *,
                     selected: str | None, limit: int, key_id: str = "") -> InboxView:
    """The page for a tab's filters: the list, the selected draft (the first one by default),
    its neighbours and history names, and the campaign menu."""
    filters = dict(filters)
    tab = TAB_BY_SLUG[filters.get("tab", "review")]
    error = None
    try:
        page = await service.list_inbox(session, workspace_id, statuses=list(tab.statuses),
                                        campaign_id=filters.get("campaign_id"), channel=filters.get("channel"),
                                        q=filters.get("q"), limit=limit, cursor=filters.get("cursor"))
    except OvertureError as exc:  # a hand-edited cursor, say
        filters = {k: v for k, v in filters.items() if k != "cursor"}
        error = exc.detail
        page = await service.list_inbox(session, workspace_id, statuses=list(tab.statuses),
                                        campaign_id=filters.get("campaign_id"), channel=filters.get("channel"),
                                        q=filters.get("q"), limit=limit)
    ids = [i.id for i in page.items]
    if selected is None and ids:
        selected = ids[0]
    detail: OutreachDetail | None = None
    missing = False
    if selected:
        try:
            detail = await service.get_detail(session, workspace_id, selected)
        except NotFound:
            missing = True
    position = ids.index(selected) if selected in ids else -1
    prev_id = ids[position - 1] if position > 0 else None
    next_id = ids[position + 1] if 0 <= position < len(ids) - 1 else None
    names = await actor_names(session, workspace_id, [e.actor for e in detail.history] +
                              [r.actor for r in detail.revisions] + [detail.approved_by or ""]) if detail else {}
    return InboxView(tab=tab, filters=filters, page=page, selected=selected, detail=detail, missing=missing,
                     after=next_id or prev_id, prev_id=prev_id, next_id=next_id, names=names,
                     campaigns=await campaign_choices(session, workspace_id), error=error,
                     counts=tab_counts(page.counts),
                     thread=await contact_thread(session, workspace_id, detail.id) if detail else None,
                     **dict(zip(("me", "workspace"), await who_and_where(session, workspace_id, key_id))))


async def recipients_of(session: AsyncSession, workspace_id: str, outreach_ids: list[str]) -> dict[str, str]:
    """Outreach ids -> the contact's name (or address), for a list of results."""
    if not outreach_ids:
        return {}
    rows = (await session.execute(service._joined(Outreach.id, Contact).where(
        Outreach.workspace_id == workspace_id, Outreach.id.in_(outreach_ids[:500])))).all()
    return {oid: service.contact_brief(c).name or c.email or c.phone or oid for oid, c in rows}


# --- execute all approved: what would go out ------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Recipient:
    name: str
    to: str
    channel: str
    provider: str
    scheduled_at: dt.datetime | None
    timezone: str | None


@dataclass(frozen=True, slots=True)
class ExecutePlan:
    choice: CampaignChoice
    recipients: list[Recipient]  # the first ``EXECUTE_SHOWN``, oldest first
    channels: dict[str, str]  # kind -> provider, for the channels these drafts go through

    @property
    def sandbox(self) -> list[str]:
        return [kind for kind, provider in self.channels.items() if provider == "sandbox"]


EXECUTE_SHOWN = 200


async def execute_plans(session: AsyncSession, workspace_id: str, choices: list[CampaignChoice]) -> list[ExecutePlan]:
    """Per campaign, who "Execute all approved" would reach, on which channel and provider, when."""
    plans = []
    for choice in choices:
        rows = (await session.execute(
            service._joined(Outreach, Contact, Channel.config).outerjoin(Channel, Channel.id == Outreach.channel_id)
            .where(Outreach.campaign_id == choice.id, Outreach.workspace_id == workspace_id,
                   Outreach.status == S.approved, Outreach.approved_by.is_not(None))
            .order_by(Outreach.scheduled_at, Outreach.id).limit(EXECUTE_SHOWN))).all()
        recipients, channels = [], {}
        for o, c, config in rows:
            provider = str((config or {}).get("provider") or "sandbox")
            channels[o.channel] = provider
            recipients.append(Recipient(name=" ".join(p for p in (c.first_name, c.last_name) if p),
                                        to=address_of(o.channel, c) or "(a task for your team)", channel=o.channel,
                                        provider=provider, scheduled_at=o.scheduled_at, timezone=c.timezone))
        plans.append(ExecutePlan(choice=choice, recipients=recipients, channels=channels))
    return plans


# --- the edit form --------------------------------------------------------------------------------

def zone(name: str | None) -> ZoneInfo:
    """The named time zone; UTC for none or one this machine does not know."""
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_input(value: dt.datetime | None, zone_name: str | None) -> str:
    """The value of a datetime-local field: the time in the zone, to the minute."""
    return value.astimezone(zone(zone_name)).strftime("%Y-%m-%dT%H:%M") if value else ""


async def edit_changes(session: AsyncSession, workspace_id: str, outreach_id: str, *, subject: str | None,
                       body: str, scheduled_local: str) -> dict[str, Any]:
    """The fields an edit form changes against the draft as stored (``subject`` None: no such field).

    The form shows the send time in the contact's zone to the minute, so only a different minute
    is a new time; browsers post CRLF line ends, which are not a change of the body.
    """
    current = await service.get_item(session, workspace_id, outreach_id)
    changes: dict[str, Any] = {}
    if subject is not None and subject != (current.subject or ""):
        changes["subject"] = subject
    if body.replace("\r\n", "\n") != current.body:
        changes["body"] = body.replace("\r\n", "\n")
    tz = current.contact.timezone
    try:
        raw = scheduled_local.strip()
        when = dt.datetime.fromisoformat(raw).replace(tzinfo=zone(tz)) if raw else None
    except ValueError:
        raise OvertureError("the send time is not a date and time", code="validation_failed", status=422)
    if when is not None and local_input(when, tz) != local_input(current.scheduled_at, tz):
        changes["scheduled_at"] = when
    return changes
