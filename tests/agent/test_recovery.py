"""``JOB_RECOVERY`` row by row: every job kind names a lease, a handler that exists, and a recovery."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from sqlalchemy import update

from agent import executor, recovery
from agent.reports import exports
from agent.db import session_scope, utcnow
from agent.models import ImportJob
from evaluators import service as evaluations
from planner import scheduler
from tests.conftest import drain_queue

KINDS = {"import", "plan", "planning_run", "evaluation", "send", "export"}


def test_every_job_kind_has_one_row():
    assert {r.kind for r in recovery.JOB_RECOVERY} == KINDS
    assert len(recovery.JOB_RECOVERY) == len(KINDS)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_row_names_a_real_handler_a_positive_lease_and_a_recovery(kind, settings):
    row = recovery.row(kind)
    module, _, name = row.handler.rpartition(".")
    assert callable(getattr(importlib.import_module(module), name))
    assert row.lease() > dt.timedelta(0)
    assert row.recovery in ("resume", "fail", "unknown") and row.dead_worker


def test_the_table_agrees_with_the_leases_the_handlers_use(settings):
    assert recovery.row("send").lease() == executor.EXECUTING_LEASE
    assert recovery.row("evaluation").lease() == evaluations.LEASE
    assert recovery.row("planning_run").lease() == scheduler.STALL
    assert recovery.row("plan").lease() == dt.timedelta(seconds=settings.planner_lease_s)
    assert recovery.row("import").lease() == dt.timedelta(seconds=settings.import_lease_s)
    assert recovery.row("export").lease() == exports.LEASE


async def _running_import(client, admin, *, attempts: int, content: bool = True) -> str:
    cid = (await client.post("/v1/campaigns", json={"name": "R"}, headers=admin)).json()["id"]
    # The import runs; the test then puts it back as a dead worker would leave it.
    r = await client.post(f"/v1/campaigns/{cid}/contacts/import", headers=admin,
                          files={"file": ("c.csv", b"name,phone\nAnn Lee,212 555 0100\n")})
    job_id = r.json()["job_id"]
    await drain_queue()
    async with session_scope() as s:
        await s.execute(update(ImportJob).where(ImportJob.id == job_id).values(
            status="running", lease_until=utcnow() - dt.timedelta(seconds=1), attempts=attempts, finished_at=None,
            **({} if content else {"content": None})))
    return job_id


async def test_import_row_resumes_a_dead_workers_import(client, admin):
    job_id = await _running_import(client, admin, attempts=1)
    async with session_scope() as s:  # the first run finished; give it its upload back as if it had died
        await s.execute(update(ImportJob).where(ImportJob.id == job_id).values(
            content=b"name,phone\nAnn Lee,212 555 0100\n"))
    assert await recovery.recover_imports() == (1, 0)
    await drain_queue()
    job = (await client.get(f"/v1/imports/{job_id}", headers=admin)).json()
    assert job["status"] == "succeeded"


async def test_import_row_fails_with_worker_lost_after_its_attempts(client, admin):
    job_id = await _running_import(client, admin, attempts=3)
    assert await recovery.recover_imports() == (0, 1)
    job = (await client.get(f"/v1/imports/{job_id}", headers=admin)).json()
    assert (job["status"], job["error_code"]) == ("failed", recovery.WORKER_LOST)


async def test_a_live_import_lease_is_left_alone(client, admin):
    job_id = await _running_import(client, admin, attempts=1)
    async with session_scope() as s:
        await s.execute(update(ImportJob).where(ImportJob.id == job_id).values(
            lease_until=utcnow() + dt.timedelta(minutes=1)))
    assert await recovery.recover_imports() == (0, 0)
    assert (await client.get(f"/v1/imports/{job_id}", headers=admin)).json()["status"] == "running"
