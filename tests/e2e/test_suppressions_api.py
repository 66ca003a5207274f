"""The suppression list over HTTP: add (normalised like contacts, a repeat answers the entry),
list with filters and pages, remove; admin keys only, one workspace's list invisible to another;
and an entry added here stops an approved send."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from agent.db import session_scope
from agent.executor import Outcome, execute
from agent.models import ActivityEvent
from tests.builders import count, make_key, outreach_row
from tests.conftest import bearer
from tests.flows import approved_and_queued, assert_problem


async def add(client, headers, **body):
    r = await client.post("/v1/suppressions", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def test_an_entry_is_stored_normalised_like_a_contact(client, admin):
    body = await add(client, admin, phone="(415) 555-2671", email="  Ann.Lee@Example.COM ", channel="sms",
                     reason="opted_out", source="crm sync")
    assert {k: body[k] for k in ("phone", "email", "channel", "reason", "source")} == {
        "phone": "+14155552671", "email": "ann.lee@example.com", "channel": "sms", "reason": "opted_out",
        "source": "crm sync"}
    assert body["id"].startswith("sup") and body["created_at"]
    [event] = [e for e in await _events() if e.kind == "suppression.added"]
    assert event.campaign_id is None and event.payload["suppression_id"] == body["id"]


async def _events() -> list[ActivityEvent]:
    async with session_scope() as s:
        return list((await s.execute(select(ActivityEvent).order_by(ActivityEvent.id))).scalars())


async def test_defaults_are_every_channel_a_manual_reason_and_the_api_as_source(client, admin):
    body = await add(client, admin, email="bo@example.com")
    assert (body["phone"], body["channel"], body["reason"], body["source"]) == (None, "all", "manual", "api")


async def test_adding_the_same_entry_again_answers_the_existing_one_with_200(client, admin):
    first = await add(client, admin, phone="+14155552671", channel="voice")
    again = await client.post("/v1/suppressions", json={"phone": "415-555-2671", "channel": "voice"}, headers=admin)
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    other_channel = await add(client, admin, phone="+14155552671", channel="sms")
    assert other_channel["id"] != first["id"]
    assert await count(ActivityEvent, kind="suppression.added") == 2


@pytest.mark.parametrize("body, fields", [
    ({}, ["phone", "email"]),
    ({"phone": "  ", "email": ""}, ["phone", "email"]),
    ({"phone": "12"}, ["phone"]),
    ({"email": "not-an-address"}, ["email"]),
    ({"phone": "+14155552671", "email": "nope@"}, ["email"]),
    ({"email": "a@example.com", "channel": "fax"}, ["channel"]),
    ({"email": "a@example.com", "reason": ""}, ["reason"]),
    ({"email": "a@example.com", "colour": "red"}, ["colour"]),
])
async def test_a_bad_entry_is_422_naming_the_field(client, admin, body, fields):
    r = await client.post("/v1/suppressions", json=body, headers=admin)
    problem = assert_problem(r, 422, "validation_error")
    assert sorted(e["loc"][-1] for e in problem["errors"]) == sorted(fields)
    assert await count(ActivityEvent, kind="suppression.added") == 0


async def test_the_list_is_newest_first_in_pages(client, admin):
    ids = [(await add(client, admin, email=f"p{i}@example.com"))["id"] for i in range(5)]
    seen, cursor = [], None
    while True:
        r = await client.get("/v1/suppressions", params={"limit": 2, **({"cursor": cursor} if cursor else {})},
                             headers=admin)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 2
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]
    assert_problem(await client.get("/v1/suppressions", params={"cursor": "garbage"}, headers=admin), 422,
                   "invalid_cursor")


async def test_the_list_filters_by_channel_and_by_text(client, admin):
    ann = await add(client, admin, phone="+14155552671", channel="sms")
    bo = await add(client, admin, email="bo.chen@example.com", channel="email")
    cy = await add(client, admin, email="cy@other.org")

    async def ids(**params):
        r = await client.get("/v1/suppressions", params=params, headers=admin)
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert await ids(channel="sms") == [ann["id"]]
    assert await ids(channel="all") == [cy["id"]]
    assert await ids(q="BO.CHEN") == [bo["id"]]
    assert await ids(q="example.com") == [bo["id"]]
    assert await ids(q="(415) 555-2671") == [ann["id"]]  # a phone written any way finds its E.164 entry
    assert await ids(q="5552671") == [ann["id"]]
    assert await ids(q="%") == []  # wildcards match themselves
    assert await ids(q="example", channel="sms") == []
    assert_problem(await client.get("/v1/suppressions", params={"channel": "fax"}, headers=admin), 422,
                   "validation_error")


async def test_removing_an_entry_deletes_it_and_records_it(client, admin):
    entry = await add(client, admin, email="ann@example.com")
    r = await client.delete(f"/v1/suppressions/{entry['id']}", headers=admin)
    assert r.status_code == 204, r.text
    assert (await client.get("/v1/suppressions", headers=admin)).json()["items"] == []
    [event] = [e for e in await _events() if e.kind == "suppression.removed"]
    assert event.payload["email"] == "ann@example.com"
    assert_problem(await client.delete(f"/v1/suppressions/{entry['id']}", headers=admin), 404, "not_found")


@pytest.mark.parametrize("role", ["viewer", "approver"])
async def test_only_an_admin_reads_or_changes_the_list(client, admin, role):
    entry = await add(client, admin, email="ann@example.com")
    key = bearer(await make_key(role))
    assert_problem(await client.get("/v1/suppressions", headers=key), 403, "forbidden")
    assert_problem(await client.post("/v1/suppressions", json={"email": "bo@example.com"}, headers=key), 403,
                   "forbidden")
    assert_problem(await client.delete(f"/v1/suppressions/{entry['id']}", headers=key), 403, "forbidden")
    assert [i["id"] for i in (await client.get("/v1/suppressions", headers=admin)).json()["items"]] == [entry["id"]]


async def test_another_workspace_neither_sees_nor_removes_an_entry(client, admin):
    entry = await add(client, admin, email="ann@example.com")
    stranger = bearer(await make_key("admin", workspace="other"))
    assert (await client.get("/v1/suppressions", headers=stranger)).json()["items"] == []
    assert_problem(await client.delete(f"/v1/suppressions/{entry['id']}", headers=stranger), 404, "not_found")
    # Its own entry for the same address is its own, not answered with ours.
    theirs = await add(client, stranger, email="ann@example.com")
    assert theirs["id"] != entry["id"]
    assert [i["id"] for i in (await client.get("/v1/suppressions", headers=admin)).json()["items"]] == [entry["id"]]


async def test_an_entry_added_through_the_api_stops_an_approved_email(client, admin):
    cid, named = await approved_and_queued(client, admin, 2)
    # People's addresses are ann@example.com and bo@example.com; the entry is written in other case.
    await add(client, admin, email="ANN@Example.com", channel="email", reason="opted_out")
    ann, bo = named["Ann"]["id"], named["Bo"]["id"]
    assert await execute(ann) is Outcome.cancelled
    row = await outreach_row(ann)
    assert row.status == "cancelled" and row.error == "the contact is on the suppression list"
    assert await execute(bo) is Outcome.sent


async def test_an_entry_for_another_channel_does_not_stop_the_email(client, admin):
    cid, named = await approved_and_queued(client, admin, 1)
    await add(client, admin, email="ann@example.com", channel="sms")
    assert await execute(named["Ann"]["id"]) is Outcome.sent
