"""CSV imports as background jobs: refused whole up front, then normalised with progress and
written in one transaction, so an import lands completely or not at all."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity, recovery
from agent.contacts.csvfile import CsvRefused, ParsedCsv, parse_csv, row_input
from agent.contacts.service import AddResult, check_accepts_contacts, enroll, normalize_rows, workspace_region
from agent.db import session_scope, utcnow
from agent.errors import NotFound, OvertureError
from agent.ids import new_id
from agent.models import Campaign, ImportJob
from agent.queue import enqueue
from agent.settings import get_settings
from agent.states import JobStatus

log = logging.getLogger(__name__)
_WRITE_ATTEMPTS = 3
MAX_ATTEMPTS = 3  # claims of one job; a job that lost its worker this often is failed (agent/recovery.py)


def lease() -> dt.timedelta:
    """How long a running import may go unheard (every progress write renews it)."""
    return dt.timedelta(seconds=get_settings().import_lease_s)
Listener = Callable[[ImportJob], Awaitable[None] | None]


def refused(exc: CsvRefused) -> OvertureError:
    return OvertureError(exc.message, code=exc.code, status=exc.status, errors=exc.errors)


async def parse(data: bytes, mapping: dict[str, str] | None) -> ParsedCsv:
    try:
        return await anyio.to_thread.run_sync(parse_csv, data, mapping)
    except CsvRefused as exc:
        raise refused(exc) from None


async def create_job(session: AsyncSession, campaign: Campaign, data: bytes, *, filename: str,
                     mapping: dict[str, str] | None, actor: str, queue: bool = True) -> ImportJob:
    """Check the file as a whole (size, rows, header, mapping) and queue the job; nothing is imported yet.

    ``queue=False`` leaves the job for the caller to run (``overture import`` runs it in-process).
    """
    check_accepts_contacts(campaign)
    parsed = await parse(data, mapping)
    job = ImportJob(id=new_id("imp"), workspace_id=campaign.workspace_id, campaign_id=campaign.id,
                    status=JobStatus.queued, filename=filename[:255], content=data, mapping=mapping,
                    total=len(parsed.rows), created_by=actor, errors=[], warnings=[])
    session.add(job)
    await session.flush()
    activity.record(session, workspace_id=campaign.workspace_id, actor=actor, kind="import.queued",
                    campaign_id=campaign.id, payload={"job_id": job.id, "filename": job.filename, "rows": job.total})
    if queue:
        enqueue(session, "contacts.import", job_id=job.id)
    return job


async def _claim(job_id: str) -> tuple[ImportJob, str] | None:
    """Compare-and-set queued (or an expired running lease) -> running, and the claimed job with its
    workspace's phone region read in the same transaction; None if another run owns it."""
    now = utcnow()
    async with session_scope() as s:
        moved = await s.execute(
            update(ImportJob).where(recovery.claimable(ImportJob, job_id, now)).values(status=JobStatus.running, started_at=now, processed=0, lease_until=now + lease(),
                    attempts=ImportJob.attempts + 1))
        if moved.rowcount != 1:
            return None
        job = await s.get_one(ImportJob, job_id)
        return job, await workspace_region(s, job.workspace_id)


async def _finish(s: AsyncSession, job: ImportJob, status: JobStatus, result: AddResult | None,
                  error_code: str | None = None, error: dict[str, Any] | None = None) -> None:
    values: dict[str, Any] = {"status": status.value, "finished_at": utcnow(), "content": None,
                              "error_code": error_code}
    if result is not None:
        values.update(processed=job.total, added=result.added, updated=result.updated,
                      duplicates=result.duplicates, errors=result.errors, warnings=result.warnings)
    elif error is not None:
        values["errors"] = [error]
    await s.execute(update(ImportJob).where(ImportJob.id == job.id).values(**values))
    activity.record(s, workspace_id=job.workspace_id, actor=job.created_by or activity.SYSTEM,
                    kind=f"import.{status.value}", campaign_id=job.campaign_id,
                    payload={"job_id": job.id, "error_code": error_code,
                             **({"added": result.added, "updated": result.updated, "duplicates": result.duplicates,
                                 "errors": len(result.errors)} if result else {})})


async def run_job(job_id: str, on_progress: Callable[[int, int], Awaitable[None]] | None = None) -> None:
    """The job itself (the ``contacts.import`` actor and ``overture import`` both call it)."""
    claimed = await _claim(job_id)
    if claimed is None:
        return
    try:
        await _run_claimed(*claimed, on_progress)
    except Exception:
        # Without this the job would stay "running": a retried message cannot claim it again.
        log.exception("import %s crashed", job_id)
        async with session_scope() as s:
            job = await s.get(ImportJob, job_id)
            if job is not None and job.status == JobStatus.running:
                await _finish(s, job, JobStatus.failed, None, "import_crashed",
                              {"loc": [], "message": "The import stopped on an unexpected error and imported nothing; "
                                                     "upload the file again."})


async def _run_claimed(job: ImportJob, region: str, on_progress: Callable[[int, int], Awaitable[None]] | None) -> None:
    job_id = job.id
    try:
        parsed = parse_csv(job.content or b"", job.mapping)
    except CsvRefused as exc:  # the upload check passed, so only a changed limit can land here
        async with session_scope() as s:
            await _finish(s, job, JobStatus.failed, None, exc.code, {"loc": [], "message": exc.message})
        return

    async def progress(n: int) -> None:
        async with session_scope() as s:
            await s.execute(update(ImportJob).where(ImportJob.id == job_id)
                            .values(processed=n, lease_until=utcnow() + lease()))
        if on_progress is not None:
            await on_progress(n, job.total)

    normalised = AddResult()
    rows = await normalize_rows(((rec, row_input(parsed, values)) for rec, values in parsed.rows), region=region,
                                result=normalised, progress=progress)
    for attempt in range(1, _WRITE_ATTEMPTS + 1):
        result = AddResult(errors=list(normalised.errors), warnings=list(normalised.warnings))
        try:
            async with session_scope() as s:
                # A write first: on SQLite it takes the database's write lock before the dedup reads,
                # so no API add can commit between our lookup and our insert (SQLite writers queue on
                # one lock; PostgreSQL only locks this job's row). It renews the lease too.
                await s.execute(update(ImportJob).where(ImportJob.id == job.id)
                                .values(lease_until=utcnow() + lease()))
                # Locked, so a cancel cannot slip in between this check and the commit.
                campaign = (await s.execute(select(Campaign).where(Campaign.id == job.campaign_id)
                                            .with_for_update())).scalar_one_or_none()
                try:
                    if campaign is None:
                        raise NotFound("the campaign was deleted")
                    check_accepts_contacts(campaign)
                except OvertureError as exc:
                    await _finish(s, job, JobStatus.failed, None, exc.code, {"loc": [], "message": exc.detail})
                    return
                # One event for the import (contacts.added with the job id), not one per contact.
                await enroll(s, campaign, rows, actor=job.created_by or activity.SYSTEM, source="csv", result=result,
                             batch={"job_id": job.id})
                await _finish(s, job, JobStatus.succeeded, result)
            break
        except IntegrityError:
            # Another writer added one of these contacts meanwhile; dedup again against it.
            if attempt == _WRITE_ATTEMPTS:
                raise
            log.info("import %s raced another writer; retrying (%d)", job_id, attempt)
    if on_progress is not None:
        await on_progress(job.total, job.total)
