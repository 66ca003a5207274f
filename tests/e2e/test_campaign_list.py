"""The campaign list's sorts by start date and contact count, and the bulk pause/resume/archive."""

import pytest

from agent.states import Role
from tests.conftest import bearer, make_key
from tests.flows import act, assert_problem, create, fetch, listed, people


async def _with_contacts(client, headers, name, n, **fields):
    cid = (await create(client, headers, name=name, channels=[{"kind": "email"}], **fields))["id"]
    if n:
        r = await client.post(f"/v1/campaigns/{cid}/contacts", json={"contacts": people(n)}, headers=headers)
        assert r.status_code == 200 and not r.json()["errors"], r.text
    return cid


@pytest.mark.parametrize("sort,expected", [
    ("contacts_count", ["none", "one", "three"]), ("-contacts_count", ["three", "one", "none"]),
    ("start_at", ["march", "june", "undated"]), ("-start_at", ["undated", "june", "march"]),
])
async def test_list_sorts_by_contact_count_and_start_date(client, admin, sort, expected):
    await _with_contacts(client, admin, "three", 3)
    await _with_contacts(client, admin, "none", 0)
    await _with_contacts(client, admin, "one", 1)
    if "start_at" in sort:
        for c in (await listed(client, admin))["items"]:
            assert (await client.delete(f"/v1/campaigns/{c['id']}?confirm=true", headers=admin)).status_code == 204
        await create(client, admin, name="june", start_at="2027-06-01T09:00:00+02:00")
        await create(client, admin, name="undated")
        await create(client, admin, name="march", start_at="2027-03-01T09:00:00-05:00")
    page = await listed(client, admin, sort=sort)
    assert [c["name"] for c in page["items"]] == expected
    if sort.endswith("contacts_count"):
        assert sorted(c["contacts_count"] for c in page["items"]) == [0, 1, 3]


@pytest.mark.parametrize("sort", ["contacts_count", "-contacts_count", "start_at", "-start_at"])
async def test_pages_walk_every_campaign_once_under_the_new_sorts(client, admin, sort):
    for i, n in enumerate((2, 0, 2, 1, 0, 3, 2)):  # ties on count
        await _with_contacts(client, admin, f"c{i}", n, **({"start_at": f"2027-0{1 + i % 3}-01T00:00:00Z"}
                                                            if i % 2 else {}))
    everything = [c["id"] for c in (await listed(client, admin, sort=sort))["items"]]
    walked, cursor = [], None
    while True:
        page = await listed(client, admin, sort=sort, limit=3, **({"cursor": cursor} if cursor else {}))
        walked += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == everything and len(set(walked)) == 7


async def test_a_cursor_of_another_sort_is_refused(client, admin):
    for name in ("a", "b", "c"):
        await create(client, admin, name=name)
    cursor = (await listed(client, admin, sort="name", limit=1))["next_cursor"]
    assert_problem(await client.get("/v1/campaigns", params={"sort": "contacts_count", "cursor": cursor},
                                    headers=admin), 422, "invalid_cursor")
    assert_problem(await client.get("/v1/campaigns", params={"sort": "start_at", "cursor": cursor},
                                    headers=admin), 422, "invalid_cursor")


async def test_bulk_pause_moves_the_active_ones_and_reports_each(client, admin):
    live = (await act(client, admin, (await create(client, admin, name="live"))["id"], "go-live"))["id"]
    draft = (await create(client, admin, name="draft"))["id"]
    stranger = bearer(await make_key(Role.admin, workspace="other"))
    foreign = (await create(client, stranger, name="theirs"))["id"]
    foreign = (await act(client, stranger, foreign, "go-live"))["id"]
    r = await client.post("/v1/campaigns/bulk", json={"action": "pause", "ids": [live, draft, foreign, live]},
                          headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["done"] == 1
    by_id = {x["id"]: x for x in body["results"]}
    assert [x["id"] for x in body["results"]] == [live, draft, foreign]
    assert by_id[live] == {"id": live, "ok": True, "status": "paused", "code": None, "detail": None}
    assert by_id[draft]["ok"] is False and by_id[draft]["code"] == "invalid_transition"
    assert by_id[draft]["status"] == "draft"
    assert by_id[foreign]["ok"] is False and by_id[foreign]["code"] == "not_found" and by_id[foreign]["status"] is None
    assert (await fetch(client, admin, live))["status"] == "paused"
    assert (await fetch(client, admin, draft))["status"] == "draft"
    assert (await fetch(client, stranger, foreign))["status"] == "active"

    r = await client.post("/v1/campaigns/bulk", json={"action": "resume", "ids": [live]}, headers=admin)
    assert r.json()["results"][0]["status"] == "active"
    r = await client.post("/v1/campaigns/bulk", json={"action": "archive", "ids": [live, draft]}, headers=admin)
    assert r.json()["done"] == 2
    assert (await listed(client, admin))["items"] == []
    assert {c["id"] for c in (await listed(client, admin, status="archived"))["items"]} == {live, draft}


async def test_bulk_needs_an_admin_and_a_known_action(client, admin):
    cid = (await create(client, admin))["id"]
    viewer = bearer(await make_key(Role.viewer))
    assert_problem(await client.post("/v1/campaigns/bulk", json={"action": "pause", "ids": [cid]}, headers=viewer),
                   403, "forbidden")
    assert_problem(await client.post("/v1/campaigns/bulk", json={"action": "go-live", "ids": [cid]}, headers=admin),
                   422, "validation_error")
    assert_problem(await client.post("/v1/campaigns/bulk", json={"action": "pause", "ids": []}, headers=admin),
                   422, "validation_error")
