"""Planner lookups: planning runs by id within a workspace, and the enrollments a run covers."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.lookup import get_in_workspace
from agent.models import PlanningRun, PlanningRunItem


async def get_run(session: AsyncSession, workspace_id: str, run_id: str) -> PlanningRun:
    return await get_in_workspace(session, PlanningRun, workspace_id, run_id, missing=f"no planning run {run_id}")


async def run_enrollment_ids(session: AsyncSession, run_id: str) -> list[str]:
    """The enrollments the run was asked to plan, in no particular order."""
    return list((await session.execute(select(PlanningRunItem.enrollment_id)
                                       .where(PlanningRunItem.run_id == run_id))).scalars())
