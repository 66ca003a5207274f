"""A campaign's phone numbers over HTTP: add (E.164, one row per number), list, edit, remove;
admin writes and any role reads; another workspace's campaign is 404; an archived campaign's
numbers are read-only; the call counters are never written through the API."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from agent.db import session_scope
from agent.models import ActivityEvent, CallerNumber
from tests.builders import count, make_key
from tests.conftest import bearer
from tests.flows import act, assert_problem, create


def url(cid: str, number_id: str | None = None) -> str:
    return f"/v1/campaigns/{cid}/phone-numbers" + (f"/{number_id}" if number_id else "")


async def add(client, headers, cid, **body):
    r = await client.post(url(cid), json={"number": "+14155552671", **body}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def test_a_number_is_added_in_e164_with_its_defaults(client, admin):
    cid = (await create(client, admin))["id"]
    body = await add(client, admin, cid, number="+1 (415) 555-2671", friendly_name="Main line")
    assert {k: v for k, v in body.items() if k not in ("id", "created_at")} == {
        "campaign_id": cid, "number": "+14155552671", "friendly_name": "Main line", "status": "active",
        "spam_score": 0, "weight": 1, "calls_today": 0, "calls_total": 0, "provider_number_id": None}
    listed = (await client.get(url(cid), headers=admin)).json()["items"]
    assert [n["id"] for n in listed] == [body["id"]]
    assert await count(ActivityEvent, kind="phone_number.added", campaign_id=cid) == 1


async def test_the_list_keeps_the_order_numbers_were_added_and_only_this_campaigns(client, admin):
    cid, other = (await create(client, admin))["id"], (await create(client, admin))["id"]
    first = await add(client, admin, cid, number="+14155552671")
    second = await add(client, admin, cid, number="+442071838750", status="disabled", spam_score=12.5, weight=3)
    await add(client, admin, other, number="+14155552672")
    items = (await client.get(url(cid), headers=admin)).json()["items"]
    assert [(n["id"], n["status"], n["spam_score"], n["weight"]) for n in items] == [
        (first["id"], "active", 0, 1), (second["id"], "disabled", 12.5, 3)]


async def test_the_same_number_twice_in_a_campaign_is_409_duplicate_number(client, admin):
    cid, other = (await create(client, admin))["id"], (await create(client, admin))["id"]
    first = await add(client, admin, cid)
    r = await client.post(url(cid), json={"number": "+1 415-555-2671"}, headers=admin)
    body = assert_problem(r, 409, "duplicate_number")
    assert body["number_id"] == first["id"] and body["errors"][0]["loc"] == ["body", "number"]
    await add(client, admin, other)  # another campaign may share it
    second = await add(client, admin, cid, number="+14155552672")
    r = await client.patch(url(cid, second["id"]), json={"number": "+14155552671"}, headers=admin)
    assert_problem(r, 409, "duplicate_number")
    assert await count(CallerNumber, campaign_id=cid) == 2


@pytest.mark.parametrize("body, field", [
    ({}, "number"),
    ({"number": "4155552671"}, "number"),  # no country code
    ({"number": "+1415555"}, "number"),
    ({"number": "+14155552671", "status": "retired"}, "status"),
    ({"number": "+14155552671", "spam_score": 101}, "spam_score"),
    ({"number": "+14155552671", "spam_score": -1}, "spam_score"),
    ({"number": "+14155552671", "weight": -1}, "weight"),
    ({"number": "+14155552671", "calls_today": 5}, "calls_today"),
    ({"number": "+14155552671", "calls_total": 5}, "calls_total"),
    ({"number": "+14155552671", "friendly_name": "x" * 101}, "friendly_name"),
])
async def test_a_bad_number_is_422_naming_the_field(client, admin, body, field):
    cid = (await create(client, admin))["id"]
    problem = assert_problem(await client.post(url(cid), json=body, headers=admin), 422, "validation_error")
    assert [e["loc"][-1] for e in problem["errors"]] == [field]
    assert await count(CallerNumber, campaign_id=cid) == 0


async def test_an_edit_changes_only_the_fields_sent(client, admin):
    cid = (await create(client, admin))["id"]
    row = await add(client, admin, cid, friendly_name="Main line", weight=4)
    r = await client.patch(url(cid, row["id"]), json={"status": "excluded", "spam_score": 80}, headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["spam_score"], body["friendly_name"], body["weight"]) == ("excluded", 80, "Main line", 4)
    r = await client.patch(url(cid, row["id"]), json={"number": "+1 212 555 0199"}, headers=admin)
    assert r.json()["number"] == "+12125550199"
    assert (await client.get(url(cid), headers=admin)).json()["items"][0]["number"] == "+12125550199"
    [event, _] = [e for e in await _events(cid) if e.kind == "phone_number.updated"]
    assert event.payload["fields"] == ["spam_score", "status"]


async def test_a_number_carries_its_vapi_id_which_an_edit_sets_and_clears(client, admin):
    cid = (await create(client, admin))["id"]
    row = await add(client, admin, cid, provider_number_id="pn-rot-1")
    assert row["provider_number_id"] == "pn-rot-1"
    r = await client.patch(url(cid, row["id"]), json={"provider_number_id": None}, headers=admin)
    assert r.status_code == 200 and r.json()["provider_number_id"] is None
    r = await client.patch(url(cid, row["id"]), json={"provider_number_id": ""}, headers=admin)
    assert r.status_code == 422 and "provider_number_id" in r.text


async def _events(cid: str) -> list[ActivityEvent]:
    async with session_scope() as s:
        return list((await s.execute(select(ActivityEvent).where(ActivityEvent.campaign_id == cid)
                                     .order_by(ActivityEvent.id))).scalars())


@pytest.mark.parametrize("body, field", [({"weight": None}, "weight"), ({"calls_total": 0}, "calls_total"),
                                         ({"number": "nope"}, "number"), ({"status": "on"}, "status")])
async def test_a_bad_edit_is_422_and_changes_nothing(client, admin, body, field):
    cid = (await create(client, admin))["id"]
    row = await add(client, admin, cid, weight=2)
    problem = assert_problem(await client.patch(url(cid, row["id"]), json=body, headers=admin), 422,
                             "validation_error")
    assert [e["loc"][-1] for e in problem["errors"]] == [field]
    [after] = (await client.get(url(cid), headers=admin)).json()["items"]
    assert after == row


async def test_removing_a_number_deletes_it(client, admin):
    cid = (await create(client, admin))["id"]
    row = await add(client, admin, cid)
    assert (await client.delete(url(cid, row["id"]), headers=admin)).status_code == 204
    assert (await client.get(url(cid), headers=admin)).json()["items"] == []
    assert_problem(await client.delete(url(cid, row["id"]), headers=admin), 404, "not_found")
    assert_problem(await client.patch(url(cid, row["id"]), json={"weight": 2}, headers=admin), 404, "not_found")
    assert await count(ActivityEvent, kind="phone_number.removed", campaign_id=cid) == 1


@pytest.mark.parametrize("role", ["viewer", "approver"])
async def test_other_roles_read_but_do_not_write(client, admin, role):
    cid = (await create(client, admin))["id"]
    row = await add(client, admin, cid)
    key = bearer(await make_key(role))
    assert [n["id"] for n in (await client.get(url(cid), headers=key)).json()["items"]] == [row["id"]]
    assert_problem(await client.post(url(cid), json={"number": "+14155552672"}, headers=key), 403, "forbidden")
    assert_problem(await client.patch(url(cid, row["id"]), json={"weight": 0}, headers=key), 403, "forbidden")
    assert_problem(await client.delete(url(cid, row["id"]), headers=key), 403, "forbidden")
    assert (await client.get(url(cid), headers=admin)).json()["items"] == [row]


async def test_another_workspace_gets_404_for_the_campaign_and_its_numbers(client, admin):
    cid = (await create(client, admin))["id"]
    row = await add(client, admin, cid)
    stranger = bearer(await make_key("admin", workspace="other"))
    assert_problem(await client.get(url(cid), headers=stranger), 404, "not_found")
    assert_problem(await client.post(url(cid), json={"number": "+14155552672"}, headers=stranger), 404, "not_found")
    assert_problem(await client.patch(url(cid, row["id"]), json={"weight": 0}, headers=stranger), 404, "not_found")
    assert_problem(await client.delete(url(cid, row["id"]), headers=stranger), 404, "not_found")
    # A number id of one campaign is not found under another campaign, even in the same workspace.
    other = (await create(client, admin))["id"]
    assert_problem(await client.patch(url(other, row["id"]), json={"weight": 0}, headers=admin), 404, "not_found")
    assert (await client.get(url(cid), headers=admin)).json()["items"] == [row]


async def test_an_archived_campaigns_numbers_are_read_only(client, admin):
    cid = (await create(client, admin))["id"]
    row = await add(client, admin, cid)
    await act(client, admin, cid, "go-live")
    await act(client, admin, cid, "archive")
    assert (await client.get(url(cid), headers=admin)).json()["items"] == [row]
    assert_problem(await client.post(url(cid), json={"number": "+14155552672"}, headers=admin), 409,
                   "campaign_archived")
    assert_problem(await client.patch(url(cid, row["id"]), json={"weight": 0}, headers=admin), 409,
                   "campaign_archived")
    assert_problem(await client.delete(url(cid, row["id"]), headers=admin), 409, "campaign_archived")
