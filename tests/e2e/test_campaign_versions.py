"""Settings versions (seed 000: an edit of an active campaign "applies only to future
interactions"): every edit of a live campaign is a numbered version with who, when and each
changed field's old and new value; outreaches carry the version they were planned under."""

from __future__ import annotations

from sqlalchemy import update

from agent.db import session_scope
from agent.executor import Outcome, execute
from agent.models import Campaign
from agent.states import Role
from tests.builders import events, key_id, outreach_row
from tests.conftest import bearer, make_key
from tests.flows import (BRIEF, approved_and_queued, assert_problem, create, fetch, live_campaign, people, run_plan,
                         zone_at_noon)
from tests.review.test_inbox_web import signed_in


async def versions(client, headers, cid: str, **params) -> dict:
    r = await client.get(f"/v1/campaigns/{cid}/versions", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def planned(client, headers, cid: str) -> dict[str, dict]:
    """The campaign's drafts by the local part of the contact's email (ann, bo...)."""
    r = await client.get("/v1/outreaches", params={"campaign_id": cid, "status": "awaiting_approval"},
                         headers=headers)
    assert r.status_code == 200, r.text
    return {i["contact"]["email"].split("@")[0]: i for i in r.json()["items"]}


async def test_a_draft_campaign_is_edited_without_versions(client, admin):
    cid = (await create(client, admin, name="Draft"))["id"]
    r = await client.patch(f"/v1/campaigns/{cid}", json={"brief": "Another brief"}, headers=admin)
    assert r.status_code == 200 and r.json()["settings_version"] == 1
    assert await versions(client, admin, cid) == {"items": [], "next_cursor": None}


async def test_an_edit_of_a_live_campaign_is_a_version_and_applies_to_later_plans_only(client, admin):
    cid = await live_campaign(client, admin, contacts=people(1, timezone=zone_at_noon()))
    assert (await fetch(client, admin, cid))["settings_version"] == 1
    await run_plan(client, admin, cid)
    before = (await planned(client, admin, cid))["ann"]
    assert before["settings_version"] == 1

    r = await client.patch(f"/v1/campaigns/{cid}", headers=admin, json={
        "brief": "A new offer: two seats.", "settings": {"max_retry_attempts": 4}})
    assert r.status_code == 200, r.text
    assert r.json()["settings_version"] == 2
    page = await versions(client, admin, cid)
    [v2] = page["items"]
    assert v2["number"] == 2 and v2["actor"] == await key_id(admin) and v2["created_at"]
    assert {c["field"]: (c["old"], c["new"]) for c in v2["changes"]} == {
        "brief": (BRIEF, "A new offer: two seats."), "settings.max_retry_attempts": (2, 4)}

    # The same values again change nothing: no new version.
    again = await client.patch(f"/v1/campaigns/{cid}", headers=admin, json={"settings": {"max_retry_attempts": 4}})
    assert again.json()["settings_version"] == 2 and len((await versions(client, admin, cid))["items"]) == 1

    # A contact added now is planned under version 2; the draft planned before keeps version 1.
    r = await client.post(f"/v1/campaigns/{cid}/contacts", headers=admin,
                          json={"contacts": [{"name": "Bo Chen", "email": "bo@example.com",
                                              "timezone": zone_at_noon()}]})
    assert r.status_code == 200 and r.json()["added"] == 1, r.text
    await run_plan(client, admin, cid)
    now = await planned(client, admin, cid)
    assert now["ann"]["settings_version"] == 1 and now["bo"]["settings_version"] == 2
    detail = (await client.get(f"/v1/outreaches/{now['bo']['id']}", headers=admin)).json()
    assert detail["settings_version"] == 2

    # A paused campaign's edit is a version too.
    assert (await client.post(f"/v1/campaigns/{cid}/pause", headers=admin)).status_code == 200
    r = await client.patch(f"/v1/campaigns/{cid}", headers=admin, json={"notes": "paused for the holidays"})
    assert r.json()["settings_version"] == 3
    assert [v["number"] for v in (await versions(client, admin, cid))["items"]] == [3, 2]


async def test_versions_page_newest_first_and_every_role_reads_them_in_its_own_workspace(client, admin):
    cid = await live_campaign(client, admin)
    for n in range(3):
        assert (await client.patch(f"/v1/campaigns/{cid}", json={"notes": f"note {n}"}, headers=admin)).status_code == 200
    viewer = bearer(await make_key(Role.viewer))
    first = await versions(client, viewer, cid, limit=2)
    assert [v["number"] for v in first["items"]] == [4, 3] and first["next_cursor"]
    rest = await versions(client, viewer, cid, limit=2, cursor=first["next_cursor"])
    assert [v["number"] for v in rest["items"]] == [2] and rest["next_cursor"] is None
    assert rest["items"][0]["changes"] == [{"field": "notes", "old": "", "new": "note 0"}]
    stranger = bearer(await make_key(Role.admin, workspace="other"))
    assert_problem(await client.get(f"/v1/campaigns/{cid}/versions", headers=stranger), 404, "not_found")
    assert_problem(await client.get(f"/v1/campaigns/{cid}/versions", params={"cursor": "bogus"}, headers=admin),
                   422, "invalid_cursor")


async def test_the_web_settings_form_writes_a_version_with_its_actor(client, admin):
    key = await make_key(Role.admin)
    api, csrf = bearer(key), await signed_in(client, key)
    cid = await live_campaign(client, api)
    r = await client.post(f"/inbox/campaigns/{cid}/settings", data={
        "csrf": csrf, "name": "Spring webinar", "brief": "Edited on the web", "timezone": "America/New_York"})
    assert r.status_code == 303, r.text
    [v2] = (await versions(client, api, cid))["items"]
    assert v2["number"] == 2 and "brief" in {c["field"] for c in v2["changes"]}
    assert v2["actor"] == await key_id(api)


async def test_a_draft_sent_back_after_a_brief_edit_names_the_version_it_was_planned_under(client, admin):
    cid, named = await approved_and_queued(client, admin, 1)
    oid = named["Ann"]["id"]
    assert (await client.patch(f"/v1/campaigns/{cid}", json={"brief": "A different offer."},
                               headers=admin)).status_code == 200
    assert await execute(oid) is Outcome.reopened
    row = await outreach_row(oid)
    assert "planned under settings version 1" in row.error and "now version 2" in row.error
    assert row.settings_version == 1  # the text was written under version 1; it keeps that number
    [reopened] = await events(oid, "outreach.reopened")
    assert reopened.payload["planned_under_version"] == 1 and reopened.payload["settings_version"] == 2


async def test_the_web_create_form_sets_the_campaign_type(client):
    key = await make_key(Role.admin)
    api, csrf = bearer(key), await signed_in(client, key)
    form = await client.get("/inbox/campaigns/new")
    assert 'name="type"' in form.text and 'value="follow_up"' in form.text
    made = {}
    for kind in ("one_time", "follow_up"):
        r = await client.post("/inbox/campaigns/new", data={"csrf": csrf, "name": f"Web {kind}", "brief": "b",
                                                            "channels": ["email"], "timezone": "UTC", "type": kind})
        assert r.status_code == 303, r.text
        made[kind] = (await fetch(client, api, r.headers["location"].split("/")[-1].split("?")[0]))["type"]
    assert made == {"one_time": "one_time", "follow_up": "follow_up"}


async def test_a_setting_an_older_row_lacks_is_not_reported_as_changed(client, admin):
    cid = await live_campaign(client, admin)
    async with session_scope() as s:  # stored before approval_sla_hours existed
        await s.execute(update(Campaign).where(Campaign.id == cid).values(settings={"max_retry_attempts": 2}))
    r = await client.patch(f"/v1/campaigns/{cid}", json={"notes": "n", "settings": {"spam_threshold": 5}},
                           headers=admin)
    assert r.status_code == 200, r.text
    [v2] = (await versions(client, admin, cid))["items"]
    assert v2["changes"] == [{"field": "settings.spam_threshold", "old": 7, "new": 5},
                             {"field": "notes", "old": "", "new": "n"}]


async def test_an_edit_of_a_shared_schedule_is_a_version_of_each_live_campaign_following_it(client, admin):
    from tests.e2e.test_schedules import NINE_TO_FIVE, new_schedule
    sched = await new_schedule(client, admin)
    live = await live_campaign(client, admin, schedule_id=sched["id"])
    draft = (await create(client, admin, name="Not live yet", schedule_id=sched["id"]))["id"]
    # Linking a live campaign to the schedule is itself a version: the hours' source changed.
    other = await live_campaign(client, admin)
    r = await client.patch(f"/v1/campaigns/{other}", headers=admin, json={"schedule_id": sched["id"]})
    assert r.status_code == 200 and r.json()["settings_version"] == 2, r.text
    [linked] = (await versions(client, admin, other))["items"]
    assert {c["field"] for c in linked["changes"]} >= {"schedule_id", "schedule"}

    friday_late = {**NINE_TO_FIVE, "fri": [{"start": "09:00", "end": "19:00"}]}
    r = await client.patch(f"/v1/schedules/{sched['id']}", headers=admin, json={"business_hours": friday_late})
    assert r.status_code == 200, r.text
    for cid, number in ((live, 2), (other, 3)):
        assert (await fetch(client, admin, cid))["settings_version"] == number
        [newest, *_] = (await versions(client, admin, cid))["items"]
        assert newest["number"] == number and newest["actor"] == await key_id(admin)
        [change] = newest["changes"]
        assert change["field"] == "schedule"
        assert change["old"]["business_hours"]["fri"] == [{"start": "09:00", "end": "17:00"}]
        assert change["new"]["business_hours"]["fri"] == [{"start": "09:00", "end": "19:00"}]
    # A draft has no versions; a rename of the schedule changes no campaign's hours.
    assert (await versions(client, admin, draft))["items"] == []
    r = await client.patch(f"/v1/schedules/{sched['id']}", headers=admin, json={"name": "NY office"})
    assert r.status_code == 200 and (await fetch(client, admin, live))["settings_version"] == 2
