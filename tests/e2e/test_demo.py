"""Issue 14 part 6: ``serve --demo`` seeds a campaign with history, so every page has real figures
on first start, beside the reminders campaign whose offline drafts read like messages."""

from __future__ import annotations

from agent import demo
from agent.db import session_scope
from planner import scheduler
from tests.conftest import bearer, drain_queue


async def _seeded(client) -> tuple[dict[str, str], dict[str, dict]]:
    async with session_scope() as s:
        _, raw = await demo.seed(s)
    auth = bearer(raw)
    await drain_queue()
    listed = (await client.get("/v1/campaigns", headers=auth)).json()["items"]
    return auth, {c["name"]: c for c in listed}


async def test_the_history_campaign_has_figures_on_every_page(client):
    auth, campaigns = await _seeded(client)
    cid = campaigns["Flu shot clinic days"]["id"]
    s = (await client.get(f"/v1/campaigns/{cid}/stats", headers=auth)).json()
    assert s["all"]["total_contacts"] == 10 and s["all"]["contacted"] == 9
    assert s["all"]["replied"] == 2 and s["all"]["positive"] == 1
    assert s["email"]["sent"] >= 8 and s["email"]["delivered"] >= 7 and s["email"]["bounced"] == 1
    assert s["sms"]["delivered"] == 1
    assert s["voice"]["calls"] == 4 and s["voice"]["conversations"] == 2
    assert s["voice"]["answer_status"] == {"human": 2, "machine": 1, "no_answer": 1, "rejected": 0}
    assert s["heatmap"]["cells"] and s["flow"]
    booked = next(g for g in s["goals"] if g["is_primary"])
    assert booked["results"] == {"achieved": 1, "partially_achieved": 1}  # one a person corrected
    contacts = {i["contact"]["first_name"]: i for i in
                (await client.get(f"/v1/campaigns/{cid}/contacts", headers=auth)).json()["items"]}
    assert contacts["Daniel"]["primary_goal"]["result"] == "achieved"
    assert contacts["Fatima"]["primary_goal"]["result"] == "partially_achieved"
    assert (contacts["George"]["status"], contacts["George"]["substatus"]) == ("finished", "bounced")
    detail = (await client.get(f"/v1/campaigns/{cid}/contacts/{contacts['Daniel']['contact']['id']}",
                               headers=auth)).json()
    assert len(detail["history"]) == 2 and detail["attempts"] == 2
    activity = (await client.get(f"/v1/campaigns/{cid}/activity", headers=auth)).json()["items"]
    assert len(activity) >= 9


async def test_the_reminder_drafts_read_like_messages(client):
    auth, campaigns = await _seeded(client)
    cid = campaigns["Annual check-up reminders"]["id"]
    for _ in range(5):  # the scheduler starts the demo's planning; serve ticks it, a test ticks it by hand
        await scheduler.tick()
        await drain_queue()
        drafts = (await client.get("/v1/outreaches", headers=auth, params={"campaign_id": cid})).json()["items"]
        if len(drafts) == 8:
            break
    assert len(drafts) == 8
    for d in drafts:
        assert "Remind patients" not in d["body"] and "whose" not in d["body"], d["body"]
        assert d["subject"] != "Annual check-up reminders" and "offline" in d["model"]
    emails = [d for d in drafts if d["channel"] == "email"]
    assert emails and all(" as your clinic" in d["body"] for d in emails)
