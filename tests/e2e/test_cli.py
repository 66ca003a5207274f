"""The `overture` command line, run as a user runs it: real processes, real HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from agent.settings import Settings

OVERTURE = str(Path(sys.executable).parent / "overture")


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OVERTURE_")}
    env["OVERTURE_DATA_DIR"] = str(settings.data_dir)
    if not settings.is_sqlite:
        env["OVERTURE_DATABASE_URL"] = settings.db_url
    return env


def _run(settings: Settings, *args: str, input_: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OVERTURE, *args], env=_env(settings), capture_output=True, text=True, timeout=120,
                          input=input_)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _serve(settings: Settings, *extra: str) -> Iterator[tuple[str, list[str]]]:
    # uvicorn binds only after the app's start-up; a port picked free may be taken by then (other
    # processes on the machine open connections all the time), so a lost bind is tried again on
    # another port, and the server counts as up once uvicorn says it is listening.
    for _ in range(3):
        port = _free_port()
        proc = subprocess.Popen([OVERTURE, "serve", "--port", str(port), *extra], env=_env(settings),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines: list[str] = []
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line and proc.poll() is not None:
                    break
                lines.append(line)
                if "Uvicorn running on" in line:
                    yield f"http://127.0.0.1:{port}", lines
                    return
            else:
                raise AssertionError("serve did not start:\n" + "".join(lines))
            if "address already in use" not in "".join(lines):
                raise AssertionError("serve exited:\n" + "".join(lines))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    raise AssertionError("serve found no free port in three tries")


def test_keys_create_prints_only_the_key_and_it_authenticates(settings):
    result = _run(settings, "keys", "create", "--workspace", "acme", "--create-workspace", "--role", "viewer")
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    assert result.stdout.count("\n") == 1 and key.startswith("ovk_") and len(key) > 40
    with _serve(settings) as (base, _):
        ok = httpx.get(f"{base}/v1/campaigns", headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200 and ok.json() == {"items": [], "next_cursor": None}
        # A viewer key reads but may not create.
        denied = httpx.post(f"{base}/v1/campaigns", json={"name": "x"}, headers={"Authorization": f"Bearer {key}"})
        assert denied.status_code == 403 and denied.json()["code"] == "forbidden"


def test_keys_create_refuses_an_unknown_role(settings):
    result = _run(settings, "keys", "create", "--workspace", "acme", "--role", "owner")
    assert result.returncode != 0 and result.stdout == ""


def test_serve_demo_prints_inbox_and_a_working_admin_key_and_seeds_once(settings):
    with _serve(settings, "--demo") as (base, lines):
        text = "".join(lines)
        assert "/inbox" in text
        key = next(l.split("Admin key:")[1].strip() for l in lines if "Admin key:" in l)
        auth = {"Authorization": f"Bearer {key}"}
        listed = httpx.get(f"{base}/v1/campaigns", headers=auth).json()["items"]
        # the reminders plan live; the clinic days campaign brings two weeks of history (tests/e2e/test_demo.py)
        assert sorted(c["name"] for c in listed) == ["Annual check-up reminders", "Flu shot clinic days"]
        campaigns = [c for c in listed if c["name"] == "Annual check-up reminders"]
        assert campaigns[0]["contacts_count"] == 8 and campaigns[0]["manual_review"] is True
        assert campaigns[0]["status"] == "active"
        # The in-process scheduler and worker plan the demo by themselves: drafts await approval.
        deadline = time.monotonic() + 60
        while len(drafts := httpx.get(f"{base}/v1/outreaches", headers=auth).json()["items"]) < 8:
            assert time.monotonic() < deadline, drafts
            time.sleep(0.5)
        assert {d["status"] for d in drafts} == {"awaiting_approval"} and all("offline" in d["model"] for d in drafts)
        # The printed key signs in to the printed inbox, which lists the eight drafts.
        with httpx.Client(base_url=base, follow_redirects=True) as browser:
            signin = browser.get("/inbox")
            token = re.search(r'name="signin_token" value="([^"]+)"', signin.text).group(1)
            inbox = browser.post("/inbox/signin", data={"key": key, "signin_token": token})
        assert inbox.status_code == 200 and inbox.text.count('<li class="item') == 8
        assert "http" not in "".join(re.findall(r'(?:src|href)="([^"]*)"', inbox.text))  # every asset is local
        assert httpx.get(f"{base}/readyz").json()["checks"] == {"database": "ok", "broker": "ok", "model": "ok"}
    with _serve(settings, "--demo") as (base, lines):
        new_key = next(l.split("Admin key:")[1].strip() for l in lines if "Admin key:" in l)
        assert new_key != key
        assert httpx.get(f"{base}/v1/campaigns", headers=auth).status_code == 401  # old demo key revoked
        again = httpx.get(f"{base}/v1/campaigns", headers={"Authorization": f"Bearer {new_key}"}).json()["items"]
        assert sorted(c["contacts_count"] for c in again) == [8, 10]  # seeded once
        outreaches = httpx.get(f"{base}/v1/outreaches", headers={"Authorization": f"Bearer {new_key}"}).json()
        assert len(outreaches["items"]) == 8  # and planned once


def test_import_command_imports_with_progress_and_reports_rows(settings, tmp_path):
    key = _run(settings, "keys", "create", "--workspace", "acme", "--create-workspace", "--role", "admin").stdout.strip()
    with _serve(settings) as (base, _):
        auth = {"Authorization": f"Bearer {key}"}
        cid = httpx.post(f"{base}/v1/campaigns", json={"name": "Import", "channels": [{"kind": "sms"}]},
                         headers=auth).json()["id"]
        csv_file = tmp_path / "people.csv"
        csv_file.write_text("Full Name;Mobile;E-mail\nAnn Lee;(212) 555-0100;ann@example.com\n"
                            "Bo Chen;212.555.0100;\nNo Contact;;\n", encoding="cp1252")
        result = _run(settings, "import", cid, str(csv_file))
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        assert summary["status"] == "succeeded"
        assert (summary["added"], summary["duplicates"]) == (1, 1)
        assert [(e["row"], e["code"]) for e in summary["errors"]] == [(4, "missing_phone_or_email")]
        assert "importing people.csv" in result.stderr
        listed = httpx.get(f"{base}/v1/campaigns/{cid}/contacts", headers=auth).json()["items"]
        assert [i["contact"]["phone"] for i in listed] == ["+12125550100"]


def test_import_command_refuses_a_file_without_header_and_imports_nothing(settings, tmp_path):
    key = _run(settings, "keys", "create", "--workspace", "acme", "--create-workspace", "--role", "admin").stdout.strip()
    with _serve(settings) as (base, _):
        auth = {"Authorization": f"Bearer {key}"}
        cid = httpx.post(f"{base}/v1/campaigns", json={"name": "Import"}, headers=auth).json()["id"]
        csv_file = tmp_path / "noheader.csv"
        csv_file.write_text("Ann Lee,+12125550100,ann@example.com\n")
        result = _run(settings, "import", cid, str(csv_file))
        assert result.returncode == 1 and "csv_no_header" in result.stderr and result.stdout == ""
        assert httpx.get(f"{base}/v1/campaigns/{cid}", headers=auth).json()["contacts_count"] == 0


def test_worker_without_a_broker_url_explains_and_exits(settings):
    result = _run(settings, "worker")
    assert result.returncode == 2 and "OVERTURE_BROKER_URL" in result.stderr


@pytest.mark.parametrize("cmd", [["--help"], ["keys", "--help"]])
def test_help_lists_the_commands(settings, cmd):
    result = _run(settings, *cmd)
    assert result.returncode == 0
    for word in (["serve", "worker", "scheduler", "migrate", "keys", "import", "plan"] if cmd == ["--help"] else ["create"]):
        assert word in result.stdout


def test_plan_command_plans_in_process_and_reports_the_run(settings):
    key = _run(settings, "keys", "create", "--workspace", "acme", "--create-workspace", "--role", "admin").stdout.strip()
    with _serve(settings) as (base, _):
        auth = {"Authorization": f"Bearer {key}"}
        cid = httpx.post(f"{base}/v1/campaigns", headers=auth, json={
            "name": "Plan", "brief": "Invite customers to the May webinar.", "execution_mode": "manual",
            "channels": [{"kind": "email"}]}).json()["id"]
        httpx.post(f"{base}/v1/campaigns/{cid}/contacts", headers=auth, json={"contacts": [
            {"name": "Ann Lee", "email": "ann@example.com"}, {"name": "Bo Chen", "phone": "212 555 0100"}]})
        assert httpx.post(f"{base}/v1/campaigns/{cid}/go-live", headers=auth).status_code == 200
        result = _run(settings, "plan", cid, "--wait")
        assert result.returncode == 0, result.stderr
        run = json.loads(result.stdout)
        assert (run["status"], run["total"], run["planned"], run["failed"]) == ("succeeded", 2, 1, 1)
        assert "planning" in result.stderr
        rows = {i["contact"]["first_name"]: i for i in
                httpx.get(f"{base}/v1/campaigns/{cid}/contacts", headers=auth).json()["items"]}
        assert rows["Ann"]["status"] == "awaiting_approval"
        assert (rows["Bo"]["status"], rows["Bo"]["substatus"]) == ("error", "missing_email")


def test_plan_command_refuses_a_draft_campaign(settings):
    key = _run(settings, "keys", "create", "--workspace", "acme", "--create-workspace", "--role", "admin").stdout.strip()
    with _serve(settings) as (base, _):
        cid = httpx.post(f"{base}/v1/campaigns", headers={"Authorization": f"Bearer {key}"},
                         json={"name": "Draft"}).json()["id"]
        result = _run(settings, "plan", cid)
        assert result.returncode == 1 and "invalid_transition" in result.stderr


def test_scheduler_without_a_broker_url_explains_and_exits(settings):
    result = _run(settings, "scheduler")
    assert result.returncode == 2 and "OVERTURE_BROKER_URL" in result.stderr
