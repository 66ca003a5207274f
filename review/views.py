"""What the inbox page reads beyond the review API: its tabs, the campaign menu with the number of
approved drafts each would send, and readable names for the actors in a draft's history."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.activity import SYSTEM
from agent.models import ApiKey, Campaign, Outreach
from agent.states import CampaignStatus, OutreachStatus

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
        Outreach.workspace_id == workspace_id, Outreach.status == S.approved.value, Outreach.approved_by.is_not(None))
        .group_by(Outreach.campaign_id).subquery())
    rows = (await session.execute(
        select(Campaign.id, Campaign.name, Campaign.status, func.coalesce(approved.c.n, 0))
        .outerjoin(approved, approved.c.campaign_id == Campaign.id)
        .where(Campaign.workspace_id == workspace_id, Campaign.status != CampaignStatus.archived.value)
        .order_by(Campaign.id.desc()).limit(500))).all()
    return [CampaignChoice(id=r[0], name=r[1], status=r[2], approved=int(r[3])) for r in rows]


async def actor_names(session: AsyncSession, workspace_id: str, actors: Iterable[str]) -> dict[str, str]:
    """Key ids -> "label (ovk_abc…)"; the system actor reads as "Overture"."""
    ids = {a for a in actors if a and a != SYSTEM}
    names = {SYSTEM: "Overture"}
    if ids:
        rows = (await session.execute(select(ApiKey.id, ApiKey.name, ApiKey.prefix).where(
            ApiKey.workspace_id == workspace_id, ApiKey.id.in_(ids)))).all()
        names.update({r.id: f"{r.name} ({r.prefix}…)" if r.name else f"{r.prefix}…" for r in rows})
    return names
