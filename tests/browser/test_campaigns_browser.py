"""The campaign web app in a real browser: the list (search, sort, open), every campaign tab,
creating a campaign and taking it live then pausing it with the buttons, and the 390 px phone.

What the page shows is checked against what the API then reports. Screenshots go to
$OVERTURE_TEST_SHOTS (default /tmp/webapp_shots) to be looked at.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from agent.states import Role
from tests.browser.conftest import LiveServer, run_async
from tests.conftest import bearer
from tests.flows import live_campaign, people

SHOTS = Path(os.environ.get("OVERTURE_TEST_SHOTS", "/tmp/webapp_shots"))
LONG_EMAIL = "maximiliane.oberhausen-wertheimer.quality-assurance@very-long-subdomain.example-clinic-network.com"


def shot(page: Page, name: str, *, full: bool = True) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full)


def seed(live: LiveServer, key: str) -> dict[str, str]:
    """Two campaigns through the HTTP API: a live one with contacts (one with a long address) and a draft."""

    async def go() -> dict[str, str]:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
            headers = bearer(key)
            contacts = [*people(3), {"name": "Maxi Oberhausen", "email": LONG_EMAIL, "phone": "+14155550123"}]
            live_id = await live_campaign(client, headers, channels=("email", "sms"), contacts=contacts,
                                          name="Spring clinic reminders")
            draft = await client.post("/v1/campaigns", json={"name": "Autumn newsletter", "channels": [{"kind": "email"}]},
                                      headers=headers)
            return {"live": live_id, "draft": draft.json()["id"]}

    return run_async(go)


def status_of(live: LiveServer, key: str, cid: str) -> str:
    r = httpx.get(f"{live.url}/v1/campaigns/{cid}", headers=bearer(key), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["status"]


def sign_in(page: Page, key: str, start: str = "/") -> None:
    page.goto(start)
    expect(page).to_have_url(re.compile(r"/inbox/signin$"))
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Campaigns").click()
    expect(page).to_have_url(re.compile(r"/inbox/campaigns$"))


def test_campaign_list_searches_sorts_and_opens_a_campaign(page: Page, live: LiveServer):
    key = live.key(Role.admin)
    ids = seed(live, key)
    sign_in(page, key)
    rows = page.locator("#campaign-table tbody tr")
    expect(rows).to_have_count(2)
    shot(page, "01_campaign_list_1440")
    page.select_option("#sort", "name")
    page.click("#apply-filters")
    expect(rows.first).to_contain_text("Autumn newsletter")
    page.select_option("#sort", "-contacts_count")
    page.click("#apply-filters")
    expect(rows.first).to_contain_text("Spring clinic reminders")
    expect(rows.first).to_contain_text("4")
    page.fill("#q", "autumn")
    page.keyboard.press("Enter")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Autumn newsletter")
    # Bulk: archive the draft; it leaves the list and shows under the archived filter.
    rows.first.locator("input[type=checkbox]").check()
    page.click("#bulk-archive")
    expect(page.locator("#notice")).to_contain_text("1 moved; 0 could not be")
    assert status_of(live, key, ids["draft"]) == "archived"
    page.goto("/inbox/campaigns")
    expect(rows).to_have_count(1)
    # The row's own status menu: pause the live campaign from the list, then resume it.
    page.get_by_label("Change the status of Spring clinic reminders").select_option(label="Pause")
    page.click(f"#status-go-{ids['live']}")
    expect(page.locator("#notice")).to_have_text("Done: the campaign is now paused.")
    expect(rows.first.locator(".chip").first).to_have_text("paused")
    assert status_of(live, key, ids["live"]) == "paused"
    page.select_option(f"#status-{ids['live']}", "resume")
    page.click(f"#status-go-{ids['live']}")
    expect(rows.first.locator(".chip").first).to_have_text("active")
    shot(page, "01b_campaign_list_status_menu_1440")
    page.get_by_role("link", name="Spring clinic reminders").click()
    expect(page).to_have_url(re.compile(rf"/inbox/campaigns/{ids['live']}$"))
    expect(page.locator("#campaign-name")).to_contain_text("Spring clinic reminders")
    # Every page links back to the review queue.
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Review queue")).to_have_attribute(
        "href", "/inbox")


def test_each_campaign_tab(page: Page, live: LiveServer):
    key = live.key(Role.admin)
    ids = seed(live, key)
    sign_in(page, key)
    page.get_by_role("link", name="Spring clinic reminders").click()
    # Dashboard: charts as SVG images with a table of the same figures beside each.
    chart = page.get_by_role("img", name="Contacts", exact=True)
    expect(chart).to_be_visible()
    expect(page.locator("#chart-all-d")).to_contain_text("total contacts: 4")
    expect(page.get_by_role("table", name="Contacts: figures")).to_contain_text("total contacts")
    shot(page, "02_dashboard_1440")
    # Contacts: the table, status chips, and a contact's page with attempts and history.
    page.click("#tab-contacts")
    expect(page.locator("#contact-table tbody tr")).to_have_count(4)
    expect(page.locator("#contact-table")).to_contain_text("0/")
    shot(page, "03_contacts_1440")
    page.get_by_role("link", name="Maxi Oberhausen").click()
    expect(page.locator("#contact-name")).to_contain_text("Maxi Oberhausen")
    expect(page.locator("#attempts")).to_have_text(re.compile(r"^0/\d+$"))
    expect(page.locator("#contact-history")).to_be_visible()
    shot(page, "04_contact_1440")
    page.click("#back-to-campaign")
    # Activity: filter by kind.
    page.click("#tab-activity")
    expect(page.locator("#activity-table")).to_contain_text("campaign.created")
    page.select_option("#activity-kind", "campaign.created")
    page.click("#activity-apply")
    # all_inner_texts does not wait: read the rows once the filtered page has loaded.
    page.wait_for_url(re.compile(r"kind=campaign\.created"))
    cells = page.locator("#activity-table tbody td:nth-child(2)")
    expect(cells.first).to_have_text("campaign.created")
    kinds = cells.all_inner_texts()
    assert kinds and set(kinds) == {"campaign.created"}, kinds
    shot(page, "05_activity_1440")
    # Settings: edit the brief; the API reports it.
    page.click("#tab-settings")
    expect(page.locator("#channel-table")).to_contain_text("sms")
    page.fill("#s-brief", "Remind patients of their spring check-up; offer the first free slot.")
    page.click("#save-settings")
    expect(page.locator("#notice")).to_have_text("Settings saved.")
    r = httpx.get(f"{live.url}/v1/campaigns/{ids['live']}", headers=bearer(key), timeout=30)
    assert r.json()["brief"].startswith("Remind patients of their spring check-up")
    shot(page, "06_settings_1440")


def test_create_a_campaign_take_it_live_and_pause_it(page: Page, live: LiveServer):
    key = live.key(Role.admin)
    sign_in(page, key)
    page.click("#new-campaign")
    page.click("#create-campaign")  # the browser refuses an empty name before anything is sent
    expect(page).to_have_url(re.compile(r"/inbox/campaigns/new$"))
    page.fill("#n-name", "Made in the browser")
    page.fill("#n-brief", "Invite last year's attendees to the June workshop.")
    page.fill("#n-tz", "Not/AZone")
    page.click("#create-campaign")
    expect(page.get_by_role("alert")).to_contain_text("timezone")
    expect(page.locator("#n-brief")).to_have_value("Invite last year's attendees to the June workshop.")
    shot(page, "07_create_refused_1440")
    page.fill("#n-tz", "Europe/Berlin")
    page.click("#create-campaign")
    expect(page.locator("#notice")).to_have_text("Campaign created as a draft.")
    cid = re.search(r"/inbox/campaigns/([^/?]+)", page.url).group(1)
    assert status_of(live, key, cid) == "draft"
    expect(page.locator("#action-pause")).to_have_count(0)  # a draft cannot be paused
    page.click("#action-go-live")
    expect(page.locator("#notice")).to_have_text("Done: the campaign is now active.")
    page.click("#action-pause")
    expect(page.locator("#notice")).to_have_text("Done: the campaign is now paused.")
    expect(page.locator("#campaign-status")).to_have_text("paused")
    assert status_of(live, key, cid) == "paused"
    expect(page.locator("#action-resume")).to_be_visible()
    shot(page, "08_paused_1440")


def _fits(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways: {width}px wide"


def test_phone_width(page: Page, live: LiveServer):
    key = live.key(Role.admin)
    ids = seed(live, key)
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, key)
    _fits(page)
    shot(page, "09_list_390")
    page.goto(f"/inbox/campaigns/{ids['live']}")
    # Every tab is on screen (wrapped, never cut off).
    for tab in ("dashboard", "contacts", "activity", "settings", "exports"):
        box = page.locator(f"#tab-{tab}").bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, (tab, box)
    _fits(page)
    shot(page, "10_dashboard_390")
    # Narrower still (a 320 px phone), the tabs wrap onto a second line rather than being cut off.
    page.set_viewport_size({"width": 320, "height": 700})
    for tab in ("dashboard", "contacts", "activity", "settings", "exports"):
        box = page.locator(f"#tab-{tab}").bounding_box()
        assert box and box["x"] + box["width"] <= 320, (tab, box)
        expect(page.locator(f"#tab-{tab}")).to_be_in_viewport()
    page.set_viewport_size({"width": 390, "height": 844})
    page.click("#tab-contacts")
    shot(page, "11_contacts_390")
    page.get_by_role("link", name="Maxi Oberhausen").click()
    address = page.locator(".props dd", has_text="maximiliane")
    box = address.bounding_box()
    assert box and box["x"] + box["width"] <= 390, box
    assert address.evaluate("e => getComputedStyle(e).overflowWrap") == "anywhere"
    _fits(page)
    shot(page, "12_contact_390")
    page.goto("/inbox")
    tabs = page.locator(".topbar .tab")
    for i in range(tabs.count()):
        box = tabs.nth(i).bounding_box()
        assert box and box["x"] + box["width"] <= 390, (i, box)
    shot(page, "13_inbox_390")
