"""The review inbox in a real browser: sign in, filter, open, edit, approve with the keyboard,
reject with an instruction and see the new draft arrive, approve many, execute all approved.

Each test drives headless Chromium against a live server; what the page shows is checked
against what the API then reports, so a page that only looks right fails.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import httpx
from sqlalchemy import select, update
from playwright.sync_api import Page, expect

from agent.auth import create_key, get_or_create_workspace
from agent.db import session_scope, utcnow
from agent.lifecycle.outreaches import move_outreaches
from agent.models import ActivityEvent, Outreach
from agent.states import OutreachAction
from agent.states import Role
from tests.browser.conftest import LiveServer, run_async, save_screenshot
from tests.conftest import bearer
from tests.flows import by_name, people, queue_with_drafts, zone_at_noon


def seed(live: LiveServer, n: int = 3, **campaign) -> tuple[str, dict[str, dict]]:
    """A live campaign with ``n`` drafts in the queue, made by an admin through the HTTP API."""
    key = live.key(Role.admin)

    async def go() -> tuple[str, list[dict]]:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
            return await queue_with_drafts(client, bearer(key), n, **campaign)

    cid, items = run_async(go)
    return cid, by_name(items)


def api(live: LiveServer, key: str, path: str, **params) -> dict:
    r = httpx.get(live.url + path, params=params, headers=bearer(key), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def sign_in(page: Page, key: str) -> None:
    page.goto("/inbox")
    expect(page).to_have_url(re.compile(r"/inbox/signin$"))
    page.fill("#key", key)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/inbox$"))
    scripted(page)


def open_draft(page: Page, name: str) -> None:
    """Click a contact's draft in the list and wait until its page has loaded (and its script)."""
    link = page.locator(".item", has_text=name).locator("a")
    href = link.get_attribute("href")
    link.click()
    page.wait_for_url(lambda url: url.endswith(href))
    expect(page.locator(".detail h2")).to_have_text(name)
    scripted(page)


def scripted(page: Page) -> None:
    """Wait until the page's script has run, so its keyboard shortcuts are live."""
    page.wait_for_function("document.documentElement.classList.contains('js')")


def test_sign_in_keeps_the_key_out_of_the_browser_and_sign_out_ends_the_session(page: Page, live: LiveServer):
    key = live.key(Role.approver)
    seed(live, 2)
    page.goto("/inbox/signin")
    page.fill("#key", "ovk_not-a-real-key")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("unknown or revoked")

    page.fill("#key", key)
    page.click("button[type=submit]")
    expect(page.locator(".tab.active")).to_contain_text("To review 2")
    [cookie] = [c for c in page.context.cookies() if c["name"] == "overture_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/inbox"
    assert key not in cookie["value"]
    assert page.evaluate("document.cookie") == ""  # scripts can read no session

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("Signed out")
    page.goto("/inbox")
    expect(page).to_have_url(re.compile(r"/inbox/signin$"))


def test_filter_open_edit_and_approve_with_the_keyboard(page: Page, live: LiveServer):
    key = live.key(Role.approver)
    _, email = seed(live, 3)
    _, sms = seed(live, channels=("sms",), contacts=[{"name": "Zed Park", "phone": "212 555 0100"}])
    sign_in(page, key)
    expect(page.locator(".tab.active .count")).to_have_text("4")

    page.select_option("select[name=channel]", "sms")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator(".item")).to_have_count(1)
    expect(page.locator(".item .name")).to_have_text("Zed Park")

    page.get_by_role("link", name="Clear").click()
    page.fill("#search", "bo@example")
    page.keyboard.press("Enter")
    expect(page.locator(".item")).to_have_count(1)
    page.get_by_role("link", name="Clear").click()
    expect(page.locator(".item")).to_have_count(4)

    # Open Bo's draft from the list, edit it from the keyboard, save with Ctrl+Enter.
    open_draft(page, "Bo Chen")
    page.keyboard.press("e")
    expect(page.locator("#edit-body")).to_be_focused()
    page.fill("#edit-body", "Hi Bo,\n\nA seat is saved for you on May 4. Reply yes to keep it.")
    page.keyboard.press("Control+Enter")
    expect(page.get_by_role("status")).to_contain_text("new revision")
    expect(page.locator("#detail-body")).to_contain_text("A seat is saved for you on May 4.")
    expect(page.locator("#revisions li")).to_have_count(2)
    scripted(page)

    # j/k move the selection; a approves and moves on to the next draft.
    names = page.locator(".item .name").all_inner_texts()  # drafts are planned concurrently: any order
    at = names.index("Bo Chen")
    away, back = ("k", "j") if at > 0 else ("j", "k")
    page.keyboard.press(away)
    expect(page.locator(".detail h2")).to_have_text(names[at - 1] if at > 0 else names[1])
    scripted(page)
    page.keyboard.press(back)
    expect(page.locator(".detail h2")).to_have_text("Bo Chen")
    scripted(page)
    page.keyboard.press("a")
    expect(page.get_by_role("status")).to_contain_text("Approved")
    expect(page.locator(".detail h2")).not_to_have_text("Bo Chen")
    expect(page.locator(".tab[data-tab=approved] .count")).to_have_text("1")

    bo = api(live, key, f"/v1/outreaches/{email['Bo']['id']}")
    assert bo["status"] == "approved" and bo["approved_by"] and bo["version"] == 3
    assert bo["body"] == "Hi Bo,\n\nA seat is saved for you on May 4. Reply yes to keep it."
    assert [e["kind"] for e in bo["history"]][-2:] == ["outreach.edited", "outreach.approved"]
    assert api(live, key, f"/v1/outreaches/{sms['Zed']['id']}")["status"] == "awaiting_approval"

    page.keyboard.press("?")
    expect(page.locator("dialog#help")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("dialog#help")).to_be_hidden()


def test_an_edit_that_breaks_a_channel_rule_is_refused_with_the_text_kept(page: Page, live: LiveServer):
    key = live.key(Role.approver)
    _, drafts = seed(live, 1)
    sign_in(page, key)
    page.click("#edit-button")
    page.fill("#edit-subject", "")
    page.fill("#edit-body", "My new words stay here")
    page.click("#save-edit")
    expect(page.get_by_role("alert")).to_contain_text("subject")
    expect(page.locator("#edit-body")).to_have_value("My new words stay here")
    ann = api(live, key, f"/v1/outreaches/{drafts['Ann']['id']}")
    assert ann["version"] == 1 and ann["revisions"] == []


def test_reject_with_an_instruction_brings_a_new_draft_into_the_queue(page: Page, live: LiveServer):
    key = live.key(Role.approver)
    cid, drafts = seed(live, 2)
    sign_in(page, key)
    open_draft(page, "Ann Lee")
    page.keyboard.press("r")
    expect(page.locator("#reject-instruction")).to_be_focused()
    page.keyboard.type("Lead with the date, May 4.")
    page.fill("#reject-reason", "Too vague")
    page.click("#reject-regenerate")
    expect(page.get_by_role("status")).to_contain_text("new draft is being written")

    # The planner redrafts in the background; the page notices the queue changed and offers it.
    if not page.locator(".item", has_text="Ann Lee").count():
        expect(page.locator("#live")).to_be_visible(timeout=20_000)
        expect(page.locator(".tab[data-tab=review] .count")).to_have_text("2")
        page.click("#reload")
    open_draft(page, "Ann Lee")
    expect(page.locator(".detail")).to_contain_text("Reviewer's instruction: Lead with the date, May 4.")
    new_id = page.locator(".item.selected").get_attribute("data-id")
    assert new_id != drafts["Ann"]["id"]
    expect(page.locator(".tab[data-tab=rejected] .count")).to_have_text("1")

    old = api(live, key, f"/v1/outreaches/{drafts['Ann']['id']}")
    assert old["status"] == "superseded"
    superseded = [e for e in old["history"] if e["kind"] == "outreach.superseded"]
    assert superseded and superseded[0]["payload"]["reason"] == "Too vague"
    assert api(live, key, f"/v1/outreaches/{new_id}")["instruction"] == "Lead with the date, May 4."


def test_approve_many_then_execute_all_approved_after_confirming(page: Page, live: LiveServer):
    key = live.key(Role.approver)
    cid, drafts = seed(live, 3, contacts=people(3, timezone=zone_at_noon()))
    sign_in(page, key)
    expect(page.locator("#approve-selected")).to_be_disabled()
    page.check("#select-all")
    expect(page.locator("#selected-count")).to_have_text("(3)")
    save_screenshot(page, "inbox")
    page.click("#approve-selected")
    expect(page.get_by_role("status")).to_contain_text("Approved 3; 0 could not")
    expect(page.locator(".list .empty")).to_contain_text("Nothing waits for review")

    page.click("#execute-approved")
    expect(page.locator(".confirm-list li")).to_contain_text("3 approved drafts")
    assert api(live, key, "/v1/outreaches", campaign_id=cid)["counts"]["approved"] == 3  # nothing sent yet
    page.get_by_role("button", name="Send 3 now").click()
    expect(page.get_by_role("status")).to_contain_text("Queued 3")

    for _ in range(100):
        if api(live, key, "/v1/outreaches", campaign_id=cid)["counts"]["sent"] == 3:
            break
        page.wait_for_timeout(100)
    # The server is another process: its sandbox's record is the outreach.sent events it wrote.
    async def sends() -> list[str]:
        async with session_scope() as s:
            return list((await s.execute(select(ActivityEvent.outreach_id).where(
                ActivityEvent.campaign_id == cid, ActivityEvent.kind == "outreach.sent"))).scalars())

    sent = run_async(sends)
    assert sorted(sent) == sorted(d["id"] for d in drafts.values())  # each one sent, once
    page.goto("/inbox?tab=sent")
    expect(page.locator(".item")).to_have_count(3)

    # Executing again queues nothing: the confirmation page has nothing left to send.
    page.goto("/inbox/execute")
    expect(page.locator(".confirm-card")).to_contain_text("No campaign has approved drafts")


def test_a_viewer_reads_the_queue_but_gets_no_actions(page: Page, live: LiveServer):
    seed(live, 1)
    sign_in(page, live.key(Role.viewer))
    expect(page.locator(".detail h2")).to_have_text("Ann Lee")
    expect(page.locator("#approve")).to_have_count(0)
    expect(page.locator("#execute-approved")).to_have_count(0)
    page.keyboard.press("a")  # the shortcut finds no form to send
    expect(page.locator(".tab[data-tab=approved] .count")).to_have_text("0")


SHOTS = Path(os.environ.get("OVERTURE_REVIEW_SHOTS", "/tmp/review_shots"))


def shot(page: Page, name: str, full: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full)


def back_date(outreach_id: str, hours: float) -> None:
    async def go() -> None:
        async with session_scope() as s:
            await s.execute(update(Outreach).where(Outreach.id == outreach_id)
                            .values(created_at=utcnow() - dt.timedelta(hours=hours)))

    run_async(go)


def test_filter_approve_with_the_count_the_sla_flag_and_x_surviving_j_and_k(page: Page, live: LiveServer):
    key = live.key(Role.approver)
    admin = live.key(Role.admin)
    cid, drafts = seed(live, 3, contacts=people(3, timezone=zone_at_noon()), settings={"approval_sla_hours": 4})
    other, _ = seed(live, 2, contacts=[{"name": "Zed Park", "email": "zed@example.com"},
                                       {"name": "Yan Ng", "email": "yan@example.com"}])
    back_date(drafts["Ann"]["id"], 6)
    sign_in(page, key)
    expect(page.locator("#workspace-name")).to_have_text("acme")

    # Ann's draft waited past the campaign's 4-hour SLA: flagged in the list and in the detail.
    ann = page.locator(f'.item[data-id="{drafts["Ann"]["id"]}"]')
    expect(ann.locator(".overdue")).to_have_text("over SLA 4h")
    expect(ann.locator(".age")).to_contain_text("waiting 6h")
    expect(page.locator(".item .overdue")).to_have_count(1)
    assert api(live, admin, f"/v1/campaigns/{cid}/stats")["review"]["overdue"] == 1

    # x ticks the open draft; j and k load other drafts' pages and the tick stays.
    ids = [i.get_attribute("data-id") for i in page.locator(".item").all()]
    names = page.locator(".item .name").all_inner_texts()
    expect(page.locator(".item.selected")).to_have_attribute("data-id", ids[0])
    page.keyboard.press("x")
    expect(page.locator("#selected-count")).to_have_text("(1)")
    for step, at in (("j", 1), ("x", 1), ("j", 2), ("k", 1)):
        page.keyboard.press(step)
        if step != "x":
            expect(page.locator(".detail h2")).to_have_text(names[at])
            scripted(page)
    expect(page.locator("#selected-count")).to_have_text("(2)")
    expect(page.locator(f'.item[data-id="{ids[0]}"] input.pick')).to_be_checked()
    expect(page.locator(f'.item[data-id="{ids[1]}"] input.pick')).to_be_checked()
    expect(page.locator(f'.item[data-id="{ids[2]}"] input.pick')).not_to_be_checked()
    shot(page, "1_inbox_sla_and_selection")

    # Approve all matching: the campaign's three, counted before confirming.
    page.select_option("select[name=campaign_id]", cid)
    page.click(".filters button[type=submit]")
    scripted(page)
    page.click("#approve-matching")
    expect(page.locator("#bulk-count")).to_contain_text("3 drafts will be approved")
    shot(page, "2_approve_matching_count")
    # Meanwhile someone approves Bo's draft through the API: it is skipped, with the reason.
    r = httpx.post(f"{live.url}/v1/outreaches/{drafts['Bo']['id']}/approve", headers=bearer(admin), timeout=30)
    assert r.status_code == 200
    page.click("#bulk-confirm")
    expect(page.locator("#bulk-summary")).to_contain_text("Approved 2; skipped 1")
    expect(page.locator("#bulk-results li.result-skipped")).to_contain_text("already approved by")
    shot(page, "3_approve_matching_results")
    counts = api(live, key, "/v1/outreaches", campaign_id=cid)["counts"]
    assert (counts["approved"], counts["awaiting_approval"]) == (3, 0)
    assert api(live, key, "/v1/outreaches", campaign_id=other)["counts"]["awaiting_approval"] == 2

    # The execute confirmation lists who gets what, when, and says the channel is the sandbox.
    page.goto(f"/inbox/execute?campaign_id={cid}")
    expect(page.locator(".recipients tbody tr")).to_have_count(3)
    expect(page.locator(".recipients")).to_contain_text("ann@example.com")
    expect(page.locator(".sandbox-note")).to_contain_text("Sandbox")
    shot(page, "4_execute_confirmation", full=True)


def named_key(role: Role, name: str) -> str:
    async def go() -> str:
        async with session_scope() as s:
            ws = await get_or_create_workspace(s, "acme")
            return (await create_key(s, ws.id, role, name=name))[1]

    return run_async(go)


def test_queued_tab_says_why_each_waits_and_the_header_names_the_key(page: Page, live: LiveServer):
    key = named_key(Role.approver, "Dana from Ops")
    admin = live.key(Role.admin)
    cid, drafts = seed(live, 1, contacts=people(1, timezone=zone_at_noon()))
    ann = drafts["Ann"]["id"]
    assert httpx.post(f"{live.url}/v1/outreaches/{ann}/approve", headers=bearer(admin), timeout=30).status_code == 200
    assert httpx.post(f"{live.url}/v1/campaigns/{cid}/pause", headers=bearer(admin), timeout=30).status_code == 200

    async def queue() -> None:
        async with session_scope() as s:
            await move_outreaches(s, OutreachAction.queue, Outreach.campaign_id == cid)

    run_async(queue)
    sign_in(page, key)
    page.goto("/inbox?tab=queued")
    expect(page.locator(".item .waiting")).to_contain_text("held: the campaign is paused")
    expect(page.locator("#detail-waiting")).to_contain_text("paused")
    expect(page.locator("#me")).to_have_text("Dana from Ops")
    expect(page.locator("#workspace-name")).to_have_text("acme")
    shot(page, "5_queued_reason")


def test_the_thread_poll_redraws_the_drafts_header_and_buttons(page: Page, live: LiveServer):
    key = live.key(Role.approver)
    _, drafts = seed(live, 1)
    sign_in(page, key)
    expect(page.locator("#approve")).to_be_visible()
    expect(page.locator("#detail-status")).to_have_text("awaiting approval")

    async def void() -> None:  # what a reply does to the draft waiting for it
        async with session_scope() as s:
            await s.execute(update(Outreach).where(Outreach.id == drafts["Ann"]["id"])
                            .values(status="cancelled", error="the contact replied", version=Outreach.version + 1))

    run_async(void)
    expect(page.locator("#detail-status")).to_have_text("cancelled", timeout=15_000)
    expect(page.locator("#approve")).to_have_count(0)
    expect(page.locator("#edit-panel")).to_have_count(0)
