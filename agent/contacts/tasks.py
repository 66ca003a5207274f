"""Actors of the contacts package (ids in, the service does the work)."""

from __future__ import annotations

from agent.contacts import imports
from agent.queue import task


@task("contacts.import")
async def import_contacts(job_id: str) -> None:
    await imports.run_job(job_id)
