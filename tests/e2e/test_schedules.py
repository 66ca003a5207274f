"""Reusable schedules over HTTP: CRUD by role and workspace, validation naming the field, the live
``open_now``/``next_change_at`` at fixed instants (``?at=``) across DST changes, holidays and
midnight, and campaigns linking a schedule (one source of hours at a time, deletion while in use)."""

from __future__ import annotations

import pytest

from agent.states import Role
from tests.conftest import bearer, make_key
from tests.flows import assert_problem, create, fetch

NINE_TO_FIVE = {d: [{"start": "09:00", "end": "17:00"}] for d in ("mon", "tue", "wed", "thu", "fri")}


async def new_schedule(client, headers, **fields):
    body = {"name": "New York office", "timezone": "America/New_York", "business_hours": NINE_TO_FIVE, **fields}
    r = await client.post("/v1/schedules", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def status_at(client, headers, sid, at):
    r = await client.get(f"/v1/schedules/{sid}", params={"at": at}, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    return body["open_now"], body["next_change_at"]


async def test_an_admin_creates_lists_reads_edits_and_deletes_a_schedule(client, admin):
    made = await new_schedule(client, admin, holidays=["2026-12-25", {"date": "2026-11-26", "name": "Thanksgiving"}])
    assert made["id"].startswith("sch") and made["campaigns"] == 0
    assert made["business_hours"]["mon"] == [{"start": "09:00", "end": "17:00"}] and "sat" not in made["business_hours"]
    # Bare dates become {date, name}; answered in date order.
    assert made["holidays"] == [{"date": "2026-11-26", "name": "Thanksgiving"}, {"date": "2026-12-25", "name": ""}]
    assert isinstance(made["open_now"], bool) and made["next_change_at"] is not None
    second = await new_schedule(client, admin, name="Berlin", timezone="Europe/Berlin")
    listed = (await client.get("/v1/schedules", headers=admin)).json()["items"]
    assert [s["name"] for s in listed] == ["Berlin", "New York office"]
    r = await client.patch(f"/v1/schedules/{made['id']}", headers=admin,
                           json={"name": "NY desk", "holidays": [], "business_hours": {"sat": [{"start": "10:00",
                                                                                                "end": "14:00"}]}})
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["holidays"], r.json()["business_hours"]) == (
        "NY desk", [], {"sat": [{"start": "10:00", "end": "14:00"}]})
    assert r.json()["timezone"] == "America/New_York"  # not named, not changed
    got = (await client.get(f"/v1/schedules/{made['id']}", headers=admin)).json()
    assert got["name"] == "NY desk" and got["business_hours"] == {"sat": [{"start": "10:00", "end": "14:00"}]}
    assert (await client.delete(f"/v1/schedules/{made['id']}", headers=admin)).status_code == 204
    assert_problem(await client.get(f"/v1/schedules/{made['id']}", headers=admin), 404, "not_found")
    assert [s["id"] for s in (await client.get("/v1/schedules", headers=admin)).json()["items"]] == [second["id"]]


async def test_approvers_and_viewers_read_schedules_but_only_admins_write(client, admin):
    made = await new_schedule(client, admin)
    for role in (Role.approver, Role.viewer):
        headers = bearer(await make_key(role))
        assert (await client.get("/v1/schedules", headers=headers)).json()["items"][0]["id"] == made["id"]
        assert (await client.get(f"/v1/schedules/{made['id']}", headers=headers)).status_code == 200
        assert_problem(await client.post("/v1/schedules", json={"name": "x", "timezone": "UTC"}, headers=headers),
                       403, "forbidden")
        assert_problem(await client.patch(f"/v1/schedules/{made['id']}", json={"name": "y"}, headers=headers),
                       403, "forbidden")
        assert_problem(await client.delete(f"/v1/schedules/{made['id']}", headers=headers), 403, "forbidden")
    assert (await client.get(f"/v1/schedules/{made['id']}", headers=admin)).json()["name"] == "New York office"
    assert (await client.get("/v1/schedules")).status_code == 401


async def test_another_workspaces_schedule_is_not_found_and_cannot_be_linked(client, admin):
    made = await new_schedule(client, admin)
    other = bearer(await make_key(Role.admin, workspace="globex"))
    assert (await client.get("/v1/schedules", headers=other)).json()["items"] == []
    assert_problem(await client.get(f"/v1/schedules/{made['id']}", headers=other), 404, "not_found")
    assert_problem(await client.patch(f"/v1/schedules/{made['id']}", json={"name": "mine"}, headers=other),
                   404, "not_found")
    assert_problem(await client.delete(f"/v1/schedules/{made['id']}", headers=other), 404, "not_found")
    r = await client.post("/v1/campaigns", json={"name": "Theirs", "schedule_id": made["id"]}, headers=other)
    body = assert_problem(r, 422, "unknown_schedule")
    assert body["errors"][0]["loc"] == ["body", "schedule_id"]
    # Globex may use the same name in its own workspace.
    assert (await new_schedule(client, other))["name"] == "New York office"
    assert (await client.get(f"/v1/schedules/{made['id']}", headers=admin)).json()["name"] == "New York office"


@pytest.mark.parametrize(("change", "loc"), [
    ({"business_hours": {"mon": [{"start": "9:00", "end": "17:00"}]}}, ["body", "business_hours", "mon", 0]),
    ({"business_hours": {"mon": [{"start": "17:00", "end": "09:00"}]}}, ["body", "business_hours", "mon", 0]),
    ({"business_hours": {"fri": [{"start": "22:00", "end": "02:00"}]}}, ["body", "business_hours", "fri", 0]),
    ({"business_hours": {"tue": [{"start": "09:00", "end": "12:00"}, {"start": "11:30", "end": "14:00"}]}},
     ["body", "business_hours", "tue"]),
    ({"business_hours": {"funday": []}}, ["body", "business_hours", "funday", "[key]"]),
    ({"timezone": "Mars/Olympus_Mons"}, ["body", "timezone"]),
    ({"holidays": ["2026-02-30"]}, ["body", "holidays", 0, "date"]),
    ({"holidays": ["1767225600"]}, ["body", "holidays", 0, "date"]),
    ({"holidays": ["2026-12-25", {"date": "2026-12-25", "name": "again"}]}, ["body", "holidays"]),
    ({"name": ""}, ["body", "name"]),
])
async def test_bad_hours_are_refused_naming_the_field(client, admin, change, loc):
    body = {"name": "Office", "timezone": "UTC", **change}
    problem = assert_problem(await client.post("/v1/schedules", json=body, headers=admin), 422, "validation_error")
    assert loc in [e["loc"] for e in problem["errors"]], problem["errors"]
    assert (await client.get("/v1/schedules", headers=admin)).json()["items"] == []


async def test_a_window_spanning_midnight_is_refused_with_how_to_split_it(client, admin):
    r = await client.post("/v1/schedules", headers=admin, json={
        "name": "Night", "timezone": "UTC", "business_hours": {"fri": [{"start": "22:00", "end": "02:00"}]}})
    assert "24:00" in assert_problem(r, 422, "validation_error")["errors"][0]["message"]


async def test_names_are_unique_in_a_workspace_and_null_fields_are_refused(client, admin):
    made = await new_schedule(client, admin)
    other = await new_schedule(client, admin, name="Other")
    body = assert_problem(await client.post("/v1/schedules", json={"name": "New York office", "timezone": "UTC"},
                                            headers=admin), 409, "schedule_name_taken")
    assert body["errors"][0]["loc"] == ["body", "name"]
    assert_problem(await client.patch(f"/v1/schedules/{other['id']}", json={"name": "New York office"}, headers=admin),
                   409, "schedule_name_taken")
    # Renaming to its own name is no conflict.
    assert (await client.patch(f"/v1/schedules/{made['id']}", json={"name": "New York office"},
                               headers=admin)).status_code == 200
    body = assert_problem(await client.patch(f"/v1/schedules/{made['id']}", json={"timezone": None}, headers=admin),
                          422, "validation_error")
    assert body["errors"][0]["loc"] == ["body", "timezone"]
    assert_problem(await client.get(f"/v1/schedules/{made['id']}", params={"at": "2026-03-08T06:30:00"},
                                    headers=admin), 422, "validation_error")  # no offset: ambiguous


async def test_open_now_and_next_change_across_the_spring_dst_change(client, admin):
    # 2026-03-08: New York's clocks jump from 02:00 EST to 03:00 EDT. 01:00-05:00 lasts three hours.
    sid = (await new_schedule(client, admin, business_hours={"sun": [{"start": "01:00", "end": "05:00"}]}))["id"]
    assert await status_at(client, admin, sid, "2026-03-08T05:59:00Z") == (False, "2026-03-08T06:00:00Z")
    assert await status_at(client, admin, sid, "2026-03-08T06:30:00Z") == (True, "2026-03-08T09:00:00Z")
    assert await status_at(client, admin, sid, "2026-03-08T09:00:00Z") == (False, "2026-03-15T05:00:00Z")
    # Friday after hours (EST) to Monday 09:00, which is already EDT: 13:00 UTC, not 14:00.
    week = (await new_schedule(client, admin, name="Week"))["id"]
    assert await status_at(client, admin, week, "2026-03-06T17:30:00-05:00") == (False, "2026-03-09T13:00:00Z")
    assert await status_at(client, admin, week, "2026-03-09T13:00:00Z") == (True, "2026-03-09T21:00:00Z")


async def test_open_now_and_next_change_across_the_autumn_dst_change(client, admin):
    # 2026-11-01: 02:00 EDT falls back to 01:00 EST. 01:00-05:00 opens at the first 01:00 and lasts five hours.
    sid = (await new_schedule(client, admin, business_hours={"sun": [{"start": "01:00", "end": "05:00"}]}))["id"]
    assert await status_at(client, admin, sid, "2026-11-01T04:00:00Z") == (False, "2026-11-01T05:00:00Z")
    assert await status_at(client, admin, sid, "2026-11-01T06:30:00Z") == (True, "2026-11-01T10:00:00Z")


async def test_a_holiday_is_closed_all_day_and_editing_it_changes_the_answer(client, admin):
    sid = (await new_schedule(client, admin, holidays=[{"date": "2026-12-25", "name": "Christmas"}]))["id"]
    # Thursday 24 December after hours: Friday is Christmas, so the next opening is Monday 09:00 EST.
    assert await status_at(client, admin, sid, "2026-12-24T22:30:00Z") == (False, "2026-12-28T14:00:00Z")
    assert await status_at(client, admin, sid, "2026-12-25T15:00:00Z") == (False, "2026-12-28T14:00:00Z")
    r = await client.patch(f"/v1/schedules/{sid}", json={"holidays": []}, headers=admin)
    assert r.status_code == 200, r.text
    assert await status_at(client, admin, sid, "2026-12-25T15:00:00Z") == (True, "2026-12-25T22:00:00Z")


async def test_windows_meeting_at_midnight_are_one_opening(client, admin):
    sid = (await new_schedule(client, admin, timezone="Europe/London", business_hours={
        "mon": [{"start": "22:00", "end": "24:00"}], "tue": [{"start": "00:00", "end": "02:00"}]}))["id"]
    # Monday 14 December 2026, 23:00 in London (GMT): open until Tuesday 02:00, no change at midnight.
    assert await status_at(client, admin, sid, "2026-12-14T23:00:00Z") == (True, "2026-12-15T02:00:00Z")
    assert await status_at(client, admin, sid, "2026-12-15T02:00:00Z") == (False, "2026-12-21T22:00:00Z")
    closed = (await new_schedule(client, admin, name="Never", business_hours={}))["id"]
    assert await status_at(client, admin, closed, "2026-12-15T02:00:00Z") == (False, None)


async def test_a_campaign_follows_its_linked_schedule_and_its_edits(client, admin):
    sid = (await new_schedule(client, admin))["id"]
    campaign = await create(client, admin, schedule_id=sid)
    assert (campaign["schedule_id"], campaign["schedule"]) == (sid, None)
    effective = campaign["effective_schedule"]
    assert (effective["source"], effective["schedule_id"], effective["name"], effective["timezone"]) == (
        "schedule", sid, "New York office", "America/New_York")
    assert effective["business_hours"]["mon"] == [{"start": "09:00", "end": "17:00"}]
    assert {"open_now", "next_change_at"} <= effective.keys()
    assert (await client.get(f"/v1/schedules/{sid}", headers=admin)).json()["campaigns"] == 1
    r = await client.patch(f"/v1/schedules/{sid}", json={"business_hours": {"sat": [{"start": "10:00", "end": "12:00"}]},
                                                        "holidays": ["2026-12-26"]}, headers=admin)
    assert r.status_code == 200, r.text
    effective = (await fetch(client, admin, campaign["id"]))["effective_schedule"]
    assert effective["business_hours"] == {"sat": [{"start": "10:00", "end": "12:00"}]}
    assert effective["holidays"] == [{"date": "2026-12-26", "name": ""}]
    listed = (await client.get("/v1/campaigns", headers=admin)).json()["items"]
    assert listed[0]["schedule_id"] == sid and listed[0]["effective_schedule"]["source"] == "schedule"


async def test_a_campaign_has_one_source_of_hours_at_a_time(client, admin):
    sid = (await new_schedule(client, admin))["id"]
    inline = {"timezone": "Europe/Paris", "business_hours": {"mon": [{"start": "08:00", "end": "12:00"}]}}
    body = assert_problem(await client.post("/v1/campaigns", json={"name": "Both", "schedule": inline,
                                                                   "schedule_id": sid}, headers=admin),
                          422, "schedule_conflict")
    assert {tuple(e["loc"]) for e in body["errors"]} == {("body", "schedule"), ("body", "schedule_id")}
    # Inline hours as before: the existing clients' way keeps working.
    campaign = await create(client, admin, schedule=inline)
    cid = campaign["id"]
    assert campaign["schedule"]["business_hours"] == inline["business_hours"] and campaign["schedule_id"] is None
    assert (campaign["effective_schedule"]["source"], campaign["effective_schedule"]["timezone"]) == (
        "campaign", "Europe/Paris")
    assert_problem(await client.patch(f"/v1/campaigns/{cid}", json={"schedule": inline, "schedule_id": sid},
                                      headers=admin), 422, "schedule_conflict")
    # Linking replaces the inline hours ...
    linked = (await client.patch(f"/v1/campaigns/{cid}", json={"schedule_id": sid}, headers=admin)).json()
    assert (linked["schedule_id"], linked["schedule"], linked["effective_schedule"]["source"]) == (sid, None, "schedule")
    # ... and inline hours replace the link.
    again = (await client.patch(f"/v1/campaigns/{cid}", json={"schedule": inline}, headers=admin)).json()
    assert (again["schedule_id"], again["effective_schedule"]["source"]) == (None, "campaign")
    relinked = (await client.patch(f"/v1/campaigns/{cid}", json={"schedule_id": sid}, headers=admin)).json()
    assert relinked["schedule_id"] == sid
    # Unlinking leaves no business-hours limit (the contact's quiet hours still hold).
    none = (await client.patch(f"/v1/campaigns/{cid}", json={"schedule_id": None}, headers=admin)).json()
    assert (none["schedule_id"], none["schedule"], none["effective_schedule"]["source"]) == (None, None, "none")
    assert none["effective_schedule"]["open_now"] is True
    # A duplicate follows the same schedule.
    await client.patch(f"/v1/campaigns/{cid}", json={"schedule_id": sid}, headers=admin)
    copy = (await client.post(f"/v1/campaigns/{cid}/duplicate", headers=admin)).json()
    assert copy["schedule_id"] == sid


async def test_a_schedule_a_live_campaign_follows_cannot_be_deleted(client, admin):
    sid = (await new_schedule(client, admin))["id"]
    live = await create(client, admin, schedule_id=sid, brief="Say hello")
    draft = await create(client, admin, name="Later", schedule_id=sid)
    assert (await client.post(f"/v1/campaigns/{live['id']}/go-live", headers=admin)).status_code == 200
    for step in (None, "pause"):
        if step:
            assert (await client.post(f"/v1/campaigns/{live['id']}/{step}", headers=admin)).status_code == 200
        body = assert_problem(await client.delete(f"/v1/schedules/{sid}", headers=admin), 409, "schedule_in_use")
        assert body["campaign_ids"] == [live["id"]]
    assert (await client.get(f"/v1/schedules/{sid}", headers=admin)).status_code == 200
    assert (await client.post(f"/v1/campaigns/{live['id']}/cancel", headers=admin)).status_code == 200
    assert (await client.delete(f"/v1/schedules/{sid}", headers=admin)).status_code == 204
    # The campaigns that followed it keep its hours, now as their own.
    for cid in (live["id"], draft["id"]):
        after = await fetch(client, admin, cid)
        assert after["schedule_id"] is None and after["effective_schedule"]["source"] == "campaign"
        assert after["schedule"]["timezone"] == "America/New_York"
        assert after["schedule"]["business_hours"]["mon"] == [{"start": "09:00", "end": "17:00"}]
