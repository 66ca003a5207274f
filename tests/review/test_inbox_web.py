"""The inbox pages over HTTP: the session cookie, CSRF, roles, refused actions and local assets.

The browser tests (tests/browser) show the flows; these pin the guarantees a browser cannot
easily probe, on every backend.
"""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select, update

from agent.auth import hash_key
from agent.db import session_scope, utcnow
from agent.models import ApiKey, WebSession
from tests.builders import outreach_row
from tests.conftest import make_key
from tests.flows import by_name, queue_with_drafts


async def signed_in(client: httpx.AsyncClient, key: str) -> str:
    """Sign ``client`` in with ``key`` (it keeps the cookie); returns the page's CSRF token."""
    form = await client.get("/inbox/signin")
    token = re.search(r'name="signin_token" value="([^"]+)"', form.text).group(1)
    r = await client.post("/inbox/signin", data={"key": key, "signin_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/inbox", r.text
    page = await client.get("/inbox")
    assert page.status_code == 200
    return csrf_of(page.text)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


async def test_no_session_goes_to_sign_in_and_a_bad_key_or_forged_form_is_refused(client):
    r = await client.get("/inbox")
    assert r.status_code == 303 and r.headers["location"] == "/inbox/signin"
    form = await client.get("/inbox/signin")
    token = re.search(r'name="signin_token" value="([^"]+)"', form.text).group(1)
    bad = await client.post("/inbox/signin", data={"key": "ovk_nope", "signin_token": token})
    assert bad.status_code == 401 and "unknown or revoked" in bad.text and "overture_session" not in bad.headers.get(
        "set-cookie", "")
    # A sign-in posted from elsewhere lacks the form's double-submit token.
    key = await make_key("approver")
    async with httpx.AsyncClient(transport=client._transport, base_url="http://overture.test") as stranger:
        forged = await stranger.post("/inbox/signin", data={"key": key, "signin_token": "guess"})
    assert forged.status_code == 400 and "overture_session" not in forged.headers.get("set-cookie", "")


async def test_the_session_cookie_holds_a_token_not_the_key_and_revoking_the_key_ends_it(client):
    key = await make_key("approver", workspace="acme")
    form = await client.get("/inbox/signin")
    token = re.search(r'name="signin_token" value="([^"]+)"', form.text).group(1)
    r = await client.post("/inbox/signin", data={"key": key, "signin_token": token})
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("overture_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/inbox" in cookie and key not in cookie
    assert (await client.get("/inbox")).status_code == 200
    async with session_scope() as s:
        stored = (await s.execute(select(WebSession))).scalars().all()
    assert len(stored) == 1 and stored[0].token_hash not in cookie  # only the token's hash is kept
    await _revoke(key)
    assert (await client.get("/inbox")).status_code == 303


async def _revoke(raw: str) -> None:
    async with session_scope() as s:
        await s.execute(update(ApiKey).where(ApiKey.key_hash == hash_key(raw)).values(revoked_at=utcnow()))


async def test_a_post_without_the_csrf_token_changes_nothing(client, admin):
    _, items = await queue_with_drafts(client, admin, 1)
    await signed_in(client, await make_key("approver"))
    draft = items[0]
    r = await client.post(f"/inbox/outreaches/{draft['id']}/approve", data={"version": "1"})
    assert r.status_code == 403 and "CSRF" in r.text
    r = await client.post(f"/inbox/outreaches/{draft['id']}/approve", data={"version": "1", "csrf": "x" * 43})
    assert r.status_code == 403
    assert (await outreach_row(draft["id"])).status == "awaiting_approval"


async def test_a_viewer_may_look_but_an_action_is_refused(client, admin):
    _, items = await queue_with_drafts(client, admin, 1)
    csrf = await signed_in(client, await make_key("viewer"))
    page = await client.get("/inbox")
    assert 'id="approve"' not in page.text and "Ann Lee" in page.text
    r = await client.post(f"/inbox/outreaches/{items[0]['id']}/approve", data={"version": "1", "csrf": csrf})
    assert r.status_code == 403 and "viewer role" in r.text
    assert (await outreach_row(items[0]["id"])).status == "awaiting_approval"


async def test_two_reviewers_editing_one_draft_the_second_sees_stale_with_their_text_kept(client, admin):
    _, items = await queue_with_drafts(client, admin, 1)
    draft = items[0]
    first = await signed_in(client, await make_key("approver"))
    async with httpx.AsyncClient(transport=client._transport, base_url="http://overture.test") as other:
        second = await signed_in(other, await make_key("approver"))
        ok = await client.post(f"/inbox/outreaches/{draft['id']}/edit",
                               data={"csrf": first, "version": "1", "subject": "First", "body": "First body"})
        assert ok.status_code == 303 and "notice=edited" in ok.headers["location"]
        late = await other.post(f"/inbox/outreaches/{draft['id']}/edit",
                                data={"csrf": second, "version": "1", "subject": "Second", "body": "Second body"})
    assert late.status_code == 409 and "changed this draft" in late.text
    assert "Second body</textarea>" in late.text  # the loser's words are still in the form
    row = await outreach_row(draft["id"])
    assert (row.subject, row.body, row.version) == ("First", "First body", 2)


async def test_an_edit_outside_the_rules_answers_422_naming_the_rule(client, admin):
    _, items = await queue_with_drafts(client, admin, 1, channels=("sms",),
                                       contacts=[{"name": "Zed Park", "phone": "212 555 0100"}])
    csrf = await signed_in(client, await make_key("approver"))
    r = await client.post(f"/inbox/outreaches/{items[0]['id']}/edit",
                          data={"csrf": csrf, "version": "1", "body": "x" * 1601})
    assert r.status_code == 422 and "the limit is 1600" in r.text
    assert (await outreach_row(items[0]["id"])).version == 1


async def test_bulk_approve_skips_a_draft_that_changed_since_the_page_was_drawn(client, admin):
    _, items = await queue_with_drafts(client, admin, 3)
    named = by_name(items)
    csrf = await signed_in(client, await make_key("approver"))
    # Someone edits Bo's draft after the page was drawn at version 1.
    r = await client.patch(f"/v1/outreaches/{named['Bo']['id']}", json={"body": "Changed meanwhile"},
                           headers=admin | {"If-Match": '"1"'})
    assert r.status_code == 200
    ids = [i["id"] for i in items]
    r = await client.post("/inbox/approve", data={"csrf": csrf, "ids": ids, **{f"v_{i}": "1" for i in ids}})
    assert r.status_code == 303 and "n=2" in r.headers["location"] and "failed=1" in r.headers["location"]
    assert (await outreach_row(named["Bo"]["id"])).status == "awaiting_approval"
    assert (await outreach_row(named["Ann"]["id"])).status == "approved"


async def test_execute_needs_the_confirmation_and_repeating_it_queues_nothing(client, admin):
    cid, items = await queue_with_drafts(client, admin, 2)
    csrf = await signed_in(client, await make_key("approver"))
    for item in items:
        assert (await client.post(f"/v1/outreaches/{item['id']}/approve", headers=admin)).status_code == 200
    confirm = await client.get("/inbox/execute", params={"campaign_id": cid})
    assert "2 approved drafts" in confirm.text and f'/inbox/campaigns/{cid}/execute' in confirm.text
    unconfirmed = await client.post(f"/inbox/campaigns/{cid}/execute", data={"csrf": csrf})
    assert unconfirmed.status_code == 303 and "executed" not in unconfirmed.headers["location"]
    assert {(await outreach_row(i["id"])).status for i in items} == {"approved"}
    r = await client.post(f"/inbox/campaigns/{cid}/execute", data={"csrf": csrf, "confirm": "yes"})
    assert r.status_code == 303 and "notice=executed" in r.headers["location"] and "n=2" in r.headers["location"]
    again = await client.post(f"/inbox/campaigns/{cid}/execute", data={"csrf": csrf, "confirm": "yes"})
    assert "n=0" in again.headers["location"]


async def test_pages_carry_a_strict_policy_and_every_asset_is_served_locally(client):
    await signed_in(client, await make_key("approver"))
    page = await client.get("/inbox")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and page.headers["cache-control"] == "no-store"
    assets = re.findall(r'(?:src|href)="(/inbox/static/[^"]+)"', page.text)
    assert {a.rsplit("/", 1)[1] for a in assets} == {"inbox.css", "app.css", "inbox.js", "favicon.svg"}
    for asset in assets:
        r = await client.get(asset)
        assert r.status_code == 200 and len(r.content) > 50
    assert not re.findall(r'(?:src|href)="https?://', page.text)
    assert (await client.get("/inbox/static/../../api/app.py")).status_code == 404


async def test_the_counts_the_page_polls_follow_its_filters_and_need_a_session(client, admin):
    cid, items = await queue_with_drafts(client, admin, 2)
    await queue_with_drafts(client, admin, 1, channels=("sms",), contacts=[{"name": "Zed Park", "phone": "212 555 0100"}])
    assert (await client.get("/inbox/counts")).status_code == 401
    await signed_in(client, await make_key("viewer"))
    assert (await client.get("/inbox/counts")).json()["review"] == 3
    assert (await client.get("/inbox/counts", params={"campaign_id": cid})).json()["review"] == 2
    assert (await client.post(f"/v1/outreaches/{items[0]['id']}/approve", headers=admin)).status_code == 200
    counts = (await client.get("/inbox/counts", params={"channel": "email"})).json()
    assert (counts["review"], counts["approved"], counts["sent"]) == (1, 1, 0)
