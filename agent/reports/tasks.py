"""Actors of the reports package (ids in, the service does the work)."""

from __future__ import annotations

from agent.queue import task
from agent.reports import exports


@task("reports.export")
async def export_campaign(job_id: str) -> None:
    await exports.run_job(job_id)
