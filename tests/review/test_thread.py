"""The contact's story beside a draft: earlier touches, replies, the cancelled draft, goals."""

from __future__ import annotations

import datetime as dt

from agent.db import session_scope, utcnow
from agent.inbound import effects
from agent.inbound.store import record_inbound
from agent.models import Enrollment, Outreach
from agent.states import InboundKind
from tests.builders import add_goals, add_outreach, make_key, set_enrollments
from tests.conftest import bearer
from tests.flows import enrollments, live_campaign, people


async def test_a_reply_shows_on_the_pending_draft_and_the_draft_says_it_was_cancelled(client, admin):
    cid = await live_campaign(client, admin, contacts=[{**people(1)[0], "properties": {"plan": "Gold"}}])
    await add_goals(cid)
    eid = (await enrollments(client, admin, cid))["Ann"]["id"]
    await set_enrollments(Enrollment.id == eid, status="awaiting_approval")
    sent = await add_outreach(cid, eid, status="sent", channel="email", subject="Webinar", body="Join us Friday.",
                              sent_at=utcnow() - dt.timedelta(days=2))
    draft = await add_outreach(cid, eid, status="awaiting_approval", channel="email", subject="Reminder",
                               body="A reminder", step=2)
    viewer = bearer(await make_key("viewer"))
    before = (await client.get(f"/v1/outreaches/{draft}/thread", headers=viewer)).json()
    assert [(e["kind"], e["status"], e["is_this_draft"]) for e in before["entries"]] == [
        ("outreach", "sent", False), ("outreach", "awaiting_approval", True)]
    assert before["contact_properties"] == {"plan": "Gold"} and before["goals"][0]["is_primary"]
    async with session_scope() as s:
        message, _ = await record_inbound(s, channel="email", provider="smtp", external_id="<r@x>",
                                          kind=InboundKind.reply)
        await effects.apply_reply(s, message, await s.get(Outreach, sent), text="Can I bring a friend?")
    after = (await client.get(f"/v1/outreaches/{draft}/thread", headers=viewer)).json()
    assert after["fingerprint"] != before["fingerprint"]
    assert (after["outreach_status"], after["enrollment_status"]) == ("cancelled", "replied")
    replies = [e for e in after["entries"] if e["kind"] == "inbound"]
    assert [(e["status"], e["text"]) for e in replies] == [("reply", "Can I bring a friend?")]
    other = bearer(await make_key("admin", workspace="elsewhere"))
    assert (await client.get(f"/v1/outreaches/{draft}/thread", headers=other)).status_code == 404
