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

from agent.db import dispose_engines
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

    await anyio.sleep(0.1)  # polling with a deadline: the work happens in another process
