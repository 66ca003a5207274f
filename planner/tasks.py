"""Actors of the planner (ids in; the service does the work)."""

from __future__ import annotations

from agent.queue import task
from planner import service


@task("planner.plan_enrollment")
async def plan_enrollment(enrollment_id: str, run_id: str | None = None, instruction: str | None = None) -> None:
    await service.plan_enrollment(enrollment_id, run_id, instruction)
