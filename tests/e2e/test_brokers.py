"""The same import job through real brokers: the API enqueues on Redis or RabbitMQ and a separate
`overture worker` process does the work. Runs for each broker named in the environment
(`OVERTURE_TEST_REDIS_URL`, `OVERTURE_TEST_AMQP_URL`; `.ci/run` names both)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from agent.db import dispose_engines, session_scope
from agent.models import Outreach
from agent.settings import Settings, use_settings
from tests.conftest import bearer, make_key

BROKERS = [u for u in (os.environ.get("OVERTURE_TEST_REDIS_URL"), os.environ.get("OVERTURE_TEST_AMQP_URL")) if u]
OVERTURE = str(Path(sys.executable).parent / "overture")


@pytest.fixture(params=BROKERS)
def broker_url(request) -> str:
    return request.param


async def test_import_runs_on_a_separate_worker_through_the_broker(db_url, tmp_path, broker_url):
    from api.app import create_app

    settings = use_settings(Settings(_env_file=None, data_dir=tmp_path / "data", database_url=db_url,
                                     broker_url=broker_url))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OVERTURE_")}
    env.update(OVERTURE_DATA_DIR=str(settings.data_dir), OVERTURE_DATABASE_URL=db_url, OVERTURE_BROKER_URL=broker_url)
    worker = subprocess.Popen([OVERTURE, "worker", "--threads", "2"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    app = create_app(settings, run_worker=False)
    try:
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
                admin = bearer(await make_key("admin"))
                ready = (await client.get("/readyz")).json()
                assert ready["checks"] == {"database": "ok", "broker": "ok"}
                cid = (await client.post("/v1/campaigns", json={"name": "B"}, headers=admin)).json()["id"]
                csv = b"name,phone\nAnn Lee,212 555 0100\nBo Chen,+1 415 555 2671\nAnn Again,(212) 555-0100\n"
                job = (await client.post(f"/v1/campaigns/{cid}/contacts/import", files={"file": ("c.csv", csv)},
                                         headers=admin)).json()
                deadline = time.monotonic() + 60
                status = {}
                while time.monotonic() < deadline:
                    status = (await client.get(f"/v1/imports/{job['job_id']}", headers=admin)).json()
                    if status["status"] in ("succeeded", "failed"):
                        break
                    await _pause()
                assert status["status"] == "succeeded", status
                assert (status["added"], status["duplicates"]) == (2, 1)
                listed = (await client.get(f"/v1/campaigns/{cid}/contacts", headers=admin)).json()["items"]
                assert sorted(i["contact"]["phone"] for i in listed) == ["+12125550100", "+14155552671"]
    finally:
        worker.terminate()
        out, _ = worker.communicate(timeout=30)
        await dispose_engines()
    assert "worker consuming" in out


async def _pause() -> None:
    import anyio

    await anyio.sleep(0.2)  # polling with a deadline: the work happens in another process


def _start_worker(env: dict[str, str]) -> subprocess.Popen:
    os.makedirs(env["OVERTURE_DATA_DIR"], exist_ok=True)
    log = open(env["OVERTURE_DATA_DIR"] + f"/worker-{time.monotonic_ns()}.log", "w")  # noqa: SIM115 - kept for the failure report
    return subprocess.Popen([OVERTURE, "worker", "--threads", "2"], env=env, stdout=log, stderr=subprocess.STDOUT)


async def test_planning_run_survives_a_killed_worker_without_losing_or_repeating(db_url, tmp_path, broker_url):
    """Kill -9 a worker mid-run, start another: every contact gets exactly one draft, and the
    reconciler finds the dead worker's work without waiting for the broker to hand it back."""
    from api.app import create_app
    from planner import scheduler
    from tests.llm_server import LLMServer

    contacts = [{"name": f"Person{i} Test", "phone": f"+1 212 555 01{i:02d}"} for i in range(8)]
    with LLMServer(latency=0.4) as server:
        settings = use_settings(Settings(_env_file=None, data_dir=tmp_path / "data", database_url=db_url,
                                         broker_url=broker_url))
        env = {k: v for k, v in os.environ.items() if not k.startswith("OVERTURE_")}
        env.update(OVERTURE_DATA_DIR=str(settings.data_dir), OVERTURE_DATABASE_URL=db_url,
                   OVERTURE_BROKER_URL=broker_url, OVERTURE_MODEL="openai/test-model",
                   OVERTURE_MODEL_API_BASE=server.api_base, OVERTURE_MODEL_API_KEY="test",
                   OVERTURE_PLANNER_LEASE_S="2")
        app = create_app(settings, run_worker=False, run_scheduler=False)
        worker = _start_worker(env)
        try:
            async with app.router.lifespan_context(app):
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
                    admin = bearer(await make_key("admin"))
                    cid = (await client.post("/v1/campaigns", headers=admin, json={
                        "name": "Kill", "brief": "Invite customers to the May webinar.", "execution_mode": "manual",
                        "channels": [{"kind": "sms"}]})).json()["id"]
                    await client.post(f"/v1/campaigns/{cid}/contacts", json={"contacts": contacts}, headers=admin)
                    await client.post(f"/v1/campaigns/{cid}/go-live", headers=admin)
                    run_id = (await client.post(f"/v1/campaigns/{cid}/planning-runs", headers=admin)).json()["id"]

                    async def run_state() -> dict:
                        return (await client.get(f"/v1/planning-runs/{run_id}", headers=admin)).json()

                    deadline = time.monotonic() + 60
                    while (first := await run_state())["planned"] < 1:
                        assert first["failed"] == 0 and time.monotonic() < deadline, first
                        await _pause()
                    worker.kill()  # mid-run: some drafts written, some claimed, some only prefetched
                    worker.wait(timeout=30)
                    at_kill = await run_state()
                    assert at_kill["status"] == "running" and at_kill["planned"] < len(contacts)
                    worker = _start_worker(env)
                    deadline = time.monotonic() + 90
                    while (state := await run_state())["status"] != "succeeded":
                        assert time.monotonic() < deadline, state
                        await scheduler.reconcile()
                        await _pause()
                    assert (state["planned"], state["failed"], state["skipped"]) == (len(contacts), 0, 0)
                    rows = (await client.get(f"/v1/campaigns/{cid}/contacts", headers=admin)).json()["items"]
                    assert {r["status"] for r in rows} == {"awaiting_approval"}
                    async with session_scope() as s:
                        per_enrollment = (await s.execute(
                            select(Outreach.enrollment_id, func.count()).where(Outreach.campaign_id == cid)
                            .group_by(Outreach.enrollment_id))).all()
                    assert len(per_enrollment) == len(contacts) and {n for _, n in per_enrollment} == {1}
        finally:
            worker.kill()
            worker.wait(timeout=30)
            await dispose_engines()
