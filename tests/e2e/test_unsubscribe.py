"""The opt-out doors other than a text: the email's /u/{token} link (a GET shows the page and
never unsubscribes; the RFC 8058 one-click POST and the page's form do) and a caller who says
"don't call me again" in the end-of-call report."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from agent.db import session_scope
from agent.models import InboundMessage, Suppression
from agent.webhooks import sign
from tests.builders import add_outreach, count, outreach_row
from tests.flows import calling_campaign, enrollments, live_campaign

TOKEN = "u7Qx2mZr0c4Lk9sVbN1pEw3yHtA8dJfG"
ANN = {"name": "Ann Lee", "email": "Ann@Example.com", "phone": "+1 212 555 0100"}


async def with_link(client, admin) -> tuple[str, str, str, str]:
    """Ann in two campaigns: a sent email carrying the link in one, an approved draft in the other."""
    first = await live_campaign(client, admin, contacts=[ANN], name="Spring webinar")
    second = await live_campaign(client, admin, contacts=[ANN], name="Autumn webinar")
    sent = await add_outreach(first, (await enrollments(client, admin, first))["Ann"]["id"], status="sent",
                              channel="email", subject="Webinar", body="Hi Ann", unsubscribe_token=TOKEN)
    approved = await add_outreach(second, (await enrollments(client, admin, second))["Ann"]["id"],
                                  status="approved", channel="email", subject="Again", body="Hi Ann")
    return first, second, sent, approved


async def test_a_get_shows_the_page_and_unsubscribes_no_one(client, admin):
    first, _, _, approved = await with_link(client, admin)
    for _ in range(2):  # a link scanner, then the person
        r = await client.get(f"/u/{TOKEN}")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert f'action="/u/{TOKEN}"' in r.text and 'method="post"' in r.text
        assert "ann@example.com" in r.text.lower() and "Spring webinar" in r.text
    assert await count(Suppression) == 0 and await count(InboundMessage) == 0
    assert (await enrollments(client, admin, first))["Ann"]["status"] != "finished"
    assert (await outreach_row(approved)).status == "approved"


@pytest.mark.parametrize("body", ["List-Unsubscribe=One-Click", "confirm=yes"])
async def test_one_click_or_the_form_suppresses_across_the_workspace_once(client, admin, body):
    first, second, _, approved = await with_link(client, admin)
    for _ in range(2):  # a repeat (a second click, a retried one-click POST) changes nothing
        r = await client.post(f"/u/{TOKEN}", content=body,
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 200 and "You are unsubscribed" in r.text
    [entry] = (await client.get("/v1/suppressions", headers=admin)).json()["items"]
    assert (entry["email"], entry["channel"]) == ("ann@example.com", "email")
    for cid in (first, second):
        e = (await enrollments(client, admin, cid))["Ann"]
        assert (e["status"], e["substatus"]) == ("finished", "opted_out")
    assert (await outreach_row(approved)).status == "cancelled"
    async with session_scope() as s:
        [message] = (await s.execute(select(InboundMessage))).scalars().all()
    assert (message.kind, message.status, message.detail["method"]) == (
        "unsubscribe", "applied", "one_click" if body.startswith("List") else "page")


@pytest.mark.parametrize("token", ["not-a-token", "x" * 300])
async def test_an_unknown_token_is_a_404_page(client, admin, token):
    await with_link(client, admin)
    for method in ("GET", "POST"):
        r = await client.request(method, f"/u/{token}", content="List-Unsubscribe=One-Click")
        assert r.status_code == 404 and "Link not found" in r.text
    assert await count(Suppression) == 0


# -- a caller who asks not to be called -----------------------------------------------------------

SECRET = "whsec_unsub_test"


def call_report(call_id: str, cid: str, to: str, said: str) -> bytes:
    return json.dumps({
        "call_id": call_id, "campaign_id": cid, "from": "+12025550199", "to": to, "duration_s": 42.0,
        "ended_reason": "customer-ended-call", "answer_status": "human",
        "transcript": [{"role": "assistant", "content": "Hi Ann, this is the clinic about your check-up."},
                       {"role": "user", "content": said}]}).encode()


@pytest.mark.parametrize(("said", "opted_out"), [("Please don't call me again.", True),
                                                  ("Take me off your list.", True),
                                                  ("Sure, call me tomorrow.", False)])
async def test_a_do_not_call_request_in_the_transcript_suppresses_voice(client, admin, settings, said, opted_out):
    settings.webhook_secret = SecretStr(SECRET)
    first, people = await calling_campaign(client, admin, contacts=[ANN])
    second, _ = await calling_campaign(client, admin, contacts=[ANN])
    raw = call_report("call-dnc-1", first, people["Ann"]["contact"]["phone"], said)
    for _ in range(2):  # the report redelivered: applied once
        r = await client.post("/v1/voice/events", content=raw,
                              headers={"Content-Type": "application/json", "X-Overture-Signature": sign(raw, SECRET)})
        assert r.status_code == 202, r.text
    entries = (await client.get("/v1/suppressions", headers=admin)).json()["items"]
    if not opted_out:
        assert entries == []
        assert (await enrollments(client, admin, second))["Ann"]["status"] != "finished"
        return
    [entry] = entries
    assert (entry["phone"], entry["channel"], entry["reason"]) == ("+12125550100", "voice", "do_not_call")
    for cid in (first, second):
        e = (await enrollments(client, admin, cid))["Ann"]
        assert (e["status"], e["substatus"]) == ("finished", "opted_out")
