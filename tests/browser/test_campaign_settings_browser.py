"""The Settings tab in a real browser: a manager adds a channel with its provider, a caller number
and a goal, archives the goal, sees a refused edit's reason beside the field, and reads the tab on
a 390 px phone; a viewer sees the same facts with no form.

What the page shows is checked against what the API then reports. Screenshots of the tab go to
/tmp/websettings_1440.png and /tmp/websettings_390.png to be looked at.
"""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from agent.states import Role
from tests.browser.conftest import LiveServer, run_async
from tests.browser.test_campaigns_browser import sign_in
from tests.conftest import bearer


def draft(live: LiveServer, key: str) -> str:
    """A draft with one sandbox email channel, an analysis and a voice step, made through the API."""

    async def go() -> str:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
            r = await client.post("/v1/campaigns", headers=bearer(key), json={
                "name": "Spring clinic reminders", "channels": [{"kind": "email"}, {"kind": "voice"}],
                "brief": "Remind patients of their spring check-up."})
            cid = r.json()["id"]
            await client.post(f"/v1/campaigns/{cid}/analyses", headers=bearer(key), json={
                "name": "Preferred day", "type": "single_choice", "options": ["Monday", "Tuesday"]})
            return cid

    return run_async(go)


def api(live: LiveServer, key: str, path: str) -> dict:
    r = httpx.get(f"{live.url}{path}", headers=bearer(key), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def open_settings(page: Page, key: str, cid: str) -> None:
    sign_in(page, key)
    page.goto(f"/inbox/campaigns/{cid}?tab=settings")
    expect(page.locator("#settings")).to_be_visible()


def test_a_manager_adds_a_channel_a_number_and_a_goal_and_archives_it(page: Page, live: LiveServer):
    key = live.key(Role.admin)
    cid = draft(live, key)
    open_settings(page, key, cid)
    # A channel with a provider: the SMS form offers the SMS providers and the SMS fields only.
    page.click("#channels-add-sms-box > summary")
    expect(page.locator("#channels-add-sms-provider option")).to_have_text(["sandbox", "twilio"])
    expect(page.locator("#channels-add-sms-from_address")).to_have_count(0)
    page.select_option("#channels-add-sms-provider", "twilio")
    page.fill("#channels-add-sms-from_number", "+14155552671")
    page.click("#channels-add-sms-submit")
    expect(page.locator("#notice")).to_have_text("Channel added.")
    sms = page.locator("#channel-table > li[data-kind=sms]")
    expect(sms.locator(".channel-provider")).to_have_text("twilio")
    expect(sms.locator(".credentials")).to_contain_text("not configured: set OVERTURE_TWILIO_ACCOUNT_SID")
    expect(page.locator("#channel-table > li[data-kind=email] .credentials")).to_have_text("credentials configured")
    channels = api(live, key, f"/v1/campaigns/{cid}")["channels"]
    assert channels[-1]["kind"] == "sms" and channels[-1]["config"] == {"provider": "twilio",
                                                                        "from_number": "+14155552671"}
    # A caller number.
    page.click("#numbers-add-box > summary")
    page.fill("#numbers-add-number", "+1 (415) 555-0199")
    page.fill("#numbers-add-name", "Front desk")
    page.click("#numbers-add-submit")
    expect(page.locator("#notice")).to_have_text("Number added.")
    expect(page.locator("#number-table")).to_contain_text("+14155550199")
    [number] = api(live, key, f"/v1/campaigns/{cid}/phone-numbers")["items"]
    assert (number["number"], number["friendly_name"]) == ("+14155550199", "Front desk")
    # A refused edit: the reason in the alert and beside the field, what was typed kept.
    page.click(f"#number-{number['id']} details > summary")
    page.fill(f"#numbers-{number['id']}-spam", "250")
    page.click(f"#numbers-{number['id']}-save")
    expect(page.get_by_role("alert").first).to_contain_text("spam_score")
    expect(page.locator(f"#numbers-{number['id']}-spam-error")).to_be_visible()
    expect(page.locator(f"#numbers-{number['id']}-spam")).to_have_value("250")
    expect(page.locator(f"#numbers-{number['id']}-spam")).to_have_attribute("aria-invalid", "true")
    assert api(live, key, f"/v1/campaigns/{cid}/phone-numbers")["items"][0]["spam_score"] == 0
    # A goal, then archived: it moves to the archived list, from where it can be restored.
    page.click("#goals-add-box > summary")
    page.fill("#goals-add-name", "Booked a check-up")
    page.fill("#goals-add-desc", "The patient picked a slot.")
    page.click("#goals-add-submit")
    expect(page.locator("#notice")).to_have_text("Goal added.")
    expect(page.locator("#goal-list")).to_contain_text("Booked a check-up")
    expect(page.locator("#goal-list")).to_contain_text("primary")
    [goal] = api(live, key, f"/v1/campaigns/{cid}/goals")["items"]
    page.click(f"#goals-{goal['id']}-archive")
    expect(page.locator("#notice")).to_have_text("Goal archived.")
    expect(page.locator("#goal-list")).to_contain_text("No goals")
    expect(page.locator("#archived-goals > summary")).to_have_text("Archived goals (1)")
    assert api(live, key, f"/v1/campaigns/{cid}/goals")["items"] == []
    page.screenshot(path="/tmp/websettings_1440.png", full_page=True)


def test_a_refused_channel_start_says_which_setting_is_missing(page: Page, live: LiveServer):
    key = live.key(Role.admin)
    cid = draft(live, key)
    open_settings(page, key, cid)
    voice = api(live, key, f"/v1/campaigns/{cid}")["channels"][1]
    page.click(f"#channel-{voice['id']} details > summary")
    page.select_option(f"#channels-{voice['id']}-provider", "vapi")
    page.click(f"#channels-{voice['id']}-save")  # vapi needs phone_number_id: refused, named
    expect(page.locator(f"#channels-{voice['id']}-form-error, #channels-{voice['id']}-phone_number_id-error")
           .first).to_be_visible()
    expect(page.get_by_role("alert").first).to_contain_text("phone_number_id")
    page.fill(f"#channels-{voice['id']}-phone_number_id", "pn_123")
    page.click(f"#channels-{voice['id']}-save")
    expect(page.locator("#notice")).to_have_text("Channel saved.")
    voice = api(live, key, f"/v1/campaigns/{cid}")["channels"][1]
    assert voice["config"] == {"provider": "vapi", "phone_number_id": "pn_123"}
    page.click(f"#ch-{voice['id']}-start")
    expect(page.get_by_role("alert").first).to_contain_text("OVERTURE_VAPI_API_KEY")
    assert api(live, key, f"/v1/campaigns/{cid}")["channels"][1]["status"] == "ready"


def test_a_viewer_reads_the_settings_with_no_form(page: Page, live: LiveServer):
    cid = draft(live, live.key(Role.admin))
    open_settings(page, live.key(Role.viewer), cid)
    expect(page.locator("#channel-table > li")).to_have_count(2)
    expect(page.locator("#analysis-list")).to_contain_text("Preferred day")
    expect(page.locator("#settings form")).to_have_count(0)
    expect(page.locator("#settings button")).to_have_count(0)
    expect(page.locator("#s-brief")).to_be_disabled()


def test_the_settings_tab_at_phone_width(page: Page, live: LiveServer):
    key = live.key(Role.admin)
    cid = draft(live, key)
    page.set_viewport_size({"width": 390, "height": 844})
    open_settings(page, key, cid)
    page.screenshot(path="/tmp/websettings_390.png", full_page=True)
    # Every form open at once: none is clipped and the page never scrolls sideways.
    summaries = page.locator("#settings details > summary")
    for i in range(summaries.count()):
        summaries.nth(i).click()
    for form in page.locator("#settings form").all():
        box = form.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, (form.get_attribute("action"),
                                                                            form.get_attribute("id"), box)
    for field in page.locator("#settings input:visible, #settings select:visible, #settings textarea:visible").all():
        box = field.bounding_box()
        assert box and box["x"] + box["width"] <= 390, (field.get_attribute("id"), box)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways: {width}px wide"
    page.screenshot(path="/tmp/websettings_390_open.png", full_page=True)
    # Still usable there: add a number at 390 px.
    page.fill("#numbers-add-number", "+14155550123")
    page.click("#numbers-add-submit")
    expect(page.locator("#notice")).to_have_text("Number added.")
    assert re.fullmatch(r"\+14155550123", api(live, key, f"/v1/campaigns/{cid}/phone-numbers")["items"][0]["number"])


def completed_with_finished_contacts(live: LiveServer, key: str) -> str:
    """A live campaign of three contacts, one finished with no response and one opted out, completed."""
    from sqlalchemy import update

    from agent.db import session_scope
    from agent.models import Enrollment

    async def go() -> str:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
            r = await client.post("/v1/campaigns", headers=bearer(key), json={
                "name": "Spring clinic reminders", "channels": [{"kind": "email"}], "type": "follow_up",
                "brief": "Remind patients of their spring check-up."})
            cid = r.json()["id"]
            await client.post(f"/v1/campaigns/{cid}/contacts", headers=bearer(key), json={"contacts": [
                {"name": f"{n} Lee", "email": f"{n.lower()}@example.com"} for n in ("Ann", "Bo", "Cy")]})
            assert (await client.post(f"/v1/campaigns/{cid}/go-live", headers=bearer(key))).status_code == 200
            items = (await client.get(f"/v1/campaigns/{cid}/contacts", headers=bearer(key))).json()["items"]
            ids = {i["contact"]["first_name"]: i["id"] for i in items}
            async with session_scope() as s:
                for name, substatus in (("Ann", "no_response"), ("Bo", "opted_out")):
                    await s.execute(update(Enrollment).where(Enrollment.id == ids[name])
                                    .values(status="finished", substatus=substatus))
            assert (await client.post(f"/v1/campaigns/{cid}/complete", headers=bearer(key))).status_code == 200
            return cid

    return run_async(go)


def test_a_manager_remarkets_a_completed_campaign_and_starts_it_again(page: Page, live: LiveServer):
    key = live.key(Role.admin)
    cid = completed_with_finished_contacts(live, key)
    open_settings(page, key, cid)
    expect(page.locator("#remarketing-help")).to_contain_text("The campaign is completed")
    page.click("#channels-add-sms-box > summary")
    page.check("#channels-add-sms-audience input[value=finished]")
    page.click("#channels-add-sms-submit")
    expect(page.locator("#notice")).to_have_text("Channel added.")
    sms = page.locator("#channel-table > li[data-kind=sms]")
    audience = sms.locator(".remarketing-audience")
    expect(audience).to_contain_text("Remarketing for 2 contacts")
    expect(audience.locator(".reopen")).to_have_text("1")
    expect(audience.locator(".excluded")).to_have_text(["opted out 1"])
    page.screenshot(path="/tmp/websettings_remarketing.png", full_page=True)
    channel_id = api(live, key, f"/v1/campaigns/{cid}")["channels"][1]["id"]
    page.click(f"#ch-{channel_id}-start")
    expect(page.locator("#notice")).to_have_text("Done: the channel moved.")
    expect(sms.locator(".channel-status")).to_have_text("running")
    campaign = api(live, key, f"/v1/campaigns/{cid}")
    assert campaign["status"] == "active"
    statuses = {i["contact"]["first_name"]: i["status"]
                for i in api(live, key, f"/v1/campaigns/{cid}/contacts")["items"]}
    # Ann is reopened (the server's own worker may already be planning her again); Bo stays out.
    assert statuses["Ann"] in {"waiting", "planning", "awaiting_approval"} and statuses["Bo"] == "finished"


def test_a_manager_pastes_contact_ids_counts_them_by_keyboard_and_adds_the_channel(page: Page, live: LiveServer):
    """The remarketing audience by pasted ids: a bad one named beside the field, the count shown
    before adding, the whole form worked from the keyboard."""
    key = live.key(Role.admin)
    cid = completed_with_finished_contacts(live, key)
    contacts = {i["contact"]["first_name"]: i["contact"]["id"]
                for i in api(live, key, f"/v1/campaigns/{cid}/contacts")["items"]}
    open_settings(page, key, cid)
    page.focus("#channels-add-email-box > summary")
    page.keyboard.press("Enter")
    ids = page.locator("#channels-add-email-contact-ids")
    ids.fill(f"{contacts['Ann']}\nct_nobody")
    page.focus("#channels-add-email-count")
    page.keyboard.press("Enter")
    expect(page.locator("#channels-add-email-audience_contact_ids-error")).to_have_text("not enrolled: ct_nobody")
    expect(ids).to_have_attribute("aria-invalid", "true")
    ids.fill(f"{contacts['Ann']}, {contacts['Cy']}")
    page.focus("#channels-add-email-count")
    page.keyboard.press("Enter")
    expect(page.locator("#channels-add-email-audience-count")).to_have_text("2 contacts match this audience now.")
    assert len(api(live, key, f"/v1/campaigns/{cid}")["channels"]) == 1  # counting adds nothing
    page.check("#channels-add-email-audience input[value=finished]")
    page.click("#channels-add-email-count")
    expect(page.locator("#channels-add-email-audience-count")).to_have_text("1 contact matches this audience now.")
    page.locator("#channels-add-email-box").screenshot(path="/tmp/websettings_remarketing_form.png")
    page.focus("#channels-add-email-submit")
    page.keyboard.press("Enter")
    expect(page.locator("#notice")).to_have_text("Channel added.")
    added = page.locator("#channel-table > li").nth(1)
    expect(added.locator(".remarketing-audience")).to_contain_text("Remarketing for 1 contact")
    page.screenshot(path="/tmp/websettings_remarketing_ids.png", full_page=True)
