"""Keys, roles and workspace isolation over HTTP."""

import pytest
from sqlalchemy import update

from agent.auth import create_key, get_or_create_workspace, hash_key, revoke_keys
from agent.db import session_scope, utcnow
from agent.models import ApiKey
from tests.conftest import bearer, make_key
from tests.flows import assert_problem, create, fetch, listed

CSV = {"file": ("people.csv", b"name,phone\nBob Ray,415 555 2671\n", "text/csv")}
ADD = {"contacts": [{"name": "Cy Doe", "email": "cy@example.com"}]}

# (method, path, request kwargs, the admin's answer on a fresh draft with two channels and one contact)
ENDPOINTS = [
    ("GET", "/v1/campaigns/{cid}", {}, 200),
    ("PATCH", "/v1/campaigns/{cid}", {"json": {"name": "taken over"}}, 200),
    ("DELETE", "/v1/campaigns/{cid}?confirm=true", {}, 204),
    ("POST", "/v1/campaigns/{cid}/go-live", {}, 200),
    ("POST", "/v1/campaigns/{cid}/pause", {}, 409),
    ("POST", "/v1/campaigns/{cid}/resume", {}, 409),
    ("POST", "/v1/campaigns/{cid}/complete", {}, 409),
    ("POST", "/v1/campaigns/{cid}/cancel", {}, 200),
    ("POST", "/v1/campaigns/{cid}/archive", {}, 200),
    ("POST", "/v1/campaigns/{cid}/duplicate", {}, 201),
    ("POST", "/v1/campaigns/{cid}/channels/{chid}/start", {}, 200),
    ("POST", "/v1/campaigns/{cid}/channels/{chid}/pause", {}, 409),
    ("POST", "/v1/campaigns/{cid}/channels/{chid}/resume", {}, 409),
    ("POST", "/v1/campaigns/{cid}/channels/{chid}/stop", {}, 200),
    ("GET", "/v1/campaigns/{cid}/contacts", {}, 200),
    ("POST", "/v1/campaigns/{cid}/contacts", {"json": ADD}, 200),
    ("POST", "/v1/campaigns/{cid}/contacts/import", {"files": CSV}, 202),
    ("GET", "/v1/campaigns/{cid}/contacts/{conid}", {}, 200),
    ("DELETE", "/v1/campaigns/{cid}/contacts/{conid}", {}, 204),
    ("GET", "/v1/campaigns/{cid}/activity", {}, 200),
]
READS = [e for e in ENDPOINTS if e[0] == "GET"]
WRITES = [("POST", "/v1/campaigns", {"json": {"name": "mine"}}, 201)] + [e for e in ENDPOINTS if e[0] != "GET"]


def ids(endpoint):
    return f"{endpoint[0]} {endpoint[1]}"


@pytest.fixture
async def target(client, admin):
    """An acme draft with two channels and one contact: ids by path placeholder, and its JSON."""
    campaign = await create(client, admin)
    r = await client.post(f"/v1/campaigns/{campaign['id']}/contacts", headers=admin,
                          json={"contacts": [{"name": "Ann Lee", "email": "ann@example.com"}]})
    assert r.status_code == 200, r.text
    r = await client.get(f"/v1/campaigns/{campaign['id']}/contacts", headers=admin)
    names = {"cid": campaign["id"], "chid": campaign["channels"][0]["id"], "conid": r.json()["items"][0]["contact"]["id"]}
    return names, await fetch(client, admin, campaign["id"])


async def call(client, endpoint, names, headers):
    method, path, kwargs, _ = endpoint
    return await client.request(method, path.format(**names), headers=headers, **kwargs)


# --- 401 --------------------------------------------------------------------------


@pytest.mark.parametrize("authorization", [
    None, "", "ovk_abc", "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer ovk_" + "x" * 43, "Bearer sk-live-123",
    "Token ovk_abc",
])
async def test_missing_malformed_or_unknown_key_is_unauthorized(client, admin, target, authorization, settings, app):
    # Every endpoint once from one address is not a guesser to slow down: a limiter with room for it.
    settings.auth_failure_burst, app.state.auth_limiter = 10_000, None
    names, before = target
    headers = {} if authorization is None else {"Authorization": authorization}
    for endpoint in [*WRITES, *READS, ("GET", "/v1/campaigns", {}, 200), ("GET", "/v1/campaigns/cmp_nothing", {}, 404)]:
        r = await call(client, endpoint, names, headers)
        assert_problem(r, 401, "unauthorized")
        assert r.headers["www-authenticate"] == "Bearer", ids(endpoint)
    assert await fetch(client, admin, names["cid"]) == before
    assert [c["id"] for c in (await listed(client, admin))["items"]] == [names["cid"]]


async def test_scheme_is_case_insensitive(client, admin):
    r = await client.get("/v1/campaigns", headers={"Authorization": admin["Authorization"].replace("Bearer", "bearer")})
    assert r.status_code == 200, r.text


async def test_revoked_key_is_unauthorized_and_other_keys_still_work(client, admin):
    async with session_scope() as s:
        ws = await get_or_create_workspace(s, "acme")
        _, named = await create_key(s, ws.id, "admin", name="ci")
    other = await make_key("viewer")
    assert (await client.get("/v1/campaigns", headers=bearer(named))).status_code == 200
    assert (await client.get("/v1/campaigns", headers=bearer(other))).status_code == 200
    async with session_scope() as s:
        await revoke_keys(s, ws.id, "ci")
        await s.execute(update(ApiKey).where(ApiKey.key_hash == hash_key(other)).values(revoked_at=utcnow()))
    for key in (named, other):
        r = await client.get("/v1/campaigns", headers=bearer(key))
        assert_problem(r, 401, "unauthorized")
        assert r.headers["www-authenticate"] == "Bearer"
    assert_problem(await client.post("/v1/campaigns", json={"name": "x"}, headers=bearer(named)), 401, "unauthorized")
    assert (await client.get("/v1/campaigns", headers=admin)).status_code == 200
    assert (await listed(client, admin))["items"] == []


# --- roles ------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "approver", "admin"])
async def test_every_role_can_read(client, target, role):
    names, _ = target
    key = bearer(await make_key(role))
    for endpoint in [*READS, ("GET", "/v1/campaigns", {}, 200)]:
        r = await call(client, endpoint, names, key)
        assert r.status_code == 200, (ids(endpoint), r.text)


@pytest.mark.parametrize("role", ["viewer", "approver"])
async def test_viewer_and_approver_may_not_change_campaigns(client, admin, target, role):
    names, before = target
    key = bearer(await make_key(role))
    for endpoint in WRITES:
        r = await call(client, endpoint, names, key)
        body = assert_problem(r, 403, "forbidden")
        assert role in body["detail"], ids(endpoint)
        assert await fetch(client, admin, names["cid"]) == before, ids(endpoint)
    assert [c["id"] for c in (await listed(client, admin))["items"]] == [names["cid"]]


@pytest.mark.parametrize("endpoint", WRITES, ids=ids)
async def test_admin_may_change_campaigns(client, admin, target, endpoint):
    names, _ = target
    r = await call(client, endpoint, names, bearer(await make_key("admin")))
    assert r.status_code == endpoint[3], r.text


# --- workspace isolation ----------------------------------------------------------


def normalised(r, names):
    body = r.json()
    for placeholder, value in names.items():
        body["detail"] = body["detail"].replace(value, "{" + placeholder + "}")
    return r.status_code, r.headers["content-type"], body


MISSING = {"cid": "cmp_01aaaaaaaaaaaaaaaaaaaaaaaa", "chid": "chn_01aaaaaaaaaaaaaaaaaaaaaaaa",
           "conid": "con_01aaaaaaaaaaaaaaaaaaaaaaaa"}


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ids)
async def test_other_workspace_gets_not_found_like_for_a_missing_id(client, admin, target, endpoint):
    names, before = target
    stranger = bearer(await make_key("admin", workspace="other"))
    r = await call(client, endpoint, names, stranger)
    assert_problem(r, 404, "not_found")
    assert normalised(r, names) == normalised(await call(client, endpoint, MISSING, stranger), MISSING)
    # The ids asked for are echoed as for a missing one; random ids can spell "acme" themselves.
    shown = r.text
    for value in names.values():
        shown = shown.replace(value, "{id}")
    for word in ("Spring", "acme", "Ann", "email"):
        assert word not in shown
    assert await fetch(client, admin, names["cid"]) == before


async def test_other_workspace_viewer_reads_nothing_and_is_refused_writes(client, admin, target):
    names, before = target
    stranger = bearer(await make_key("viewer", workspace="other"))
    for endpoint in ENDPOINTS:
        r = await call(client, endpoint, names, stranger)
        if endpoint[0] == "GET":
            assert_problem(r, 404, "not_found")
        else:  # the role is checked before anything is looked up, so this reveals nothing either
            assert_problem(r, 403, "forbidden")
            assert r.json() == (await call(client, endpoint, MISSING, stranger)).json()
    assert await fetch(client, admin, names["cid"]) == before


async def test_other_workspace_never_lists_the_campaign(client, admin, target):
    names, _ = target
    await client.post(f"/v1/campaigns/{names['cid']}/archive", headers=admin)
    stranger = bearer(await make_key("admin", workspace="other"))
    mine = (await client.post("/v1/campaigns", json={"name": "Spring"}, headers=stranger)).json()["id"]
    for params in ({}, {"status": "archived"}, {"q": "Spring"}, {"status": "draft,archived", "sort": "name"}):
        page = await listed(client, stranger, **params)
        assert names["cid"] not in {c["id"] for c in page["items"]}
    assert [c["id"] for c in (await listed(client, stranger))["items"]] == [mine]
    assert [c["id"] for c in (await listed(client, admin, status="archived"))["items"]] == [names["cid"]]


async def test_anonymous_malformed_body_gets_401_not_validation_details(client):
    r = await client.post("/v1/campaigns", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer" and "errors" not in r.json()
