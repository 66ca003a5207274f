"""Every job kind, its lease and what the reconciler does when its worker died: one table.

A worker killed mid-job (kill -9, a crashed host) leaves its row ``running``; nothing else will
ever touch it. Each kind says how long it may go unheard, how a dead worker shows, and what
recovery does: resume where that is safe, fail with a clear code otherwise, never leave it
``running``. The reconciler (``planner/scheduler.py``, every ``OVERTURE_RECONCILE_INTERVAL_S``
inside ``overture serve`` or ``overture scheduler``) calls each row's handler. Adding a kind is one row here
and its handler; ``tests/agent/test_recovery.py`` checks every row.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity
from agent.db import session_scope, utcnow
from agent.models import ImportJob
from agent.queue import send
from agent.settings import get_settings
from agent.states import JobStatus

log = logging.getLogger(__name__)

WORKER_LOST = "worker_lost"


@dataclass(frozen=True)
class JobRecovery:
    kind: str
    lease: Callable[[], dt.timedelta]  # how long the job may go unheard
    dead_worker: str  # how a dead worker shows in the rows
    recovery: str  # "resume", "fail" or "unknown" (a send: never resent, a person decides)
    handler: str  # the reconciler function that does it (dotted path; agent cannot import above itself)


def _seconds(name: str) -> Callable[[], dt.timedelta]:
    return lambda: dt.timedelta(seconds=getattr(get_settings(), name))


def _fixed(delta: dt.timedelta) -> Callable[[], dt.timedelta]:
    return lambda: delta


def _evaluation_lease() -> dt.timedelta:
    return dt.timedelta(minutes=10)  # evaluators.service.LEASE (the test checks they agree)


def _send_lease() -> dt.timedelta:
    return dt.timedelta(minutes=15)  # agent.executor.EXECUTING_LEASE (the test checks they agree)


JOB_RECOVERY: tuple[JobRecovery, ...] = (
    JobRecovery("import", _seconds("import_lease_s"),
                "import_jobs.status = running and lease_until (renewed on every progress write) has passed",
                "resume", "agent.recovery.recover_imports"),
    JobRecovery("plan", _seconds("planner_lease_s"),
                "enrollments.status = planning and lease_until (renewed by the planning worker) has passed",
                "resume", "planner.scheduler.reconcile"),
    JobRecovery("planning_run", _fixed(dt.timedelta(seconds=10)),
                "a live run whose queued items have not moved for the stall and none is under a live lease",
                "resume", "planner.scheduler.reconcile"),
    JobRecovery("evaluation", _evaluation_lease,
                "evaluations queued or running for longer than the lease",
                "fail", "evaluators.service.dispatch_due"),
    JobRecovery("export", _fixed(dt.timedelta(minutes=2)),  # agent.reports.exports.LEASE (the test checks)
                "export_jobs.status = running and lease_until (renewed after every batch written) has passed",
                "resume", "agent.reports.exports.recover_exports"),
    JobRecovery("send", _send_lease,
                "outreaches.status = executing for longer than the lease (the claim set updated_at)",
                "unknown", "planner.scheduler.settle_lost_sends"),
)


def row(kind: str) -> JobRecovery:
    return next(r for r in JOB_RECOVERY if r.kind == kind)


def claimable(model: Any, job_id: str, now: dt.datetime) -> Any:
    """A leased job (imports, exports) a worker may claim: queued, or running past its lease."""
    return (model.id == job_id) & or_(model.status == JobStatus.queued,
                                      (model.status == JobStatus.running) & (model.lease_until < now))


async def lost_jobs(s: AsyncSession, model: Any, now: dt.datetime) -> list[Any]:
    """The leased jobs whose worker died (running past the lease), locked for this reconciler."""
    return list((await s.execute(select(model).where(
        model.status == JobStatus.running, model.lease_until < now).with_for_update(skip_locked=True))).scalars())


async def recover_lost(model: Any, *, kind: str, task: str, now: dt.datetime, max_attempts: int,
                       resumable: Callable[[Any], bool] = lambda job: True,
                       failed_values: Callable[[Any], dict[str, Any]] = lambda job: {},
                       on_fail: Callable[[AsyncSession, Any], Awaitable[None]] | None = None) -> tuple[int, int]:
    """Requeue or fail the leased jobs of ``model`` whose worker died; returns (requeued, failed).

    A job claimed fewer than ``max_attempts`` times (and ``resumable``) goes back to ``queued``
    from its first row and ``task`` is sent for it after the commit; the claim's compare-and-set
    lets exactly one worker take it. Any other is failed with ``worker_lost`` (plus
    ``failed_values``), ``on_fail`` clears what it left, and a ``<kind>.failed`` event says so.
    Each move is guarded on the row still being ``running``, so a worker that comes back to
    life and finishes first wins.
    """
    requeued: list[str] = []
    failed = 0
    async with session_scope() as s:
        for job in await lost_jobs(s, model, now):
            stuck = (model.id == job.id) & (model.status == JobStatus.running)
            if job.attempts < max_attempts and resumable(job):
                await s.execute(update(model).where(stuck).values(status=JobStatus.queued, processed=0,
                                                                  lease_until=None))
                requeued.append(job.id)
                continue
            await s.execute(update(model).where(stuck).values(status=JobStatus.failed, finished_at=now,
                                                              lease_until=None, error_code=WORKER_LOST,
                                                              **failed_values(job)))
            if on_fail is not None:
                await on_fail(s, job)
            activity.record(s, workspace_id=job.workspace_id, actor=activity.SYSTEM, kind=f"{kind}.failed",
                            campaign_id=job.campaign_id, payload={"job_id": job.id, "error_code": WORKER_LOST})
            failed += 1
    for job_id in requeued:
        send(task, job_id=job_id)
    if requeued or failed:
        log.warning("reconciler requeued %d and failed %d %s job(s) whose worker died", len(requeued), failed, kind)
    return len(requeued), failed


async def recover_imports(now: dt.datetime | None = None, *, max_attempts: int = 3) -> tuple[int, int]:
    """Resume or fail imports whose worker died; returns (resumed, failed).

    An import writes every contact in one transaction at its end, so a dead worker committed
    nothing: resuming is re-running it from its first row. A job already claimed
    ``max_attempts`` times (a file that kills its worker) or whose upload is gone is failed.
    """
    return await recover_lost(
        ImportJob, kind="import", task="contacts.import", now=now or utcnow(), max_attempts=max_attempts,
        resumable=lambda job: job.content is not None,
        failed_values=lambda job: {"content": None, "errors": [{"loc": [], "message": (
            "The worker running this import stopped and it was not resumed; nothing was imported. "
            "Upload the file again.")}]})
