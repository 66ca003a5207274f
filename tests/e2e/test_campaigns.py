"""Campaign CRUD over HTTP: defaults, validation limits, listing, editing, duplicating, deleting."""

import pytest
from sqlalchemy import func, select

from agent.db import session_scope
from agent.models import Campaign, Channel, Contact, Enrollment
from tests.builders import count
from tests.flows import act, assert_problem, create, fetch, listed

DEFAULT_SETTINGS = {
    "max_retry_attempts": 2, "retry_interval": {"value": 1, "unit": "days"}, "call_interval": "30s",
    "ring_timeout": "30s", "amd_mode": "text", "contact_completion_timeout": {"value": 1, "unit": "hours"},
    "rotation_strategy": "round_robin", "spam_threshold": 7, "max_calls_per_number_per_day": 100,
    "approval_sla_hours": 24,
}
# --- create -----------------------------------------------------------------------


async def test_new_campaign_is_a_draft_with_default_settings(client, admin):
    body = await create(client, admin)
    assert body["status"] == "draft" and body["id"].startswith("cmp_")
    assert body["type"] == "one_time" and body["execution_mode"] == "scheduled" and body["manual_review"] is True
    assert body["timezone"] == "UTC" and body["went_live_at"] is None and body["contacts_count"] == 0
    assert body["settings"] == DEFAULT_SETTINGS
    assert [(c["kind"], c["status"], c["position"], c["config"]) for c in body["channels"]] == [
        ("email", "ready", 0, {"provider": "sandbox", "from_address": "ann@example.com"}),
        ("sms", "ready", 1, {"provider": "sandbox"})]
    assert await fetch(client, admin, body["id"]) == body


@pytest.mark.parametrize("field,value", [
    ("max_retry_attempts", 0), ("max_retry_attempts", 10), ("spam_threshold", 1), ("spam_threshold", 9),
    ("max_calls_per_number_per_day", 1), ("max_calls_per_number_per_day", 1000), ("call_interval", "5s"),
    ("call_interval", "1min"), ("call_interval", "30min"), ("ring_timeout", "10s"), ("ring_timeout", "60s"),
    ("retry_interval", {"value": 30, "unit": "minutes"}), ("contact_completion_timeout", {"value": 2, "unit": "days"}),
    ("amd_mode", "ml"), ("rotation_strategy", "weighted"), ("approval_sla_hours", 1), ("approval_sla_hours", 720),
])
async def test_settings_at_their_limits_are_kept(client, admin, field, value):
    body = await create(client, admin, settings={field: value})
    assert body["settings"] == {**DEFAULT_SETTINGS, field: value}
    assert (await fetch(client, admin, body["id"]))["settings"][field] == value


@pytest.mark.parametrize("field,value,loc_tail", [
    ("max_retry_attempts", -1, []), ("max_retry_attempts", 11, []), ("spam_threshold", 0, []),
    ("spam_threshold", 10, []), ("max_calls_per_number_per_day", 0, []), ("max_calls_per_number_per_day", 1001, []),
    ("call_interval", "15s", []), ("ring_timeout", "35s", []), ("amd_mode", "audio", []),
    ("retry_interval", {"value": 2, "unit": "weeks"}, ["unit"]), ("retry_interval", {"value": 0, "unit": "days"}, ["value"]),
    ("contact_completion_timeout", {"value": 1, "unit": "seconds"}, ["unit"]), ("colour", "red", []),
    ("approval_sla_hours", 0, []), ("approval_sla_hours", 721, []),
])
async def test_settings_beyond_their_limits_are_refused(client, admin, field, value, loc_tail):
    r = await client.post("/v1/campaigns", json={"name": "x", "settings": {field: value}}, headers=admin)
    body = assert_problem(r, 422, "validation_error")
    assert body["errors"][0]["loc"] == ["body", "settings", field, *loc_tail]
    assert (await listed(client, admin))["items"] == []


@pytest.mark.parametrize("fields,loc", [
    ({"timezone": "Mars/Olympus_Mons"}, ["body", "timezone"]),
    ({"schedule": {"timezone": "Nowhere/City"}}, ["body", "schedule", "timezone"]),
    ({"start_at": "2030-01-01T09:00:00"}, ["body", "start_at"]),
    ({"end_at": "2030-01-01T09:00:00"}, ["body", "end_at"]),
    ({"start_at": "2030-01-02T09:00:00+00:00", "end_at": "2030-01-01T09:00:00+00:00"}, ["body", "end_at"]),
    ({"start_at": "2030-01-01T09:00:00+00:00", "end_at": "2030-01-01T10:00:00+01:00"}, ["body", "end_at"]),
    ({"name": ""}, ["body", "name"]),
    ({"type": "weekly"}, ["body", "type"]),
    ({"execution_mode": "hourly"}, ["body", "execution_mode"]),
    ({"channels": [{"kind": "fax"}]}, ["body", "channels", 0, "kind"]),
    ({"status": "active"}, ["body", "status"]),
])
async def test_invalid_campaign_fields_are_refused_naming_the_field(client, admin, fields, loc):
    r = await client.post("/v1/campaigns", json={"name": "x", **fields}, headers=admin)
    body = assert_problem(r, 422, "validation_error")
    assert body["errors"][0]["loc"] == loc
    assert (await listed(client, admin))["items"] == []


async def test_time_window_with_offsets_is_kept(client, admin):
    body = await create(client, admin, start_at="2030-01-01T09:00:00-05:00", end_at="2030-01-31T17:00:00-05:00",
                        timezone="America/New_York")
    assert body["start_at"].startswith("2030-01-01T14:00:00") and body["end_at"].startswith("2030-01-31T22:00:00")
    assert body["timezone"] == "America/New_York"
    assert await fetch(client, admin, body["id"]) == body  # the create answer reads like a later GET


# --- list -------------------------------------------------------------------------


async def test_list_filters_by_status_and_hides_archived_unless_asked(client, admin):
    draft = (await create(client, admin, name="draft one"))["id"]
    live = (await act(client, admin, (await create(client, admin, name="live one"))["id"], "go-live"))["id"]
    archived = (await act(client, admin, (await create(client, admin, name="old one"))["id"], "archive"))["id"]

    def ids(page):
        return {c["id"] for c in page["items"]}

    assert ids(await listed(client, admin)) == {draft, live}
    assert ids(await listed(client, admin, status="active")) == {live}
    assert ids(await listed(client, admin, status="archived")) == {archived}
    assert ids(await listed(client, admin, status="draft,archived")) == {draft, archived}
    assert ids(await listed(client, admin, status="paused")) == set()
    assert_problem(await client.get("/v1/campaigns", params={"status": "running"}, headers=admin),
                   422, "validation_error")


async def test_list_search_matches_name_and_notes_case_insensitively(client, admin):
    spring = (await create(client, admin, name="Spring promo"))["id"]
    noted = (await create(client, admin, name="Q2", notes="the spring follow-up"))["id"]
    await create(client, admin, name="Autumn")
    page = await listed(client, admin, q="SPRING")
    assert {c["id"] for c in page["items"]} == {spring, noted}
    assert (await listed(client, admin, q="winter"))["items"] == []


@pytest.mark.parametrize("q,expected", [("50%", ["50% off"]), ("a_b", ["a_b test"]), ("%", ["50% off"])])
async def test_list_search_takes_wildcards_literally(client, admin, q, expected):
    for name in ("50% off", "500 club", "a_b test", "axb test"):
        await create(client, admin, name=name)
    assert [c["name"] for c in (await listed(client, admin, q=q))["items"]] == expected


@pytest.mark.parametrize("sort,expected", [
    ("name", ["alpha", "bravo", "charlie"]), ("-name", ["charlie", "bravo", "alpha"]),
    ("created_at", ["bravo", "charlie", "alpha"]), ("-created_at", ["alpha", "charlie", "bravo"]),
])
async def test_list_sorts_by_name_or_creation(client, admin, sort, expected):
    for name in ("bravo", "charlie", "alpha"):
        await create(client, admin, name=name)
    assert [c["name"] for c in (await listed(client, admin, sort=sort))["items"]] == expected


async def test_list_refuses_an_unknown_sort_and_a_forged_cursor(client, admin):
    assert_problem(await client.get("/v1/campaigns", params={"sort": "budget"}, headers=admin), 422, "validation_error")
    r = await client.get("/v1/campaigns", params={"cursor": "not-a-cursor"}, headers=admin)
    assert_problem(r, 422, "invalid_cursor")


@pytest.mark.parametrize("sort", ["name", "-name", "created_at", "-created_at"])
async def test_pages_walk_every_campaign_once_in_order(client, admin, sort):
    for name in ("delta", "alpha", "delta", "bravo", "alpha", "echo", "delta"):  # ties on name
        await create(client, admin, name=name)
    everything = [c["id"] for c in (await listed(client, admin, sort=sort))["items"]]
    walked, cursor, pages = [], None, 0
    while True:
        page = await listed(client, admin, sort=sort, limit=3, **({"cursor": cursor} if cursor else {}))
        walked += [c["id"] for c in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and walked == everything and len(set(walked)) == 7


# --- edit -------------------------------------------------------------------------


async def test_live_campaign_settings_review_and_mode_can_change(client, admin):
    live = await act(client, admin, (await create(client, admin))["id"], "go-live")
    r = await client.patch(f"/v1/campaigns/{live['id']}", headers=admin, json={
        "settings": {"max_retry_attempts": 4, "call_interval": "1min"}, "manual_review": False,
        "execution_mode": "manual", "name": "Spring (edited)", "brief": "Book a demo."})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["settings"] == {**DEFAULT_SETTINGS, "max_retry_attempts": 4, "call_interval": "1min"}
    assert (body["manual_review"], body["execution_mode"], body["name"], body["brief"]) == (
        False, "manual", "Spring (edited)", "Book a demo.")
    assert body["status"] == "active" and body["channels"] == live["channels"]
    assert await fetch(client, admin, live["id"]) == body


async def test_editing_one_setting_keeps_the_others(client, admin):
    cid = (await create(client, admin, settings={"max_retry_attempts": 5, "ring_timeout": "45s"}))["id"]
    r = await client.patch(f"/v1/campaigns/{cid}", json={"settings": {"spam_threshold": 3}}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["settings"] == {**DEFAULT_SETTINGS, "max_retry_attempts": 5, "ring_timeout": "45s",
                                    "spam_threshold": 3}


@pytest.mark.parametrize("patch,loc", [
    ({"settings": {"max_retry_attempts": 11}}, ["body", "settings", "max_retry_attempts"]),
    ({"end_at": "2029-01-01T00:00:00+00:00"}, ["body", "end_at"]),
    ({"name": None}, ["body", "name"]),
    ({"status": "draft"}, ["body", "status"]),
])
async def test_invalid_edit_is_refused_and_changes_nothing(client, admin, patch, loc):
    before = await create(client, admin, start_at="2030-01-01T00:00:00+00:00")
    r = await client.patch(f"/v1/campaigns/{before['id']}", json=patch, headers=admin)
    assert assert_problem(r, 422, "validation_error")["errors"][0]["loc"] == loc
    assert await fetch(client, admin, before["id"]) == before


@pytest.mark.parametrize("to", ["active", "paused", "completed", "cancelled"])
@pytest.mark.parametrize("patch", [{"channels": [{"kind": "voice"}]}, {"type": "follow_up"},
                                   {"channels": [], "name": "renamed", "manual_review": False}])
async def test_channels_and_type_are_locked_once_live(client, admin, to, patch):
    cid = (await create(client, admin))["id"]
    await act(client, admin, cid, "go-live")
    for action in {"active": [], "paused": ["pause"], "completed": ["complete"], "cancelled": ["cancel"]}[to]:
        await act(client, admin, cid, action)
    before = await fetch(client, admin, cid)
    r = await client.patch(f"/v1/campaigns/{cid}", json=patch, headers=admin)
    body = assert_problem(r, 409, "campaign_locked")
    assert {tuple(e["loc"]) for e in body["errors"]} == {("body", f) for f in ("channels", "type") if f in patch}
    assert await fetch(client, admin, cid) == before


async def test_draft_channels_and_type_can_be_replaced(client, admin):
    before = await create(client, admin)
    r = await client.patch(f"/v1/campaigns/{before['id']}", headers=admin,
                           json={"channels": [{"kind": "voice", "assistant_id": "ava"}], "type": "follow_up"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "follow_up" and body["status"] == "draft"
    assert [(c["kind"], c["status"], c["config"]) for c in body["channels"]] == [
        ("voice", "ready", {"provider": "sandbox", "assistant_id": "ava"})]
    assert body["channels"][0]["id"] not in {c["id"] for c in before["channels"]}
    assert await count(Channel, campaign_id=before["id"]) == 1


@pytest.mark.parametrize("patch", [{"name": "new"}, {"settings": {"spam_threshold": 2}}, {"notes": "x"}])
async def test_archived_campaign_is_read_only(client, admin, patch):
    before = await act(client, admin, (await create(client, admin))["id"], "archive")
    r = await client.patch(f"/v1/campaigns/{before['id']}", json=patch, headers=admin)
    assert_problem(r, 409, "campaign_archived")
    assert await fetch(client, admin, before["id"]) == before


# --- duplicate --------------------------------------------------------------------


@pytest.mark.parametrize("path", [["go-live"], ["go-live", "pause"], ["archive"], ["go-live", "cancel", "archive"]])
async def test_duplicate_is_a_new_ready_draft_and_leaves_the_source_alone(client, admin, path):
    cid = (await create(client, admin, settings={"max_retry_attempts": 6}, manual_review=False, brief="Say hi",
                        execution_mode="on_contact_added", timezone="Europe/Paris"))["id"]
    for action in path:
        await act(client, admin, cid, action)
    source = await fetch(client, admin, cid)
    r = await client.post(f"/v1/campaigns/{cid}/duplicate", headers=admin)
    assert r.status_code == 201, r.text
    copy = r.json()
    assert copy["id"] != cid and copy["name"] == "Spring (copy)" and copy["status"] == "draft"
    assert copy["duplicated_from_id"] == cid and copy["went_live_at"] is None and copy["contacts_count"] == 0
    for field in ("type", "settings", "manual_review", "brief", "execution_mode", "timezone"):
        assert copy[field] == source[field], field
    assert [(c["kind"], c["position"], c["config"], c["status"]) for c in copy["channels"]] == [
        (c["kind"], c["position"], c["config"], "ready") for c in source["channels"]]
    assert not {c["id"] for c in copy["channels"]} & {c["id"] for c in source["channels"]}
    assert await fetch(client, admin, cid) == source
    assert await fetch(client, admin, copy["id"]) == copy


async def test_duplicate_leaves_contacts_behind(client, admin):
    cid = (await create(client, admin))["id"]
    r = await client.post(f"/v1/campaigns/{cid}/contacts", headers=admin,
                          json={"contacts": [{"name": "Ann Lee", "email": "ann@example.com"}]})
    assert r.status_code == 200 and r.json()["added"] == 1, r.text
    copy = await act(client, admin, cid, "duplicate")
    assert copy["contacts_count"] == 0 and await count(Enrollment, campaign_id=copy["id"]) == 0
    assert (await fetch(client, admin, cid))["contacts_count"] == 1


# --- delete -----------------------------------------------------------------------


@pytest.mark.parametrize("query", ["", "?confirm=false"])
async def test_delete_needs_confirmation(client, admin, query):
    before = await create(client, admin)
    r = await client.delete(f"/v1/campaigns/{before['id']}{query}", headers=admin)
    body = assert_problem(r, 428, "confirmation_required")
    assert body["errors"][0]["loc"] == ["query", "confirm"]
    assert await fetch(client, admin, before["id"]) == before


async def test_confirmed_delete_removes_campaign_channels_and_enrollments(client, admin):
    cid = (await act(client, admin, (await create(client, admin))["id"], "go-live"))["id"]
    r = await client.post(f"/v1/campaigns/{cid}/contacts", headers=admin, json={"contacts": [
        {"name": "Ann Lee", "email": "ann@example.com"}, {"name": "Bob Ray", "phone": "+14155552671"}]})
    assert r.json()["added"] == 2, r.text
    other = (await create(client, admin, name="Other"))["id"]
    assert (await count(Channel, campaign_id=cid), await count(Enrollment, campaign_id=cid)) == (2, 2)

    r = await client.delete(f"/v1/campaigns/{cid}?confirm=true", headers=admin)
    assert r.status_code == 204 and r.content == b""
    assert_problem(await client.get(f"/v1/campaigns/{cid}", headers=admin), 404, "not_found")
    assert_problem(await client.delete(f"/v1/campaigns/{cid}?confirm=true", headers=admin), 404, "not_found")
    assert (await count(Campaign, id=cid), await count(Channel, campaign_id=cid), await count(Enrollment, campaign_id=cid)) == (0, 0, 0)
    # the workspace keeps its contacts and its other campaigns
    async with session_scope() as s:
        assert (await s.execute(select(func.count(Contact.id)))).scalar_one() == 2
    assert await count(Channel, campaign_id=other) == 2
    assert [c["id"] for c in (await listed(client, admin))["items"]] == [other]
