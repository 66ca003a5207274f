"""A reply that arrives while the reviewer has the contact's draft open shows up on the page."""

from __future__ import annotations

import datetime as dt

from playwright.sync_api import Page, expect

from agent.db import session_scope, utcnow
from agent.inbound import effects
from agent.inbound.store import record_inbound
from agent.models import Outreach
from agent.states import InboundKind, Role
from tests.browser.conftest import LiveServer, run_async, save_screenshot
from tests.browser.test_inbox_browser import api, open_draft, seed, sign_in
from tests.builders import add_outreach


def test_a_reply_arriving_while_the_draft_is_open_shows_up_and_the_draft_says_cancelled(page: Page,
                                                                                        live: LiveServer):
    cid, drafts = seed(live, 1)
    draft = drafts["Ann"]
    sent = run_async(lambda: add_outreach(cid, draft["enrollment_id"], status="sent", channel="email",
                                          subject="Spring webinar", body="Would you join us on Friday?",
                                          sent_at=utcnow() - dt.timedelta(days=1)))
    sign_in(page, live.key(Role.approver))
    open_draft(page, "Ann Lee")
    story = page.locator("#thread")
    expect(story).to_contain_text("Would you join us on Friday?")
    expect(page.locator("#thread .reply-text")).to_have_count(0)

    async def reply() -> None:
        async with session_scope() as s:
            message, _ = await record_inbound(s, channel="email", provider="smtp", external_id="<reply@mail.test>",
                                              kind=InboundKind.reply)
            await effects.apply_reply(s, message, await s.get(Outreach, sent),
                                      text="Yes, count me in. Is there parking?")

    run_async(reply)
    # No reload: the open page polls the thread and redraws it.
    expect(page.locator("#thread .reply-text")).to_have_text("Yes, count me in. Is there parking?", timeout=15_000)
    expect(page.locator("#thread-notice")).to_contain_text("cancelled")
    save_screenshot(page, "inbox-reply-arrived")
    assert api(live, live.key(Role.admin), f"/v1/outreaches/{draft['id']}")["status"] == "cancelled"
