"""Issue 16 item 5: one validation layer, so NUL and other control characters, dates at the
calendar's edge and deep nesting answer 422 with a code and the field, never 500 (PostgreSQL
refused each of them with an error the app did not expect)."""

import json

import pytest

from tests.flows import HOOK, assert_problem, create, queue_with_drafts

EDGES = ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"]


def _nested(depth: int) -> str:
    """A JSON object ``depth`` levels deep, as text (``json.dumps`` itself cannot go past ~1000)."""
    return '{"a": ' * depth + '{"leaf": "x"}' + "}" * depth


def _field(r, code: str) -> list:
    assert_problem(r, 422, code)
    return r.json()["errors"][0]["loc"]


@pytest.mark.parametrize(("body", "loc"), [
    ({"name": "a\u0000b"}, ["body", "name"]),
    ({"name": "ok", "brief": "line\u0000"}, ["body", "brief"]),
    ({"name": "ok", "ai_variables": {"product": "x\u0001y"}}, ["body", "ai_variables", "product"]),
    ({"name": "ok", "ai_variables": {"pro\u0000duct": "x"}}, ["body", "ai_variables", "pro\\x00duct"]),
    ({"name": "ok", "channels": [{"kind": "email", "from_name": "\u001bA"}]}, ["body", "channels", 0, "from_name"]),
])
async def test_control_characters_in_a_json_body_are_422_with_the_field(client, admin, body, loc):
    assert _field(await client.post("/v1/campaigns", json=body, headers=admin), "control_character") == loc
    assert (await client.get("/v1/campaigns", headers=admin)).json()["items"] == []


async def test_multi_line_text_keeps_tabs_and_newlines_but_names_take_none(client, admin):
    r = await client.post("/v1/campaigns", json={"name": "ok", "brief": "one\n\ttwo\r\n"}, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["brief"] == "one\n\ttwo\r\n"
    r = await client.post("/v1/campaigns", json={"name": "two\nlines"}, headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "name"], r.text
    cid = (await client.get("/v1/campaigns", headers=admin)).json()["items"][0]["id"]
    r = await client.patch(f"/v1/campaigns/{cid}", json={"notes": "a\u0000"}, headers=admin)
    assert _field(r, "control_character") == ["body", "notes"]


async def test_contacts_with_nul_are_refused_not_stored(client, admin):
    cid = (await create(client, admin, name="c"))["id"]
    r = await client.post(f"/v1/campaigns/{cid}/contacts", headers=admin,
                          json={"contacts": [{"name": "Ann\u0000", "email": "ann@example.com"}]})
    assert _field(r, "control_character") == ["body", "contacts", 0, "name"]
    r = await client.post(f"/v1/campaigns/{cid}/contacts", headers=admin,
                          json={"contacts": [{"name": "Ann", "email": "ann@example.com",
                                              "properties": {"k": "\u0000"}}]})
    assert _field(r, "control_character") == ["body", "contacts", 0, "properties", "k"]
    assert (await client.get(f"/v1/campaigns/{cid}/contacts", headers=admin)).json()["items"] == []


async def test_voice_hook_messages_with_nul_are_422(client, admin):
    cid = (await create(client, admin, name="v"))["id"]
    r = await client.post(HOOK, headers=admin, json={"messages": [{"role": "user", "content": "hi\u0000"}],
                                                     "metadata": {"campaign_id": cid}})
    assert _field(r, "control_character") == ["body", "messages", 0, "content"]


@pytest.mark.parametrize("edge", EDGES)
async def test_campaign_dates_at_the_calendars_edge_are_422(client, admin, edge):
    for field in ("start_at", "end_at"):
        r = await client.post("/v1/campaigns", json={"name": "d", field: edge}, headers=admin)
        assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", field], r.text
    cid = (await create(client, admin, name="d"))["id"]
    r = await client.patch(f"/v1/campaigns/{cid}", json={"start_at": edge}, headers=admin)
    assert r.status_code == 422, r.text


@pytest.mark.parametrize("edge", EDGES)
async def test_a_draft_rescheduled_to_the_calendars_edge_is_422(client, admin, edge):
    _, [draft, *_] = await queue_with_drafts(client, admin, 1)
    r = await client.patch(f"/v1/outreaches/{draft['id']}", json={"scheduled_at": edge, "version": draft["version"]},
                           headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "scheduled_at"], r.text


@pytest.mark.parametrize("edge", EDGES)
async def test_activity_filters_at_the_calendars_edge_are_422(client, admin, edge):
    cid = (await create(client, admin, name="a"))["id"]
    for param in ("since", "until"):
        r = await client.get(f"/v1/campaigns/{cid}/activity", params={param: edge}, headers=admin)
        assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["query", param], r.text
    r = await client.get(f"/v1/campaigns/{cid}/activity", headers=admin,
                         params={"since": "2000-01-01T00:00:00+14:00", "until": "8999-06-30T23:59:59-12:00"})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("depth", [40, 100_000])
async def test_deeply_nested_json_is_422(client, admin, depth):
    body = '{"name": "n", "inbound_rules": ' + _nested(depth) + "}"
    r = await client.post("/v1/campaigns", content=body, headers={**admin, "Content-Type": "application/json"})
    assert_problem(r, 422, "too_deep")
    assert (await client.get("/v1/campaigns", headers=admin)).status_code == 200


async def test_moderate_nesting_is_accepted(client, admin):
    r = await client.post("/v1/campaigns", json={"name": "n", "inbound_rules": json.loads(_nested(10))}, headers=admin)
    assert r.status_code != 422 or r.json()["code"] != "too_deep", r.text


@pytest.mark.parametrize(("mapping", "code"), [
    (_nested(40), "too_deep"), ("[" * 100_000 + "]" * 100_000, "too_deep"),
    (json.dumps({"Na\u0000me": "name"}), "control_character"),
])
async def test_a_deep_or_control_csv_mapping_is_422(client, admin, mapping, code):
    cid = (await create(client, admin, name="m"))["id"]
    r = await client.post(f"/v1/campaigns/{cid}/contacts/import", headers=admin, data={"mapping": mapping},
                          files={"file": ("a.csv", b"name,email\nAnn,ann@example.com\n", "text/csv")})
    assert_problem(r, 422, code)


@pytest.mark.parametrize(("body", "loc"), [
    ('{"name": "Booked \\ud800 call"}', ["body", "name"]),
    ('{"name": "ok", "brief": "tail \\udfff"}', ["body", "brief"]),
    ('{"name": "ok", "ai_variables": {"p\\ud83d": "x"}}', ["body", "ai_variables", "p\\ud83d"]),
])
async def test_a_lone_surrogate_escape_is_422_not_a_database_error(client, admin, body, loc):
    """JSON may spell half of a UTF-16 pair ("\\ud800") on its own; Python decodes it to a string
    no UTF-8 can encode, and PostgreSQL's driver raised on it (a 500 on PATCH /v1/campaigns)."""
    cid = (await create(client, admin))["id"]
    headers = {**admin, "content-type": "application/json"}
    r = await client.patch(f"/v1/campaigns/{cid}", content=body, headers=headers)
    assert _field(r, "invalid_unicode") == loc
    created = await client.post("/v1/campaigns", content=body, headers=headers)
    assert _field(created, "invalid_unicode") == loc
    # A proper pair (an emoji written as two escapes) is a character like any other.
    ok = await client.patch(f"/v1/campaigns/{cid}", content='{"name": "Booked \\ud83d\\ude00"}', headers=headers)
    assert ok.status_code == 200 and ok.json()["name"] == "Booked \U0001F600"
