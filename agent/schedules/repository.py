"""Schedule lookups, each scoped to a workspace, and the campaigns that link one."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.lookup import get_in_workspace
from agent.models import Campaign, Schedule


async def get_schedule(session: AsyncSession, workspace_id: str, schedule_id: str, *,
                       for_update: bool = False) -> Schedule:
    return await get_in_workspace(session, Schedule, workspace_id, schedule_id, missing=f"no schedule {schedule_id}",
                                  for_update=for_update)


async def find_schedule(session: AsyncSession, workspace_id: str, schedule_id: str) -> Schedule | None:
    return (await session.execute(select(Schedule).where(Schedule.id == schedule_id,
                                                         Schedule.workspace_id == workspace_id))).scalar_one_or_none()


async def named(session: AsyncSession, workspace_id: str, name: str) -> Schedule | None:
    return (await session.execute(select(Schedule).where(Schedule.workspace_id == workspace_id,
                                                         Schedule.name == name))).scalar_one_or_none()


async def list_schedules(session: AsyncSession, workspace_id: str) -> list[Schedule]:
    q = select(Schedule).where(Schedule.workspace_id == workspace_id).order_by(Schedule.name, Schedule.id)
    return list((await session.execute(q)).scalars())


async def campaign_counts(session: AsyncSession, schedule_ids: list[str]) -> dict[str, int]:
    if not schedule_ids:
        return {}
    q = (select(Campaign.schedule_id, func.count(Campaign.id)).where(Campaign.schedule_id.in_(schedule_ids))
         .group_by(Campaign.schedule_id))
    return dict((await session.execute(q)).all())


async def linked_campaigns(session: AsyncSession, schedule_id: str, *, for_update: bool = False) -> list[Campaign]:
    q = select(Campaign).where(Campaign.schedule_id == schedule_id).order_by(Campaign.id)
    if for_update:
        q = q.with_for_update()
    return list((await session.execute(q)).scalars())
