"""The inbox from the outside: filters, text search, keyset pages, counts per status, the
detail view, and who may see what."""

from __future__ import annotations

from tests.conftest import bearer, make_key
from tests.flows import by_name, queue_with_drafts, statements_on


async def test_inbox_lists_pending_drafts_with_their_contact_and_counts(client, admin):
    cid, items = await queue_with_drafts(client, admin, 3)
    r = await client.get("/v1/outreaches", headers=admin)
    assert r.status_code == 200
    page = r.json()
    assert [i["id"] for i in page["items"]] == [i["id"] for i in items]  # oldest first
    first = by_name(page["items"])["Ann"]
    assert first["status"] == "awaiting_approval" and first["version"] == 1 and first["campaign_id"] == cid
    assert first["contact"]["name"] == "Ann Lee" and first["contact"]["email"] == "ann@example.com"
    assert first["subject"] and first["body"].startswith("Hi Ann") and "offline" in first["model"]
    assert page["counts"]["awaiting_approval"] == 3 and page["counts"]["approved"] == 0
    assert page["next_cursor"] is None


async def test_filters_by_campaign_channel_and_text(client, admin):
    email_cid, email_items = await queue_with_drafts(client, admin, 2)
    sms_cid, sms_items = await queue_with_drafts(
        client, admin, channels=("sms",),
        contacts=[{"name": "Zed 100%_Real", "phone": "212 555 0100"}, {"name": "Yan Po", "phone": "312 555 0101"}])

    async def ids(**params) -> set[str]:
        r = await client.get("/v1/outreaches", params=params, headers=admin)
        assert r.status_code == 200, r.text
        return {i["id"] for i in r.json()["items"]}

    email, sms = by_name(email_items), by_name(sms_items)
    assert await ids(campaign_id=email_cid) == {i["id"] for i in email_items}
    assert await ids(channel="sms") == {i["id"] for i in sms_items}
    assert await ids(q="bo@example") == {email["Bo"]["id"]}  # email
    assert await ids(q="ann lee") == {email["Ann"]["id"]}  # full name, any case
    assert await ids(q="(312) 555-0101") == {sms["Yan"]["id"]}  # phone, as typed
    assert await ids(q="webinar", channel="email") == {i["id"] for i in email_items}  # body and subject
    # LIKE wildcards are literal text: "%_" matches only the contact whose name holds them.
    assert await ids(q="%_") == {sms["Zed"]["id"]}
    assert await ids(q="_") == {sms["Zed"]["id"]}
    assert await ids(q="nobody-by-this-name") == set()


async def test_pages_follow_the_cursor_and_counts_ignore_the_status_filter(client, admin):
    cid, items = await queue_with_drafts(client, admin, 5)
    assert (await client.post(f"/v1/outreaches/{items[0]['id']}/approve", headers=admin)).status_code == 200
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, "campaign_id": cid} | ({"cursor": cursor} if cursor else {})
        body = (await client.get("/v1/outreaches", params=params, headers=admin)).json()
        pages += 1
        seen += [i["id"] for i in body["items"]]
        assert body["counts"]["awaiting_approval"] == 4 and body["counts"]["approved"] == 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 2 and seen == [i["id"] for i in items[1:]]
    approved = (await client.get("/v1/outreaches", params={"status": "approved"}, headers=admin)).json()
    assert [i["id"] for i in approved["items"]] == [items[0]["id"]]
    assert approved["counts"]["awaiting_approval"] == 4  # same counts whatever the status filter
    both = (await client.get("/v1/outreaches", params={"status": "approved,awaiting_approval"}, headers=admin)).json()
    assert len(both["items"]) == 5


async def test_bad_status_or_cursor_is_a_validation_error(client, admin):
    r = await client.get("/v1/outreaches", params={"status": "awaiting_approval,nope"}, headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["query", "status"]
    r = await client.get("/v1/outreaches", params={"cursor": "not-a-cursor"}, headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["query", "cursor"]


async def test_the_page_and_its_counts_take_two_queries_whatever_the_page_size(client, admin):
    await queue_with_drafts(client, admin, 6)
    with statements_on("outreaches") as statements:
        for limit in (1, 6):
            statements.clear()
            r = await client.get("/v1/outreaches", params={"limit": limit, "q": "example"}, headers=admin)
            assert len(r.json()["items"]) == limit
            assert len(statements) == 2, statements


async def test_detail_has_campaign_rationale_revisions_and_history(client, admin):
    cid, items = await queue_with_drafts(client, admin, 1)
    oid = items[0]["id"]
    r = await client.patch(f"/v1/outreaches/{oid}", json={"body": "Hi Ann, a seat is yours for May 4.", "version": 1},
                           headers=admin)
    assert r.status_code == 200, r.text
    r = await client.get(f"/v1/outreaches/{oid}", headers=admin)
    assert r.status_code == 200 and r.headers["etag"] == '"2"'
    d = r.json()
    assert d["campaign"] == {"id": cid, "name": "Spring webinar", "brief": d["campaign"]["brief"],
                             "manual_review": True} and "webinar" in d["campaign"]["brief"]
    assert d["rationale"] and d["contact"]["name"] == "Ann Lee"
    assert [(v["number"], v["actor"]) for v in d["revisions"]][0] == (1, "system")
    assert d["revisions"][1]["body"] == "Hi Ann, a seat is yours for May 4." and d["revisions"][1]["actor"] != "system"
    assert d["revisions"][0]["body"].startswith("Hi Ann,\n")  # the planner's text kept
    assert [e["kind"] for e in d["history"]] == ["outreach.planned", "outreach.edited"]


async def test_viewer_reads_but_may_not_act_and_other_workspaces_see_nothing(client, admin):
    cid, items = await queue_with_drafts(client, admin, 1)
    oid = items[0]["id"]
    viewer = bearer(await make_key("viewer"))
    assert len((await client.get("/v1/outreaches", headers=viewer)).json()["items"]) == 1
    assert (await client.get(f"/v1/outreaches/{oid}", headers=viewer)).status_code == 200
    refused = [
        await client.post(f"/v1/outreaches/{oid}/approve", headers=viewer),
        await client.post("/v1/outreaches/approve", json={"ids": [oid]}, headers=viewer),
        await client.patch(f"/v1/outreaches/{oid}", json={"body": "x", "version": 1}, headers=viewer),
        await client.post(f"/v1/outreaches/{oid}/reject", json={"reason": "no"}, headers=viewer),
        await client.post(f"/v1/campaigns/{cid}/execute-approved", headers=viewer),
    ]
    assert [r.status_code for r in refused] == [403] * 5
    other = bearer(await make_key("admin", workspace="other"))
    assert (await client.get("/v1/outreaches", headers=other)).json()["items"] == []
    hidden = [
        await client.get(f"/v1/outreaches/{oid}", headers=other),
        await client.post(f"/v1/outreaches/{oid}/approve", headers=other),
        await client.patch(f"/v1/outreaches/{oid}", json={"body": "x", "version": 1}, headers=other),
        await client.post(f"/v1/outreaches/{oid}/reject", json={"reason": "no"}, headers=other),
        await client.post(f"/v1/campaigns/{cid}/execute-approved", headers=other),
    ]
    assert [r.status_code for r in hidden] == [404] * 5
    bulk = (await client.post("/v1/outreaches/approve", json={"ids": [oid]}, headers=other)).json()
    assert bulk["approved"] == 0 and bulk["results"][0]["code"] == "not_found"
    # Nothing any of them tried changed the draft.
    d = (await client.get(f"/v1/outreaches/{oid}", headers=admin)).json()
    assert (d["status"], d["version"]) == ("awaiting_approval", 1)
    assert (await client.get("/v1/outreaches", headers={})).status_code == 401
