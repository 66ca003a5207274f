"""Keys through the API and the CLI: listed without secrets, created once, revoked at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from agent.settings import Settings
from agent.states import Role
from tests.conftest import bearer, make_key

OVERTURE = str(Path(sys.executable).parent / "overture")


def _run(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The command as a user runs it, on the test's database (or on ``env``'s settings instead)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("OVERTURE_")}
    base["OVERTURE_DATA_DIR"] = str(settings.data_dir)
    if not settings.is_sqlite:
        base["OVERTURE_DATABASE_URL"] = settings.db_url
    return subprocess.run([OVERTURE, *args], env={**base, **env}, capture_output=True, text=True, timeout=120, check=False)


async def test_create_list_and_revoke_a_key_over_http(client, admin):
    r = await client.post("/v1/keys", json={"role": "approver", "name": "Dana"}, headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    assert set(created) == {"id", "key", "role", "name"} and created["role"] == "approver"
    new = bearer(created["key"])
    assert (await client.get("/v1/outreaches", headers=new)).status_code == 200

    listed = (await client.get("/v1/keys", headers=admin)).json()["items"]
    dana = next(k for k in listed if k["id"] == created["id"])
    assert dana["name"] == "Dana" and dana["revoked_at"] is None
    assert created["key"] not in (await client.get("/v1/keys", headers=admin)).text
    assert all("key" not in k and "key_hash" not in k for k in listed)

    gone = await client.delete(f"/v1/keys/{created['id']}", headers=admin)
    assert gone.status_code == 200 and gone.json()["revoked_at"] is not None
    # The same client, the very next request: no cache keeps the key alive.
    after = await client.get("/v1/outreaches", headers=new)
    assert after.status_code == 401 and after.json()["code"] == "unauthorized"


async def test_keys_are_admin_only_and_workspace_bound(client, admin):
    approver = bearer(await make_key(Role.approver))
    assert (await client.get("/v1/keys", headers=approver)).status_code == 403
    assert (await client.post("/v1/keys", json={"role": "admin"}, headers=approver)).status_code == 403
    other = bearer(await make_key(Role.admin, workspace="other"))
    mine = (await client.post("/v1/keys", json={"role": "viewer", "name": "v"}, headers=admin)).json()
    assert (await client.delete(f"/v1/keys/{mine['id']}", headers=other)).status_code == 404
    assert mine["id"] not in (await client.get("/v1/keys", headers=other)).text
    bad = await client.post("/v1/keys", json={"role": "owner"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["body", "role"]


def test_cli_keys_create_refuses_an_unknown_workspace_unless_asked(settings):
    assert _run(settings, "keys", "create", "--workspace", "demo", "--role", "admin",
                "--create-workspace").returncode == 0
    typo = _run(settings, "keys", "create", "--workspace", "Demo", "--role", "admin")
    assert typo.returncode == 2 and typo.stdout == ""
    assert len(typo.stderr.strip().splitlines()) == 1 and "--create-workspace" in typo.stderr
    spaces = _run(settings, "workspaces", "list", "--json")
    assert [w["name"] for w in json.loads(spaces.stdout)] == ["demo"]


def test_cli_keys_list_and_revoke(settings):
    key = _run(settings, "keys", "create", "--workspace", "acme", "--role", "viewer", "--name", "ci",
               "--create-workspace").stdout.strip()
    listed = json.loads(_run(settings, "keys", "list", "--workspace", "acme", "--json").stdout)
    assert [(k["name"], k["role"], k["revoked_at"]) for k in listed] == [("ci", "viewer", None)]
    assert key not in json.dumps(listed) and key.startswith(listed[0]["prefix"])
    revoked = _run(settings, "keys", "revoke", listed[0]["id"])
    assert revoked.returncode == 0, revoked.stderr
    again = json.loads(_run(settings, "keys", "list", "--workspace", "acme", "--json").stdout)
    assert again[0]["revoked_at"] is not None
    missing = _run(settings, "keys", "revoke", "key_nope")
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1


def test_cli_campaigns_list_and_version(settings):
    assert _run(settings, "keys", "create", "--workspace", "acme", "--role", "admin",
                "--create-workspace").returncode == 0
    assert json.loads(_run(settings, "campaigns", "list", "--json").stdout) == []
    version = _run(settings, "--version")
    assert version.returncode == 0 and version.stdout.startswith("overture 0.")
    unknown = _run(settings, "campaigns", "list", "--workspace", "nope")
    assert unknown.returncode == 2 and "nope" in unknown.stderr


def test_cli_without_a_reachable_database_says_so_in_one_line(settings, tmp_path):
    r = subprocess.run([OVERTURE, "campaigns", "list"], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
                       env={k: v for k, v in os.environ.items() if not k.startswith("OVERTURE_")})
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "OVERTURE_DATA_DIR" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "overture-data").exists()  # a read leaves no empty database behind
    bad = _run(settings, "workspaces", "list", OVERTURE_DATABASE_URL="postgresql://ops:hunter2@127.0.0.1:9/none")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert "OVERTURE_DATABASE_URL" in bad.stderr and "hunter2" not in bad.stderr and "Traceback" not in bad.stderr
