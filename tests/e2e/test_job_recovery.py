"""Issue 16, item 1: kill -9 ``overture serve`` mid-import (SQLite, in-process worker), restart it,
and the reconciler resumes the job within the lease + interval instead of leaving it ``running``."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

OVERTURE = str(Path(sys.executable).parent / "overture")
LEASE_S, INTERVAL_S = 2.0, 0.5
PENDING_S = 2.0  # an Idempotency-Key whose request never finished may be retried after this


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OVERTURE_")}
    env.update(OVERTURE_DATA_DIR=str(data_dir), OVERTURE_IMPORT_LEASE_S=str(LEASE_S),
               OVERTURE_RECONCILE_INTERVAL_S=str(INTERVAL_S), OVERTURE_IDEMPOTENCY_PENDING_S=str(PENDING_S))
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _serve(data_dir: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    port = _free_port()
    log = open(data_dir.parent / f"serve-{port}.log", "w+")
    proc = subprocess.Popen([OVERTURE, "serve", "--port", str(port)], env=_env(data_dir), stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "Uvicorn running on" not in Path(log.name).read_text():
            assert proc.poll() is None and time.monotonic() < deadline, Path(log.name).read_text()
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
        log.close()


def _csv(rows: int) -> bytes:
    lines = ["name,email,phone"] + [f"Person {i},p{i}@example.com,+1212555{i:04d}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def test_a_killed_serve_mid_import_is_resumed_after_restart(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    key = subprocess.run([OVERTURE, "keys", "create", "--workspace", "acme", "--create-workspace", "--role", "admin"], env=_env(data_dir),
                         capture_output=True, text=True, timeout=120, check=True).stdout.strip()
    auth = {"Authorization": f"Bearer {key}"}
    with _serve(data_dir) as (url, proc):
        with httpx.Client(base_url=url, headers=auth, timeout=30) as http:
            cid = http.post("/v1/campaigns", json={"name": "Crash"}).json()["id"]
            r = http.post(f"/v1/campaigns/{cid}/contacts/import", files={"file": ("c.csv", _csv(10_000))})
            assert r.status_code == 202, r.text
            job_id = r.json()["job_id"]
            deadline = time.monotonic() + 120
            while (job := http.get(f"/v1/imports/{job_id}").json())["processed"] < 3000:
                assert job["status"] in ("queued", "running") and time.monotonic() < deadline, job
                time.sleep(0.02)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
    at_kill = job
    assert at_kill["status"] == "running" and 3000 <= at_kill["processed"] < 10_000, at_kill
    with _serve(data_dir) as (url, _):
        with httpx.Client(base_url=url, headers=auth, timeout=30) as http:
            restarted = time.monotonic()
            while (job := http.get(f"/v1/imports/{job_id}").json())["status"] in ("queued", "running"):
                assert time.monotonic() - restarted < LEASE_S + INTERVAL_S + 60, job
                time.sleep(0.2)
            contacts = http.get(f"/v1/campaigns/{cid}/contacts", params={"limit": 1}).json()
    # Resumed from its last committed row (nothing was committed: the write is all-or-nothing).
    assert (job["status"], job["added"], job["processed"]) == ("succeeded", 10_000, 10_000), job
    print(f"at kill: processed {at_kill['processed']}; after restart: {job['status']}, added {job['added']}, "
          f"{contacts.get('total', '?')} contacts")


def test_a_request_killed_mid_way_with_an_idempotency_key_can_be_retried_after_restart(tmp_path):
    """kill -9 while a POST with an Idempotency-Key is being handled (its record is pending), then
    restart: the retry is not blocked by the dead request's record (it expires after PENDING_S),
    succeeds, and the effect exists once; a further retry replays the stored answer."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    key = subprocess.run([OVERTURE, "keys", "create", "--workspace", "acme", "--create-workspace", "--role", "admin"],
                         env=_env(data_dir), capture_output=True, text=True, timeout=120, check=True).stdout.strip()
    auth = {"Authorization": f"Bearer {key}"}
    people = {"contacts": [{"name": f"Person {i}", "email": f"p{i}@example.com"} for i in range(1000)]}
    retry = {**auth, "Idempotency-Key": "add-1000"}
    with _serve(data_dir) as (url, proc):
        with httpx.Client(base_url=url, headers=auth, timeout=30) as http:
            cid = http.post("/v1/campaigns", json={"name": "Crash"}).json()["id"]

        def send() -> None:
            try:
                httpx.post(f"{url}/v1/campaigns/{cid}/contacts", json=people, headers=retry, timeout=30)
            except httpx.HTTPError:
                pass  # the server dies under it

        sender = threading.Thread(target=send)
        sender.start()
        db = sqlite3.connect(data_dir / "overture.db", timeout=5)
        deadline = time.monotonic() + 30
        while not db.execute("SELECT count(*) FROM idempotency_records WHERE status_code IS NULL").fetchone()[0]:
            assert time.monotonic() < deadline and sender.is_alive(), "the request never showed as in progress"
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        sender.join(timeout=30)
        at_kill = db.execute("SELECT count(*) FROM enrollments").fetchone()[0]
        pending = db.execute("SELECT count(*) FROM idempotency_records WHERE status_code IS NULL").fetchone()[0]
        db.close()
    assert pending == 1 and at_kill in (0, 1000), (pending, at_kill)  # all or nothing, record left pending
    with _serve(data_dir) as (url, _):
        with httpx.Client(base_url=url, headers=retry, timeout=60) as http:
            time.sleep(PENDING_S)
            first = http.post(f"/v1/campaigns/{cid}/contacts", json=people)
            assert first.status_code == 200, first.text  # not 409 idempotency_in_progress
            again = http.post(f"/v1/campaigns/{cid}/contacts", json=people)
            assert again.status_code == 200 and again.headers.get("idempotent-replayed") == "true", again.text
            assert again.json() == first.json()
            count = http.get(f"/v1/campaigns/{cid}").json()["contacts_count"]
    assert count == 1000, count  # once, whether or not the killed request had committed
    print(f"at kill: {at_kill} enrollments committed, idempotency record pending; after restart the retry "
          f"answered {first.status_code} (added {first.json()['added']}, duplicates {first.json()['duplicates']}), "
          f"{count} contacts")
