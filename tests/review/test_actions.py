"""Reviewer actions through HTTP: approve (one and many), edit with optimistic concurrency,
reject and regenerate; each on the record with its actor, each refused cleanly when stale."""

from __future__ import annotations

import asyncio
import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select

from agent.channels.rules import check_message
from agent.db import session_scope
from agent.models import Outreach
from tests.builders import enrollment_row, events, outreach_row
from tests.conftest import bearer, drain_queue, make_key
from tests.flows import SCHEDULE, by_name, queue_with_drafts


async def key_id(headers: dict[str, str]) -> str:
    from agent.auth import resolve_key

    async with session_scope() as s:
        return (await resolve_key(s, headers["Authorization"][7:])).key_id


async def test_approve_records_the_approver_once_and_repeating_it_changes_nothing(client, admin):
    _, items = await queue_with_drafts(client, admin, 1)
    oid = items[0]["id"]
    approver = bearer(await make_key("approver"))
    r = await client.post(f"/v1/outreaches/{oid}/approve", headers=approver)
    assert r.status_code == 200 and r.json()["status"] == "approved" and r.json()["version"] == 2
    again = await client.post(f"/v1/outreaches/{oid}/approve", headers=admin)
    assert again.status_code == 200 and again.json()["version"] == 2
    row = await outreach_row(oid)
    assert row.approved_by == await key_id(approver) and row.approved_at is not None
    approvals = await events(oid, "outreach.approved")
    assert [e.actor for e in approvals] == [await key_id(approver)]


async def test_approve_answers_the_item_as_the_inbox_shows_it_and_its_event_names_the_contact(client, admin):
    _, items = await queue_with_drafts(client, admin, 3)
    named = by_name(items)
    bo = named["Bo"]  # not the first draft: the answer's contact is the one of its own enrollment
    approver = bearer(await make_key("approver"))
    r = await client.post(f"/v1/outreaches/{bo['id']}/approve", headers=approver)
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    shown = (await client.get("/v1/outreaches", params={"status": "approved"}, headers=admin)).json()["items"]
    # The approve's answer names no SLA (the inbox reads it from the campaign; nothing waits now).
    assert [i["id"] for i in shown] == [bo["id"]] and r.json() == shown[0] | {"approval_sla_hours": None}
    assert r.json()["contact"] == bo["contact"] and r.json()["approval_age_s"] is None
    [event] = await events(bo["id"], "outreach.approved")
    assert (event.actor, event.contact_id, event.enrollment_id, event.campaign_id, event.payload) == (
        await key_id(approver), bo["contact"]["id"], bo["enrollment_id"], bo["campaign_id"], {"version": 2})
    assert event.created_at == (await outreach_row(bo["id"])).approved_at


async def test_approve_with_a_version_is_refused_when_the_draft_moved_on(client, admin):
    _, items = await queue_with_drafts(client, admin, 1)
    oid = items[0]["id"]
    assert (await client.patch(f"/v1/outreaches/{oid}", json={"body": "Hi Ann, edited.", "version": 1},
                               headers=admin)).status_code == 200
    stale = await client.post(f"/v1/outreaches/{oid}/approve", headers=admin | {"If-Match": '"1"'})
    assert stale.status_code == 409 and (stale.json()["code"], stale.json()["current_version"]) == ("stale", 2)
    assert (await outreach_row(oid)).status == "awaiting_approval" and await events(oid, "outreach.approved") == []
    r = await client.post(f"/v1/outreaches/{oid}/approve", headers=admin | {"If-Match": '"2"'})
    assert r.status_code == 200 and (r.json()["status"], r.json()["version"]) == ("approved", 3)
    again = await client.post(f"/v1/outreaches/{oid}/approve", headers=admin | {"If-Match": '"2"'})
    assert again.status_code == 200 and again.json() == r.json()  # approved already: the same answer, no new event
    assert len(await events(oid, "outreach.approved")) == 1
    missing = await client.post("/v1/outreaches/out_missing/approve", headers=admin)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


async def test_approve_after_reject_is_an_invalid_transition(client, admin):
    _, items = await queue_with_drafts(client, admin, 1)
    oid = items[0]["id"]
    assert (await client.post(f"/v1/outreaches/{oid}/reject", json={"reason": "off brand"},
                              headers=admin)).status_code == 200
    r = await client.post(f"/v1/outreaches/{oid}/approve", headers=admin)
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition"
    assert r.headers["content-type"].startswith("application/problem+json")
    row = await outreach_row(oid)
    assert (row.status, row.approved_by) == ("rejected", None)
    assert await events(oid, "outreach.approved") == []


async def test_two_approvers_editing_the_same_draft_one_wins_the_other_is_stale(client, admin):
    _, items = await queue_with_drafts(client, admin, 1)
    oid = items[0]["id"]
    alice, bob = bearer(await make_key("approver")), bearer(await make_key("approver"))
    first = await client.patch(f"/v1/outreaches/{oid}", json={"body": "Hi Ann, from Alice."},
                               headers=alice | {"If-Match": '"1"'})
    assert first.status_code == 200 and first.json()["version"] == 2 and first.headers["etag"] == '"2"'
    second = await client.patch(f"/v1/outreaches/{oid}", json={"body": "Hi Ann, from Bob.", "version": 1},
                                headers=bob)
    assert second.status_code == 409 and second.json()["code"] == "stale"
    assert second.json()["current_version"] == 2
    row = await outreach_row(oid)
    assert (row.body, row.version) == ("Hi Ann, from Alice.", 2)
    assert len(await events(oid, "outreach.edited")) == 1


async def test_concurrent_edits_at_the_same_version_never_both_land(client, admin):
    _, items = await queue_with_drafts(client, admin, 1)
    oid = items[0]["id"]
    alice, bob = bearer(await make_key("approver")), bearer(await make_key("approver"))
    answers = await asyncio.gather(
        client.patch(f"/v1/outreaches/{oid}", json={"body": "Hi Ann, from Alice.", "version": 1}, headers=alice),
        client.patch(f"/v1/outreaches/{oid}", json={"body": "Hi Ann, from Bob.", "version": 1}, headers=bob))
    assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
    winner = next(r for r in answers if r.status_code == 200).json()
    row = await outreach_row(oid)
    assert row.version == 2 and row.body == winner["body"]
    assert len(await events(oid, "outreach.edited")) == 1


async def test_concurrent_approvals_approve_once(client, admin):
    _, items = await queue_with_drafts(client, admin, 1)
    oid = items[0]["id"]
    keys = [bearer(await make_key("approver")) for _ in range(3)]
    answers = await asyncio.gather(*(client.post(f"/v1/outreaches/{oid}/approve", headers=k) for k in keys))
    assert [r.status_code for r in answers] == [200] * 3
    assert len(await events(oid, "outreach.approved")) == 1
    assert (await outreach_row(oid)).version == 2


async def test_edit_is_a_new_revision_and_an_approved_draft_needs_approval_again(client, admin):
    _, items = await queue_with_drafts(client, admin, 1)
    oid = items[0]["id"]
    assert (await client.post(f"/v1/outreaches/{oid}/approve", headers=admin)).json()["version"] == 2
    r = await client.patch(f"/v1/outreaches/{oid}", json={"subject": "A seat for you", "version": 2}, headers=admin)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["subject"], r.json()["version"]) == ("awaiting_approval", "A seat for you", 3)
    row = await outreach_row(oid)
    assert row.approved_by is None and row.body.startswith("Hi Ann")  # body untouched
    d = (await client.get(f"/v1/outreaches/{oid}", headers=admin)).json()
    assert [v["subject"] for v in d["revisions"]] == [items[0]["subject"], "A seat for you"]


async def test_an_edit_that_breaks_a_channel_rule_is_refused_naming_rule_and_field(client, admin):
    _, items = await queue_with_drafts(client, admin, 1)
    oid = items[0]["id"]
    r = await client.patch(f"/v1/outreaches/{oid}", json={"body": "Hi {first_name}, see you there.", "version": 1},
                           headers=admin)
    assert r.status_code == 422 and r.json()["code"] == "draft_invalid"
    assert r.json()["errors"][0]["code"] == "placeholder_left" and r.json()["errors"][0]["loc"] == ["body", "body"]
    r = await client.patch(f"/v1/outreaches/{oid}", json={"subject": "  ", "version": 1}, headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "missing_subject"
    r = await client.patch(f"/v1/outreaches/{oid}", json={"body": "x" * 10_001, "version": 1}, headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "message_too_long"
    row = await outreach_row(oid)
    assert row.version == 1 and "{first_name}" not in row.body
    assert await events(oid, "outreach.edited") == []


async def test_an_edit_is_refused_in_the_channel_rules_own_words(client, admin):
    # Review checks edits with the same rules the planner drafts against, not a copy of them.
    _, items = await queue_with_drafts(client, admin, 1)
    body = "Hi [First Name], {{ link }}"
    r = await client.patch(f"/v1/outreaches/{items[0]['id']}", json={"body": body, "version": 1}, headers=admin)
    problems = check_message("email", subject=items[0]["subject"], body=body)
    assert [p.code for p in problems] == ["unrendered_template", "placeholder_left"]
    assert r.status_code == 422 and r.json()["detail"] == f"{problems[0].field}: {problems[0].message}"
    assert r.json()["errors"] == [{"loc": ["body", p.field], "message": p.message, "code": p.code} for p in problems]


async def test_an_edit_needs_the_version_it_started_from(client, admin):
    _, items = await queue_with_drafts(client, admin, 1)
    oid = items[0]["id"]
    r = await client.patch(f"/v1/outreaches/{oid}", json={"body": "Hi Ann."}, headers=admin)
    assert r.status_code == 428 and r.json()["code"] == "version_required"
    r = await client.patch(f"/v1/outreaches/{oid}", json={"body": "Hi Ann."}, headers=admin | {"If-Match": "abc"})
    assert r.status_code == 422
    assert (await outreach_row(oid)).version == 1


async def test_a_new_send_time_must_respect_the_contacts_hours(client, admin):
    _, items = await queue_with_drafts(client, admin, 1, schedule=SCHEDULE,
                                       contacts=[{"name": "Ann Lee", "email": "ann@example.com",
                                                  "timezone": "America/Chicago"}])
    oid = items[0]["id"]
    ny = ZoneInfo("America/New_York")
    monday = dt.datetime.now(ny).date() + dt.timedelta(days=7 - dt.datetime.now(ny).weekday())
    night = dt.datetime.combine(monday, dt.time(3, 0), ny)  # quiet hours and outside business hours
    saturday = dt.datetime.combine(monday - dt.timedelta(days=2), dt.time(11, 0), ny)  # no business hours
    early = dt.datetime.combine(monday, dt.time(9, 0), ny)  # 08:00 in Chicago: open; 09:00 NY business: open
    for when in (night, saturday):
        r = await client.patch(f"/v1/outreaches/{oid}", json={"scheduled_at": when.isoformat(), "version": 1},
                               headers=admin)
        assert r.status_code == 422 and r.json()["code"] == "outside_allowed_hours", (when, r.text)
    r = await client.patch(f"/v1/outreaches/{oid}", json={"scheduled_at": "2030-01-07T10:00:00", "version": 1},
                           headers=admin)
    assert r.status_code == 422  # a naive time is ambiguous
    r = await client.patch(f"/v1/outreaches/{oid}", json={"scheduled_at": early.isoformat(), "version": 1},
                           headers=admin)
    assert r.status_code == 200, r.text
    assert (await outreach_row(oid)).scheduled_at == early.astimezone(dt.UTC)


async def test_bulk_approve_answers_per_id_and_a_stale_id_does_not_stop_the_rest(client, admin):
    _, items = await queue_with_drafts(client, admin, 4)
    named = by_name(items)
    stale, rejected = named["Bo"]["id"], named["Cy"]["id"]
    assert (await client.patch(f"/v1/outreaches/{stale}", json={"body": "Hi Bo, edited.", "version": 1},
                               headers=admin)).status_code == 200
    assert (await client.post(f"/v1/outreaches/{rejected}/reject", json={}, headers=admin)).status_code == 200
    ids = [i["id"] for i in items] + ["out_missing"]
    r = await client.post("/v1/outreaches/approve", json={"ids": ids, "versions": {i["id"]: 1 for i in items}},
                          headers=bearer(await make_key("approver")))
    assert r.status_code == 200
    results = {x["id"]: x for x in r.json()["results"]}
    assert r.json()["approved"] == 2
    assert results[named["Ann"]["id"]]["ok"] and results[named["Di"]["id"]]["status"] == "approved"
    assert (results[stale]["ok"], results[stale]["code"], results[stale]["version"]) == (False, "stale", 2)
    assert (results[rejected]["code"], results[rejected]["status"]) == ("invalid_transition", "rejected")
    assert results["out_missing"]["code"] == "not_found"
    assert (await outreach_row(stale)).status == "awaiting_approval"
    assert (await outreach_row(named["Ann"]["id"])).status == "approved"


async def test_reject_without_regenerate_parks_the_contact_and_drafts_nothing(client, admin):
    cid, items = await queue_with_drafts(client, admin, 1)
    oid = items[0]["id"]
    r = await client.post(f"/v1/outreaches/{oid}/reject", json={"reason": "Too pushy"}, headers=admin)
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    await drain_queue()
    enrollment = await enrollment_row(items[0]["enrollment_id"])
    assert (enrollment.status, enrollment.substatus) == ("waiting", "scheduled")
    assert enrollment.next_attempt_at > dt.datetime.now(dt.UTC) + dt.timedelta(hours=23)
    async with session_scope() as s:
        assert len((await s.execute(select(Outreach).where(Outreach.campaign_id == cid))).scalars().all()) == 1
    [event] = await events(oid, "outreach.rejected")
    assert event.payload["reason"] == "Too pushy" and event.actor != "system"
    again = await client.post(f"/v1/outreaches/{oid}/reject", json={"reason": "again"}, headers=admin)
    assert again.status_code == 409 and again.json()["code"] == "invalid_transition"


async def test_reject_and_regenerate_brings_a_new_draft_back_to_the_queue(client, admin):
    cid, items = await queue_with_drafts(client, admin, 1)
    old = items[0]
    r = await client.post(f"/v1/outreaches/{old['id']}/reject",
                          json={"reason": "Mention the date", "regenerate": True,
                                "instruction": "Lead with the date, May 4."}, headers=admin)
    assert r.status_code == 200 and r.json()["status"] == "superseded"
    await drain_queue()
    inbox = (await client.get("/v1/outreaches", params={"campaign_id": cid}, headers=admin)).json()
    [new] = inbox["items"]
    assert new["id"] != old["id"] and new["enrollment_id"] == old["enrollment_id"]
    assert inbox["counts"]["superseded"] == 1 and inbox["counts"]["awaiting_approval"] == 1
    assert (await outreach_row(new["id"])).instruction == "Lead with the date, May 4."
    assert (await outreach_row(new["id"])).supersedes_id == old["id"]
    assert (await enrollment_row(old["enrollment_id"])).status == "awaiting_approval"
    assert [e.payload["instruction"] for e in await events(old["id"], "outreach.superseded")] == [
        "Lead with the date, May 4."]
    # The new draft can be approved; the old one can not.
    assert (await client.post(f"/v1/outreaches/{new['id']}/approve", headers=admin)).status_code == 200
    assert (await client.post(f"/v1/outreaches/{old['id']}/approve", headers=admin)).status_code == 409


async def test_an_approve_on_sqlite_hands_off_twice_and_its_event_lands_with_the_commit(client, admin, db_url):
    """The UPDATE, then the event's INSERT with the commit (agent.sqlite_trips.DEFER); on
    PostgreSQL the INSERT is sent as it comes. Either way the event is on record with the move."""
    from agent.auth import resolve_key
    from review import service

    _, items = await queue_with_drafts(client, admin, 2)
    async with session_scope() as s:
        who = await resolve_key(s, admin["Authorization"][7:])
    async with session_scope() as s:
        driver = (await (await s.connection()).get_raw_connection()).driver_connection
        before = getattr(driver, "trips", 0)
        assert (await service.approve(s, who, items[0]["id"])).status == "approved"
        if db_url.startswith("sqlite"):
            assert driver.trips - before == 1 and len(driver.deferred) == 1  # the UPDATE; the INSERT waits
    if db_url.startswith("sqlite"):
        assert driver.trips - before == 2 and driver.deferred == []  # and rode with the commit
    [event] = await events(items[0]["id"], "outreach.approved")
    assert (event.actor, event.payload) == (who.key_id, {"version": 2})
    assert (await outreach_row(items[1]["id"])).status == "awaiting_approval"
