"""Planning runs driven from this process: ``overture plan`` starts a run, then either plans its
enrollments here (no worker shares an in-memory queue) or follows a worker's progress."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict, dataclass

from agent.campaigns.repository import get_any_campaign
from agent.db import session_scope
from agent.llm import get_config
from agent.states import JobStatus
from planner import repository, runs
from planner.service import plan_enrollment

# A run in one of these is still being worked on.
_UNDER_WAY = frozenset({JobStatus.queued, JobStatus.running})


@dataclass(frozen=True, slots=True)
class RunState:
    id: str
    status: str
    total: int
    planned: int
    failed: int
    skipped: int

    @property
    def done(self) -> int:
        return self.planned + self.failed + self.skipped

    @property
    def under_way(self) -> bool:
        return self.status in _UNDER_WAY

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class StartedRun:
    run_id: str
    workspace_id: str
    enrollment_ids: list[str]


async def start(campaign_id: str, *, actor: str, queue: bool) -> StartedRun:
    """A run over the campaign's plannable contacts (any workspace: the operator has no key)."""
    async with session_scope() as s:
        campaign = await get_any_campaign(s, campaign_id)
        run = await runs.create_run(s, campaign, contact_ids=None, actor=actor, queue=queue)
        return StartedRun(run.id, campaign.workspace_id, await repository.run_enrollment_ids(s, run.id))


async def state(workspace_id: str, run_id: str) -> RunState:
    async with session_scope() as s:
        run = await repository.get_run(s, workspace_id, run_id)
        return RunState(run.id, run.status, run.total, run.planned, run.failed, run.skipped)


async def plan_here(started: StartedRun, on_planned: Callable[[], None]) -> None:
    """Plan every enrollment of the run in this process, as many at once as the model layer allows."""
    gate = asyncio.Semaphore(get_config().concurrency)

    async def one(enrollment_id: str) -> None:
        async with gate:
            await plan_enrollment(enrollment_id, started.run_id)
        on_planned()

    await asyncio.gather(*(one(e) for e in started.enrollment_ids))


async def follow(started: StartedRun, on_progress: Callable[[int], None], *, every: float = 0.5) -> RunState:
    """Poll the run that workers are planning until it settles; ``on_progress`` gets the items done."""
    while True:
        now = await state(started.workspace_id, started.run_id)
        on_progress(now.done)
        if not now.under_way:
            return now
        await asyncio.sleep(every)
