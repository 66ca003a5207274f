"""Campaign exports as background jobs: queued by the API, written by the ``reports.export`` actor.

The file is written to a temporary file batch by batch (constant memory, see export_files.py),
then stored in the database in 1 MB chunks in the same transaction that marks the job
``succeeded``, so a download never sees half a file and any API process can serve it. A running
job renews its lease after every batch; a job whose worker died is started again from the top
(an export only reads, so a second run is harmless) or, after ``MAX_ATTEMPTS``, failed with
``worker_lost`` (agent/recovery.py, row ``export``).
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity
from agent.db import session_scope, utcnow
from agent.errors import Conflict, NotFound
from agent.ids import new_id
from agent.models import Campaign, ExportChunk, ExportJob
from agent.queue import enqueue
from agent.recovery import claimable, recover_lost
from agent.reports import export_rows
from agent.reports.export_files import ExportFormat, open_writer
from agent.states import JobStatus

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=2)  # agent/recovery.py's row says the same (the test checks they agree)
MAX_ATTEMPTS = 3
CHUNK = 1024 * 1024
CRASHED = "export_crashed"


async def create_job(session: AsyncSession, campaign: Campaign, fmt: ExportFormat, *, actor: str) -> ExportJob:
    job = ExportJob(id=new_id("exp"), workspace_id=campaign.workspace_id, campaign_id=campaign.id,
                    format=fmt.value, status=JobStatus.queued, created_by=actor)
    session.add(job)
    await session.flush()
    activity.record(session, workspace_id=campaign.workspace_id, actor=actor, kind="export.queued",
                    campaign_id=campaign.id, payload={"job_id": job.id, "format": fmt.value})
    enqueue(session, "reports.export", job_id=job.id)
    return job


async def get_job(session: AsyncSession, workspace_id: str, job_id: str) -> ExportJob:
    job = (await session.execute(select(ExportJob).where(
        ExportJob.id == job_id, ExportJob.workspace_id == workspace_id))).scalar_one_or_none()
    if job is None:
        raise NotFound("no such export")
    return job


async def history(session: AsyncSession, campaign_id: str, limit: int = 50) -> list[ExportJob]:
    """The campaign's exports, newest first."""
    return list((await session.execute(select(ExportJob).where(ExportJob.campaign_id == campaign_id)
                                       .order_by(ExportJob.created_at.desc(), ExportJob.id.desc())
                                       .limit(limit))).scalars())


def check_ready(job: ExportJob) -> None:
    if job.status != JobStatus.succeeded:
        raise Conflict(f"the export is {job.status}; download it once it has succeeded", code="export_not_ready")


async def file_chunks(job_id: str) -> AsyncIterator[bytes]:
    """The stored file, one chunk (and one short read) at a time."""
    seq = 0
    while True:
        async with session_scope() as s:
            data = (await s.execute(select(ExportChunk.data).where(
                ExportChunk.export_id == job_id, ExportChunk.seq == seq))).scalar_one_or_none()
        if data is None:
            return
        yield data
        seq += 1


# -- the job ---------------------------------------------------------------------------------

async def _claim(job_id: str) -> int | None:
    """Compare-and-set queued (or a dead running lease) -> running; the attempt number, or None."""
    now = utcnow()
    async with session_scope() as s:
        moved = await s.execute(
            update(ExportJob).where(claimable(ExportJob, job_id, now)).values(status=JobStatus.running, started_at=now, processed=0, lease_until=now + LEASE,
                    attempts=ExportJob.attempts + 1))
        if moved.rowcount != 1:
            return None
        # A dead attempt may have left its chunks half written; this run writes them all again.
        await s.execute(delete(ExportChunk).where(ExportChunk.export_id == job_id))
        return (await s.execute(select(ExportJob.attempts).where(ExportJob.id == job_id))).scalar_one()


def _mine(job_id: str, attempt: int) -> Any:
    return (ExportJob.id == job_id) & (ExportJob.status == JobStatus.running) & (ExportJob.attempts == attempt)


async def run_job(job_id: str) -> None:
    """The ``reports.export`` actor's work (idempotent: a second message finds nothing to claim)."""
    attempt = await _claim(job_id)
    if attempt is None:
        return
    try:
        await _run_claimed(job_id, attempt)
    except Exception:
        log.exception("export %s crashed", job_id)
        async with session_scope() as s:
            await _finish(s, job_id, attempt, JobStatus.failed, error_code=CRASHED)


async def _run_claimed(job_id: str, attempt: int) -> None:
    async with session_scope() as s:
        job = await s.get(ExportJob, job_id)
        campaign = await s.get(Campaign, job.campaign_id) if job else None
        if job is None or campaign is None:
            return
        fmt = ExportFormat(job.format)
    total = await export_rows.count(campaign.id)
    shape = await export_rows.layout(campaign)
    with tempfile.TemporaryDirectory(prefix="overture-export-") as tmp:
        path = Path(tmp) / f"export.{fmt.value}"
        writer = await anyio.to_thread.run_sync(open_writer, fmt, path, shape)
        written = 0
        async for rows in export_rows.batches(campaign, shape):
            await anyio.to_thread.run_sync(writer.write, rows)
            written += len(rows)
            async with session_scope() as s:
                alive = await s.execute(update(ExportJob).where(_mine(job_id, attempt)).values(
                    total=max(total, written), processed=written, lease_until=utcnow() + LEASE))
            if alive.rowcount != 1:  # recovery gave the job to another run, or failed it
                await anyio.to_thread.run_sync(writer.close)
                return
        await anyio.to_thread.run_sync(writer.close)
        async with session_scope() as s:
            size = await _store(s, job_id, path)
            await _finish(s, job_id, attempt, JobStatus.succeeded, rows=written, size=size)


async def _store(s: AsyncSession, job_id: str, path: Path) -> int:
    size = 0
    with path.open("rb") as f:
        for seq, data in enumerate(iter(lambda: f.read(CHUNK), b"")):
            await s.execute(insert(ExportChunk).values(id=new_id("exc"), export_id=job_id, seq=seq, data=data))
            size += len(data)
    return size


async def _finish(s: AsyncSession, job_id: str, attempt: int, status: JobStatus, *, rows: int | None = None,
                  size: int = 0, error_code: str | None = None) -> None:
    values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "lease_until": None,
                              "error_code": error_code, "size_bytes": size}
    if rows is not None:
        values.update(processed=rows, total=rows)
    moved = await s.execute(update(ExportJob).where(_mine(job_id, attempt)).values(**values))
    if moved.rowcount != 1:
        return
    job = await s.get(ExportJob, job_id)
    activity.record(s, workspace_id=job.workspace_id, actor=job.created_by or activity.SYSTEM,
                    kind=f"export.{status.value}", campaign_id=job.campaign_id,
                    payload={"job_id": job_id, "format": job.format, "rows": rows, "error_code": error_code})


async def recover_exports(now: dt.datetime | None = None) -> tuple[int, int]:
    """Restart or fail exports whose worker died; returns (restarted, failed).

    An export only reads, so restarting it from the first row is safe. A job claimed
    ``MAX_ATTEMPTS`` times (one that kills its worker) is failed and its written chunks dropped.
    """
    async def drop_chunks(s: AsyncSession, job: ExportJob) -> None:
        await s.execute(delete(ExportChunk).where(ExportChunk.export_id == job.id))

    return await recover_lost(ExportJob, kind="export", task="reports.export", now=now or utcnow(),
                              max_attempts=MAX_ATTEMPTS, on_fail=drop_chunks)
