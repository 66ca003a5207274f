"""Review at scale through HTTP: approve or reject everything a filter matches (counted first,
then per-item results), bounded and never approving twice; approval age and the campaign's
approval SLA on every draft and in the stats; why a queued one waits; where a sent one went."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import update

from agent.db import session_scope, utcnow
from agent.models import Outreach
from tests.builders import events, key_id, outreach_row
from tests.conftest import bearer, make_key
from tests.flows import approved_and_queued, queue_with_drafts


async def age(outreach_id: str, hours: float) -> None:
    """Back-date a draft, as if the planner had written it ``hours`` ago."""
    async with session_scope() as s:
        await s.execute(update(Outreach).where(Outreach.id == outreach_id)
                        .values(created_at=utcnow() - dt.timedelta(hours=hours)))


async def test_filter_approve_counts_first_then_approves_exactly_what_was_counted(client, admin):
    cid, items = await queue_with_drafts(client, admin, 3)
    other, _ = await queue_with_drafts(client, admin, 2)
    approver = bearer(await make_key("approver"))
    preview = await client.post("/v1/outreaches/bulk", json={"action": "approve", "campaign_id": cid, "dry_run": True},
                                headers=approver)
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert (body["matched"], len(body["items"]), body["done"], body["remaining"]) == (3, 3, 0, 0)
    assert [(await outreach_row(i["id"])).status for i in items] == ["awaiting_approval"] * 3  # dry: nothing moved

    # Meanwhile another reviewer approves one and edits another.
    first, second, third = sorted(body["items"])
    assert (await client.post(f"/v1/outreaches/{first}/approve", headers=admin)).status_code == 200
    assert (await client.patch(f"/v1/outreaches/{second}", json={"body": "Hi, edited.", "version": 1},
                               headers=admin)).status_code == 200

    done = await client.post("/v1/outreaches/bulk", json={"action": "approve", "campaign_id": cid,
                                                          "items": body["items"]}, headers=approver)
    assert done.status_code == 200, done.text
    result = done.json()
    by_id = {r["id"]: r for r in result["results"]}
    assert (result["done"], result["skipped"]) == (1, 2)
    assert by_id[third]["outcome"] == "approved" and by_id[third]["status"] == "approved"
    assert by_id[first]["outcome"] == "skipped" and by_id[first]["code"] == "already_approved"
    assert by_id[second]["code"] == "stale" and "changed since" in by_id[second]["detail"]
    assert (await outreach_row(third)).approved_by == await key_id(approver)
    assert (await outreach_row(second)).status == "awaiting_approval"
    assert [e.actor for e in await events(third, "outreach.approved")] == [await key_id(approver)]
    # The other campaign's drafts were never in the filter.
    left = await client.get("/v1/outreaches", params={"campaign_id": other}, headers=admin)
    assert len(left.json()["items"]) == 2


async def test_filter_approve_is_bounded_and_two_racing_callers_approve_each_draft_once(client, admin):
    cid, items = await queue_with_drafts(client, admin, 5)
    alice, bob = bearer(await make_key("approver")), bearer(await make_key("approver"))
    bounded = await client.post("/v1/outreaches/bulk", json={"action": "approve", "campaign_id": cid, "limit": 2,
                                                             "dry_run": True}, headers=alice)
    assert (bounded.json()["matched"], len(bounded.json()["items"]), bounded.json()["remaining"]) == (5, 2, 3)
    answers = await asyncio.gather(*[client.post("/v1/outreaches/bulk", json={"action": "approve", "campaign_id": cid},
                                                 headers=h) for h in (alice, bob)])
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    approved = [r["id"] for a in answers for r in a.json()["results"] if r["outcome"] == "approved"]
    assert sorted(approved) == sorted(i["id"] for i in items)  # each once, between them
    for i in items:
        assert len(await events(i["id"], "outreach.approved")) == 1


async def test_filter_reject_with_an_instruction_redrafts_each_and_reports_each(client, admin):
    cid, items = await queue_with_drafts(client, admin, 2)
    r = await client.post("/v1/outreaches/bulk", json={"action": "reject", "campaign_id": cid, "regenerate": True,
                                                       "instruction": "Shorter", "reason": "too long"},
                          headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["done"] == 2 and {x["outcome"] for x in r.json()["results"]} == {"redrafting"}
    for i in items:
        row = await outreach_row(i["id"])
        assert row.status == "superseded"
        [event] = await events(i["id"], "outreach.superseded")
        assert event.payload["instruction"] == "Shorter"


async def test_filter_bulk_refuses_a_viewer_and_bad_bounds(client, admin):
    cid, _ = await queue_with_drafts(client, admin, 1)
    viewer = bearer(await make_key("viewer"))
    r = await client.post("/v1/outreaches/bulk", json={"action": "approve", "campaign_id": cid}, headers=viewer)
    assert r.status_code == 403
    r = await client.post("/v1/outreaches/bulk", json={"action": "approve", "limit": 501}, headers=admin)
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    r = await client.post("/v1/outreaches/bulk", json={"action": "publish"}, headers=admin)
    assert r.status_code == 422


async def test_approval_age_and_sla_flag_on_drafts_and_in_the_stats(client, admin):
    cid, items = await queue_with_drafts(client, admin, 3)
    patched = await client.patch(f"/v1/campaigns/{cid}", json={"settings": {"approval_sla_hours": 4}}, headers=admin)
    assert patched.status_code == 200, patched.text
    old, fresh = items[0]["id"], items[1]["id"]
    await age(old, 5)
    await age(fresh, 1)
    listed = {i["id"]: i for i in (await client.get("/v1/outreaches", params={"campaign_id": cid},
                                                     headers=admin)).json()["items"]}
    assert listed[old]["approval_overdue"] is True and listed[old]["approval_age_s"] >= 5 * 3600
    assert listed[fresh]["approval_overdue"] is False and 3600 <= listed[fresh]["approval_age_s"] < 4 * 3600
    assert listed[old]["approval_sla_hours"] == 4
    stats = (await client.get(f"/v1/campaigns/{cid}/stats", headers=admin)).json()
    assert stats["review"] == {"awaiting_approval": 3, "overdue": 1, "approval_sla_hours": 4}
    # Only the overdue ones, by age.
    r = await client.post("/v1/outreaches/bulk", json={"action": "approve", "campaign_id": cid, "older_than_hours": 4,
                                                       "dry_run": True}, headers=admin)
    assert list(r.json()["items"]) == [old]


async def test_the_queued_tab_says_why_each_waits_and_the_sent_tab_where_it_went(client, admin):
    cid, by = await approved_and_queued(client, admin, 1)
    [item] = by.values()
    later = utcnow() + dt.timedelta(days=2)
    async with session_scope() as s:
        await s.execute(update(Outreach).where(Outreach.id == item["id"]).values(scheduled_at=later))
    queued = (await client.get("/v1/outreaches", params={"campaign_id": cid, "status": "awaiting_execution"},
                               headers=admin)).json()["items"]
    assert queued[0]["waiting"].startswith(("scheduled for", "until")), queued[0]
    assert "in the contact's zone" in queued[0]["waiting"]
    assert (await client.post(f"/v1/campaigns/{cid}/pause", headers=admin)).status_code == 200
    queued = (await client.get("/v1/outreaches", params={"campaign_id": cid, "status": "awaiting_execution"},
                               headers=admin)).json()["items"]
    assert queued[0]["waiting"].startswith("held: the campaign is paused"), queued[0]

    async with session_scope() as s:
        await s.execute(update(Outreach).where(Outreach.id == item["id"])
                        .values(status="sent", sent_at=utcnow(), provider_message_id="sb_1"))
    sent = (await client.get("/v1/outreaches", params={"campaign_id": cid, "status": "sent"},
                             headers=admin)).json()["items"]
    assert sent[0]["sent_at"] and sent[0]["sent_to"] == item["contact"]["email"] and sent[0]["provider"] == "sandbox"
