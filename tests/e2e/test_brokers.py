"""The same import job through real brokers: the API enqueues on Redis or RabbitMQ and a separate
`overture worker` process does the work. Runs for each broker named in the environment
(`OVERTURE_TEST_REDIS_URL`, `OVERTURE_TEST_AMQP_URL`; `.ci/run` names both).

One file on purpose: its tests share the brokers' queue, so they must not run at the same time
(the suite distributes whole files across its workers).

The crash test: 1,000 approved emails executed by `overture worker` processes against a real SMTP
server while the test kills the worker with SIGKILL at random moments ten times and starts a new
one. Afterwards every outreach is `sent` and was received exactly once, or `unknown` (its worker
died mid-send) and received at most once; none is lost, none is received twice."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.policy
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from email.parser import BytesParser
from pathlib import Path

import anyio
import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select, update

from agent import bulk
from agent.db import dispose_engines, session_scope, utcnow
from agent.ids import new_id
from agent.models import Channel, Enrollment, Outreach
from agent.settings import Settings, use_settings
from agent.states import OutreachStatus
from planner import scheduler
from tests.conftest import PG_URL, _truncate, bearer, make_key, run_in_thread
from tests.flows import zone_at_noon

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
                assert ready["checks"] == {"database": "ok", "broker": "ok", "model": "ok"}
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


async def test_an_import_whose_worker_is_killed_mid_way_is_resumed_by_the_scheduler(db_url, tmp_path, broker_url):
    """Issue 16, item 1 with a broker: kill -9 the `overture worker` doing a 10,000-row import once
    it has processed 2,000 rows, start another worker, and the `overture scheduler` next to them
    resumes the job when its lease runs out: it ends ``succeeded`` with every row added once,
    never stuck ``running``."""
    from api.app import create_app

    rows = 10_000
    settings = use_settings(Settings(_env_file=None, data_dir=tmp_path / "data", database_url=db_url,
                                     broker_url=broker_url))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OVERTURE_")}
    env.update(OVERTURE_DATA_DIR=str(settings.data_dir), OVERTURE_DATABASE_URL=db_url, OVERTURE_BROKER_URL=broker_url,
               OVERTURE_IMPORT_LEASE_S="2", OVERTURE_RECONCILE_INTERVAL_S="0.5")
    csv = ("name,email,phone\n" + "".join(f"Person {i},p{i}@example.com,+1212555{i:04d}\n"
                                           for i in range(rows))).encode()
    app = create_app(settings, run_worker=False, run_scheduler=False)
    worker = _start_worker(env)
    ticker = subprocess.Popen([OVERTURE, "scheduler"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
                admin = bearer(await make_key("admin"))
                cid = (await client.post("/v1/campaigns", json={"name": "Kill import"}, headers=admin)).json()["id"]
                job_id = (await client.post(f"/v1/campaigns/{cid}/contacts/import", files={"file": ("c.csv", csv)},
                                            headers=admin)).json()["job_id"]
                deadline = time.monotonic() + 180
                while (at_kill := (await client.get(f"/v1/imports/{job_id}", headers=admin)).json())["processed"] < 2000:
                    assert at_kill["status"] in ("queued", "running") and time.monotonic() < deadline, at_kill
                    await anyio.sleep(0.02)
                worker.send_signal(signal.SIGKILL)
                worker.wait(timeout=30)
                worker = _start_worker(env)
                deadline = time.monotonic() + 180
                while (job := (await client.get(f"/v1/imports/{job_id}", headers=admin)).json())["status"] in (
                        "queued", "running"):
                    assert time.monotonic() < deadline, job
                    await _pause()
                listed = (await client.get(f"/v1/campaigns/{cid}/contacts", headers=admin,
                                           params={"limit": 1})).json()
    finally:
        for proc in (worker, ticker):
            proc.terminate()
            proc.wait(timeout=30)
        await dispose_engines()
    assert at_kill["status"] == "running" and 2000 <= at_kill["processed"] < rows, at_kill
    assert (job["status"], job["added"], job["processed"]) == ("succeeded", rows, rows), job
    assert listed["items"], listed
    print(f"killed at {at_kill['processed']} of {rows} processed; after the restart {job['status']}, "
          f"added {job['added']}")


async def _pause() -> None:
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


N = 1000
KILLS = 10
SENDER = {"kind": "email", "provider": "smtp", "from_address": "ann@clinic.example",
          "postal_address": "1 Main St, Springfield, IL 62701"}


DELIVERY_S = 0.02


class Receiver:
    """Counts every delivery by its Message-ID (thread-safe: aiosmtpd runs on its own thread)."""

    def __init__(self) -> None:
        self.ids: Counter[str] = Counter()
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message_id = BytesParser(policy=email.policy.default).parsebytes(envelope.original_content)["Message-ID"]
        with self.lock:
            self.ids[str(message_id).strip()] += 1
        # A real server takes a moment per message; without one, a quiet machine sent all 1,000
        # before the tenth kill and the kills no longer landed mid-send.
        await asyncio.sleep(DELIVERY_S)
        return "250 OK queued"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(env: dict[str, str]) -> subprocess.Popen:
    log = open(env["OVERTURE_DATA_DIR"] + f"/worker-{time.monotonic_ns()}.log", "w")  # noqa: SIM115 - kept for the failure report
    return subprocess.Popen([OVERTURE, "worker", "--threads", "4"], env=env, stdout=log, stderr=subprocess.STDOUT)


async def _approved(cid: str) -> list[str]:
    """N approved emails waiting for their send, written in bulk (planning 1,000 drafts through the
    model would only slow the test; the send path is what is under test)."""
    now = utcnow()
    async with session_scope() as s:
        enrollments = (await s.execute(select(Enrollment.id, Enrollment.workspace_id)
                                       .where(Enrollment.campaign_id == cid))).all()
        channel_id = (await s.execute(select(Channel.id).where(Channel.campaign_id == cid))).scalar_one()
        rows = [{"id": new_id("out"), "workspace_id": ws, "campaign_id": cid, "enrollment_id": eid,
                 "channel_id": channel_id, "channel": "email", "step": 1, "status": OutreachStatus.awaiting_execution,
                 "scheduled_at": now - dt.timedelta(minutes=1), "subject": "Spring webinar",
                 "body": "Hi,\nwould you like a seat at the May webinar?\n", "rationale": "", "model": "offline",
                 "prompt_version": "", "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0,
                 "idempotency_key": new_id("idk"), "unsubscribe_token": new_id("uns"), "approved_by": "key_test",
                 "approved_at": now, "send_attempts": 0, "version": 1, "created_at": now, "updated_at": now}
                for eid, ws in enrollments]
        await bulk.insert_rows(s, Outreach.__table__, rows)
        await s.execute(update(Enrollment).where(Enrollment.campaign_id == cid).values(status="awaiting_execution"))
    return [r["idempotency_key"] for r in rows]


async def _statuses(cid: str) -> dict[str, int]:
    async with session_scope() as s:
        return dict((await s.execute(select(Outreach.status, func.count()).where(Outreach.campaign_id == cid)
                                     .group_by(Outreach.status))).all())


@pytest.fixture
def crash_db(request, tmp_path) -> str:
    """PostgreSQL when the run has one (workers at scale share it), else a SQLite file: the test
    runs once per broker, not once per backend, to keep the suite's time."""
    if PG_URL:
        url = request.getfixturevalue("pg_migrated")
        request.addfinalizer(lambda: run_in_thread(_truncate, url))
        return url
    path = tmp_path / "crash.db"
    shutil.copy(request.getfixturevalue("sqlite_template"), path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.mark.slow
async def test_a_thousand_sends_survive_ten_kills_each_sent_once_or_unknown(crash_db, tmp_path, broker_url):
    db_url = crash_db
    from api.app import create_app

    receiver = Receiver()
    smtp = Controller(receiver, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    settings = use_settings(Settings(_env_file=None, data_dir=tmp_path / "data", database_url=db_url,
                                     broker_url=broker_url, public_url="https://overture.example",
                                     smtp_url=f"smtp://127.0.0.1:{smtp.port}"))
    os.makedirs(settings.data_dir, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OVERTURE_")}
    env.update(OVERTURE_DATA_DIR=str(settings.data_dir), OVERTURE_DATABASE_URL=db_url, OVERTURE_BROKER_URL=broker_url,
               OVERTURE_SMTP_URL=f"smtp://127.0.0.1:{smtp.port}", OVERTURE_PUBLIC_URL="https://overture.example")
    app = create_app(settings, run_worker=False, run_scheduler=False)
    worker = None
    rng = random.Random(20261202)
    try:
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
                admin = bearer(await make_key("admin"))
                cid = (await client.post("/v1/campaigns", headers=admin, json={
                    "name": "Crash", "brief": "Invite customers to the May webinar.", "execution_mode": "manual",
                    "channels": [SENDER]})).json()["id"]
                people = [{"name": f"P{i} Lee", "email": f"p{i}@example.com", "timezone": zone_at_noon()}
                          for i in range(N)]
                r = await client.post(f"/v1/campaigns/{cid}/contacts", json={"contacts": people}, headers=admin)
                assert r.json()["added"] == N, r.text
                assert (await client.post(f"/v1/campaigns/{cid}/go-live", headers=admin)).status_code == 200
            keys = await _approved(cid)
            assert await scheduler.dispatch_due(limit=2 * N) == N
            worker = _worker(env)
            kills = 0
            for _ in range(KILLS):  # at random moments while this worker is sending
                if not (await _statuses(cid)).get(OutreachStatus.awaiting_execution):
                    break  # everything left was claimed or sent: a kill now would land mid-nothing
                before = (await _statuses(cid)).get(OutreachStatus.sent, 0)
                deadline, nudged = time.monotonic() + 60, time.monotonic()
                while (await _statuses(cid)).get(OutreachStatus.sent, 0) == before:
                    assert time.monotonic() < deadline, "the worker sends nothing"
                    if time.monotonic() - nudged > 3:
                        # The dead worker's messages are still with the broker (Redis hands
                        # them back only after its heartbeat expires): the scheduler's duty.
                        await scheduler.dispatch_due(limit=2 * N)
                        nudged = time.monotonic()
                    await anyio.sleep(0.05)
                await anyio.sleep(rng.uniform(0, 0.5))
                worker.kill()
                worker.wait(timeout=30)
                kills += 1
                worker = _worker(env)
            assert kills >= KILLS // 2, f"only {kills} kills landed while sending"
            deadline, last, still = time.monotonic() + 240, None, time.monotonic()
            while True:
                counts = await _statuses(cid)
                if not counts.get(OutreachStatus.awaiting_execution) and not counts.get(OutreachStatus.executing):
                    break
                assert time.monotonic() < deadline, counts
                # What a killed worker held: a send interrupted after its claim is given up as
                # unknown (never sent again), and once the outbox stops moving the messages that
                # died with a worker are handed over again (what the scheduler does every tick).
                await scheduler.settle_lost_sends(lease=dt.timedelta(seconds=3))
                if counts != last:
                    last, still = counts, time.monotonic()
                elif time.monotonic() - still > 2:
                    await scheduler.dispatch_due(limit=2 * N)
                    still = time.monotonic()
                await anyio.sleep(0.25)
    finally:
        if worker is not None:
            worker.kill()
            worker.wait(timeout=30)
        await dispose_engines()
        smtp.stop()

    async with session_scope() as s:
        rows = (await s.execute(select(Outreach.idempotency_key, Outreach.status)
                                .where(Outreach.campaign_id == cid))).all()
    received = {mid: n for mid, n in receiver.ids.items()}
    by_key = {f"<{k}@clinic.example>": status for k, status in rows}
    assert len(rows) == N and set(by_key) == {f"<{k}@clinic.example>" for k in keys}
    assert set(received) <= set(by_key), "a message nobody asked for"
    assert max(received.values(), default=0) == 1, "a message received twice"
    sent = [mid for mid, status in by_key.items() if status == OutreachStatus.sent]
    unknown = [mid for mid, status in by_key.items() if status == OutreachStatus.unknown]
    assert len(sent) + len(unknown) == N, Counter(by_key.values())
    assert all(received.get(mid) == 1 for mid in sent)
    print(f"\n{broker_url.split(':')[0]}: {kills} kills; {len(sent)} sent once, {len(unknown)} unknown "
          f"({sum(mid in received for mid in unknown)} of those reached the server), 0 twice, 0 lost")
