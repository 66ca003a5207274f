"""The campaign web app over HTTP: sign-in, the list with its search, sort, filter and bulk
buttons, each campaign tab, creating and editing a campaign, lifecycle buttons, and refusals
shown as messages (never a 500)."""

from __future__ import annotations

import re

import httpx

from agent.states import Role
from tests.conftest import bearer, make_key
from tests.flows import act, create, fetch, live_campaign, people, queue_with_drafts
from tests.review.test_inbox_web import signed_in


async def _admin_session(client) -> tuple[dict[str, str], str]:
    key = await make_key(Role.admin)
    return bearer(key), await signed_in(client, key)


async def test_home_and_pages_need_a_session(client):
    r = await client.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/inbox/campaigns"
    for path in ("/inbox/campaigns", "/inbox/campaigns/new", "/inbox/campaigns/cmp_x", "/inbox/campaigns/cmp_x/contacts/c"):
        r = await client.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/inbox/signin", path


async def test_list_links_each_campaign_and_searches_sorts_and_filters(client):
    api, _ = await _admin_session(client)
    bravo = (await create(client, api, name="Bravo launch"))["id"]
    alpha = (await create(client, api, name="Alpha follow-up"))["id"]
    old = (await act(client, api, (await create(client, api, name="Old promo"))["id"], "archive"))["id"]
    page = await client.get("/inbox/campaigns", params={"sort": "name"})
    assert page.status_code == 200
    assert f'href="/inbox/campaigns/{alpha}"' in page.text and f'href="/inbox/campaigns/{bravo}"' in page.text
    assert page.text.index("Alpha follow-up") < page.text.index("Bravo launch")
    assert "Old promo" not in page.text  # archived hidden unless asked
    assert 'id="nav-campaigns"' in page.text and 'href="/inbox"' in page.text
    assert "Old promo" in (await client.get("/inbox/campaigns", params={"status": "archived"})).text
    found = await client.get("/inbox/campaigns", params={"q": "bravo"})
    assert "Bravo launch" in found.text and "Alpha follow-up" not in found.text
    # A forged cursor is a message on the first page, not a 500.
    forged = await client.get("/inbox/campaigns", params={"cursor": "nope"})
    assert forged.status_code == 422 and "cursor" in forged.text and "Bravo launch" in forged.text
    assert old


async def test_bulk_buttons_pause_the_selected_and_say_what_was_refused(client):
    api, csrf = await _admin_session(client)
    live = await live_campaign(client, api)
    draft = (await create(client, api, name="Still a draft"))["id"]
    r = await client.post("/inbox/campaigns/bulk", data={"csrf": csrf, "action": "pause", "ids": [live, draft],
                                                         "back": "sort=name"})
    assert r.status_code == 303 and "notice=bulk" in r.headers["location"] and "sort=name" in r.headers["location"]
    page = await client.get(r.headers["location"])
    assert "1 moved; 1 could not be" in page.text
    assert (await fetch(client, api, live))["status"] == "paused"
    assert (await fetch(client, api, draft))["status"] == "draft"
    stale = await client.post("/inbox/campaigns/bulk", data={"csrf": "forged", "action": "resume", "ids": [live]})
    assert stale.status_code == 403 and "CSRF" in stale.text
    assert (await fetch(client, api, live))["status"] == "paused"
    empty = await client.post("/inbox/campaigns/bulk", data={"csrf": csrf, "action": "resume"})
    assert empty.status_code == 422 and "select at least one" in empty.text


async def test_each_tab_renders_with_figures_contacts_activity_and_settings(client):
    api, _ = await _admin_session(client)
    cid = await live_campaign(client, api, contacts=people(3))
    base = f"/inbox/campaigns/{cid}"
    dash = await client.get(base)
    assert dash.status_code == 200 and '<svg class="chart"' in dash.text and 'role="img"' in dash.text
    assert "<desc" in dash.text and "total contacts: 3" in dash.text  # the chart says its figures
    contacts = await client.get(base, params={"tab": "contacts"})
    assert contacts.status_code == 200 and 'id="contact-table"' in contacts.text
    assert contacts.text.count('class="contact-link"') == 3 and "0/" in contacts.text
    contact_id = re.search(rf'href="{base}/contacts/([^"]+)" class="contact-link"', contacts.text).group(1)
    detail = await client.get(f"{base}/contacts/{contact_id}")
    assert detail.status_code == 200 and 'id="attempts"' in detail.text and 'id="contact-history"' in detail.text
    activity = await client.get(base, params={"tab": "activity", "kind": "campaign.created"})
    assert activity.status_code == 200 and "campaign.created" in activity.text and "campaign.go_live" not in activity.text
    filtered = await client.get(base, params={"tab": "activity", "channel": "sms", "since": "2020-01-01",
                                              "until": "not a date"})
    assert filtered.status_code == 200 and "No events match" in filtered.text
    settings = await client.get(base, params={"tab": "settings"})
    assert settings.status_code == 200 and 'id="settings-form"' in settings.text and 'id="channel-table"' in settings.text
    for tab in ("dashboard", "contacts", "activity", "settings"):
        assert f'id="tab-{tab}"' in dash.text


async def test_create_from_the_web_and_refusals_keep_the_text(client):
    api, csrf = await _admin_session(client)
    bad = await client.post("/inbox/campaigns/new", data={"csrf": csrf, "name": "", "brief": "kept text",
                                                          "channels": ["email"], "timezone": "Mars/Olympus"})
    assert bad.status_code == 422 and "kept text" in bad.text and "timezone" in bad.text
    r = await client.post("/inbox/campaigns/new", data={
        "csrf": csrf, "name": "Web made", "brief": "Invite clinics", "channels": ["email", "sms"],
        "timezone": "America/New_York", "start_at": "2027-03-01T09:00", "manual_review": "on",
        "ai_variables": "offer = 20% off\nnot a pair"})
    assert r.status_code == 303, r.text
    cid = r.headers["location"].split("/")[-1].split("?")[0]
    made = await fetch(client, api, cid)
    assert made["name"] == "Web made" and [c["kind"] for c in made["channels"]] == ["email", "sms"]
    assert made["start_at"] == "2027-03-01T14:00:00Z" and made["ai_variables"] == {"offer": "20% off"}
    assert made["status"] == "draft" and made["manual_review"] is True


async def test_settings_save_and_lifecycle_buttons_follow_the_api_rules(client):
    api, csrf = await _admin_session(client)
    cid = (await create(client, api, name="Editable"))["id"]
    base = f"/inbox/campaigns/{cid}"
    r = await client.post(f"{base}/settings", data={"csrf": csrf, "name": "Edited", "brief": "New brief",
                                                    "timezone": "Europe/Paris", "ai_variables": "a = 1"})
    assert r.status_code == 303
    got = await fetch(client, api, cid)
    assert (got["name"], got["brief"], got["timezone"], got["ai_variables"], got["manual_review"]) == (
        "Edited", "New brief", "Europe/Paris", {"a": "1"}, False)
    page = await client.get(base)
    assert 'id="action-go-live"' in page.text and 'id="action-pause"' not in page.text
    refused = await client.post(f"{base}/actions/pause", data={"csrf": csrf, "back": "tab=dashboard"})
    assert refused.status_code == 409 and "cannot pause a campaign that is draft" in refused.text
    live = await client.post(f"{base}/actions/go-live", data={"csrf": csrf, "back": "tab=contacts"})
    assert live.status_code == 303 and "tab=contacts" in live.headers["location"]
    assert "now active" in (await client.get(live.headers["location"])).text
    assert (await client.post(f"{base}/actions/pause", data={"csrf": csrf})).status_code == 303
    assert (await fetch(client, api, cid))["status"] == "paused"
    unknown = await client.post(f"{base}/actions/explode", data={"csrf": csrf})
    assert unknown.status_code == 422
    await act(client, api, cid, "archive")
    locked = await client.post(f"{base}/settings", data={"csrf": csrf, "name": "Again", "timezone": "UTC"})
    assert locked.status_code == 409 and "read-only" in locked.text


async def test_a_viewer_reads_but_cannot_change_and_other_workspaces_stay_hidden(client):
    owner = bearer(await make_key(Role.admin))
    cid = (await create(client, owner, name="Theirs to run"))["id"]
    viewer_csrf = await signed_in(client, await make_key(Role.viewer))
    page = await client.get(f"/inbox/campaigns/{cid}")
    assert page.status_code == 200 and 'id="action-go-live"' not in page.text and 'id="bulk-pause"' not in (
        await client.get("/inbox/campaigns")).text
    r = await client.post(f"/inbox/campaigns/{cid}/actions/go-live", data={"csrf": viewer_csrf})
    assert r.status_code == 403 and (await fetch(client, owner, cid))["status"] == "draft"
    async with httpx.AsyncClient(transport=client._transport, base_url="http://overture.test") as stranger:
        await signed_in(stranger, await make_key(Role.admin, workspace="other"))
        assert (await stranger.get(f"/inbox/campaigns/{cid}")).status_code == 404
        assert "Theirs to run" not in (await stranger.get("/inbox/campaigns")).text


async def test_hours_and_call_settings_save_and_a_bad_window_is_named(client):
    api, csrf = await _admin_session(client)
    cid = (await create(client, api, name="Hours"))["id"]
    base = f"/inbox/campaigns/{cid}"
    untouched = {"csrf": csrf, "name": "Hours", "timezone": "UTC", **{f"hours_{d}": "" for d in
                                                                      ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}}
    assert (await client.post(f"{base}/settings", data=untouched)).status_code == 303
    assert (await fetch(client, api, cid))["schedule"] is None  # an untouched form writes no schedule
    r = await client.post(f"{base}/settings", data={**untouched, "hours_mon": "09:00-12:00, 13:00-17:00",
                                                    "max_retry_attempts": "4", "ring_timeout": "45s"})
    assert r.status_code == 303, r.text
    got = await fetch(client, api, cid)
    assert got["schedule"]["business_hours"]["mon"] == [{"start": "09:00", "end": "12:00"},
                                                        {"start": "13:00", "end": "17:00"}]
    assert got["schedule"]["business_hours"]["tue"] == []
    assert (got["settings"]["max_retry_attempts"], got["settings"]["ring_timeout"]) == (4, "45s")
    assert got["settings"]["spam_threshold"] == 7  # the others kept
    bad = await client.post(f"{base}/settings", data={**untouched, "hours_tue": "9am", "max_retry_attempts": "40"})
    assert bad.status_code == 422 and "9am" in bad.text and "max_retry_attempts" in bad.text
    assert (await fetch(client, api, cid))["schedule"]["business_hours"]["tue"] == []


async def test_activity_filters_by_channel_and_step_and_the_inbox_links_to_the_pages(client):
    api, _ = await _admin_session(client)
    cid, items = await queue_with_drafts(client, api, 2)
    base = f"/inbox/campaigns/{cid}"

    def kinds(html):
        return re.findall(r"<td><code>([^<]+)</code></td>", html)

    everything = kinds((await client.get(base, params={"tab": "activity"})).text)
    on_email = kinds((await client.get(base, params={"tab": "activity", "channel": "email"})).text)
    step_one = kinds((await client.get(base, params={"tab": "activity", "channel": "email", "step": "1"})).text)
    assert on_email and set(on_email) < set(everything) and "campaign.created" not in on_email  # outreach events only
    assert step_one == on_email
    assert kinds((await client.get(base, params={"tab": "activity", "channel": "sms"})).text) == []
    assert kinds((await client.get(base, params={"tab": "activity", "step": "2"})).text) == []
    inbox = await client.get("/inbox", params={"id": items[0]["id"]})
    contact = items[0]["contact"]["id"]
    assert f'href="{base}/contacts/{contact}"' in inbox.text and f'href="{base}"' in inbox.text
    page = await client.get(f"{base}/contacts/{contact}")
    assert page.status_code == 200 and 'id="next-outreach"' in page.text and "awaiting approval" in page.text


async def test_the_list_shows_numbers_and_schedule_and_each_rows_status_menu_moves_it(client):
    """Seed 003's list columns: phone numbers with their count, the linked schedule with a live
    open/closed indicator, and a status menu per row offering only the moves its status allows."""
    api, csrf = await _admin_session(client)
    live = await live_campaign(client, api)
    always = {d: [{"start": "00:00", "end": "23:59"}] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    desk = (await client.post("/v1/schedules", headers=api, json={
        "name": "Front desk", "timezone": "UTC", "business_hours": always})).json()
    assert (await client.patch(f"/v1/campaigns/{live}", headers=api, json={"schedule_id": desk["id"]})).status_code == 200
    for number in ("+14155550101", "+14155550102"):
        r = await client.post(f"/v1/campaigns/{live}/phone-numbers", headers=api, json={"number": number})
        assert r.status_code == 201, r.text
    draft = (await create(client, api, name="Still a draft"))["id"]
    page = (await client.get("/inbox/campaigns", params={"sort": "name"})).text
    row = re.search(rf'<tr data-id="{live}">(.*?)</tr>', page, re.S).group(1)
    assert re.search(r'class="numbers"[^>]*>\s*2 numbers', row)
    assert "Front desk" in row and "Open now" in row
    menu = re.search(rf'<select id="status-{live}" name="action" form="status-form-{live}"[^>]*>(.*?)</select>',
                     row, re.S).group(1)
    assert re.findall(r'<option value="([\w-]+)"', menu) == ["pause", "complete", "cancel", "archive"]
    draft_row = re.search(rf'<tr data-id="{draft}">(.*?)</tr>', page, re.S).group(1)
    assert '<option value="go-live"' in draft_row and 'value="pause"' not in draft_row
    assert "none" in re.search(r'class="numbers"[^>]*>(.*?)</td>', draft_row, re.S).group(1)

    r = await client.post(f"/inbox/campaigns/{live}/status", data={"csrf": csrf, "action": "pause",
                                                                   "back": "sort=name"})
    assert r.status_code == 303 and "sort=name" in r.headers["location"]
    assert "the campaign is now paused" in (await client.get(r.headers["location"])).text
    assert (await fetch(client, api, live))["status"] == "paused"
    # A move its status no longer allows is a message on the list, not a 500; nothing changes.
    again = await client.post(f"/inbox/campaigns/{live}/status", data={"csrf": csrf, "action": "pause"})
    assert again.status_code == 409 and "Campaigns" in again.text
    assert (await client.post(f"/inbox/campaigns/{live}/status",
                              data={"csrf": csrf, "action": "explode"})).status_code == 422
    assert (await client.post(f"/inbox/campaigns/{live}/status",
                              data={"csrf": "forged", "action": "resume"})).status_code == 403
    assert (await fetch(client, api, live))["status"] == "paused"
    # A viewer sees the status, not the menu, and cannot post a move.
    async with httpx.AsyncClient(transport=client._transport, base_url="http://overture.test") as viewer:
        viewer_csrf = await signed_in(viewer, await make_key(Role.viewer))
        page = (await viewer.get("/inbox/campaigns")).text
        assert f'id="status-{live}"' not in page and "paused" in page
        r = await viewer.post(f"/inbox/campaigns/{live}/status", data={"csrf": viewer_csrf, "action": "resume"})
    assert r.status_code == 403 and (await fetch(client, api, live))["status"] == "paused"


async def test_duplicate_and_delete_from_the_settings_tab_delete_asks_for_the_name(client):
    """Seed 002: duplicate a campaign into a new draft; delete it for good only after typing its
    name (the API's ``?confirm=true``), archive being the suggested alternative."""
    api, csrf = await _admin_session(client)
    cid = await live_campaign(client, api, contacts=people(2), name="Spring clinic")
    base = f"/inbox/campaigns/{cid}"
    page = (await client.get(base, params={"tab": "settings"})).text
    assert 'id="duplicate-campaign"' in page and 'id="delete-confirm-name"' in page and "Archive" in page

    r = await client.post(f"{base}/duplicate", data={"csrf": csrf})
    assert r.status_code == 303
    copy_id = re.search(r"/inbox/campaigns/(cmp_[^?/]+)", r.headers["location"]).group(1)
    copy = await fetch(client, api, copy_id)
    assert (copy["name"], copy["status"], copy["contacts_count"]) == ("Spring clinic (copy)", "draft", 0)
    assert "Campaign duplicated" in (await client.get(r.headers["location"])).text

    wrong = await client.post(f"{base}/delete", data={"csrf": csrf, "confirm_name": "spring"})
    assert wrong.status_code == 422 and 'id="s-confirm_name-error"' in wrong.text
    assert (await client.get(f"/v1/campaigns/{cid}", headers=api)).status_code == 200
    stale = await client.post(f"{base}/delete", data={"csrf": "forged", "confirm_name": "Spring clinic"})
    assert stale.status_code == 403 and (await client.get(f"/v1/campaigns/{cid}", headers=api)).status_code == 200

    r = await client.post(f"{base}/delete", data={"csrf": csrf, "confirm_name": "Spring clinic"})
    assert r.status_code == 303 and r.headers["location"].startswith("/inbox/campaigns?")
    assert "Campaign deleted" in (await client.get(r.headers["location"])).text
    assert (await client.get(f"/v1/campaigns/{cid}", headers=api)).status_code == 404
    assert (await client.get(f"/v1/campaigns/{copy_id}", headers=api)).status_code == 200

    async with httpx.AsyncClient(transport=client._transport, base_url="http://overture.test") as viewer:
        viewer_csrf = await signed_in(viewer, await make_key(Role.viewer))
        page = (await viewer.get(f"/inbox/campaigns/{copy_id}", params={"tab": "settings"})).text
        assert 'id="delete-confirm-name"' not in page and 'id="duplicate-campaign"' not in page
        r = await viewer.post(f"/inbox/campaigns/{copy_id}/delete", data={"csrf": viewer_csrf,
                                                                           "confirm_name": "Spring clinic (copy)"})
    assert r.status_code == 403 and (await client.get(f"/v1/campaigns/{copy_id}", headers=api)).status_code == 200
