"""Execute-approved and the sandbox executor: approved outreaches go out once, inside the
contact's hours, and with Manual Review on nothing is sent without an approval on record."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update
from sqlalchemy.exc import InvalidRequestError

from agent.channels import OutboundMessage
from agent.channels.sandbox import SANDBOX
from agent.db import session_scope
from agent import activity
from agent.executor import Outcome, execute, execute_many
from agent.models import Outreach
from agent.outreaches.repository import find_outreaches
from tests.builders import enrollment_row, events, outreach_row
from tests.conftest import bearer, drain_queue, make_key
from tests.flows import by_name, people, queue_with_drafts, zone_at_noon

NY = ZoneInfo("America/New_York")


def ny_noon_tomorrow() -> dt.datetime:
    return dt.datetime.combine(dt.datetime.now(NY).date() + dt.timedelta(days=1), dt.time(12), NY)


def sandboxed(outreach_id: str) -> list[OutboundMessage]:
    return [m for m in SANDBOX.outbox if m.outreach_id == outreach_id]


async def test_execute_approved_sends_the_approved_once_and_repeating_queues_nothing(client, admin):
    cid, items = await queue_with_drafts(client, admin, 3, contacts=people(3, timezone=zone_at_noon()))
    named = by_name(items)
    approver = bearer(await make_key("approver"))
    for name in ("Ann", "Bo"):
        assert (await client.post(f"/v1/outreaches/{named[name]['id']}/approve", headers=approver)).status_code == 200
    r = await client.post(f"/v1/campaigns/{cid}/execute-approved", headers=approver)
    assert r.status_code == 202 and r.json() == {"queued": 2}
    again = await client.post(f"/v1/campaigns/{cid}/execute-approved", headers=approver)
    assert again.status_code == 202 and again.json() == {"queued": 0}
    await drain_queue()
    for name in ("Ann", "Bo"):
        row = await outreach_row(named[name]["id"])
        assert row.status == "sent" and row.provider_message_id == row.idempotency_key and row.sent_at
        assert len(sandboxed(row.id)) == 1 and sandboxed(row.id)[0].to == f"{name.lower()}@example.com"
        [sent] = await events(row.id, "outreach.sent")
        assert sent.payload["body"] == row.body and sent.payload["provider"] == "sandbox"
        enrollment = await enrollment_row(row.enrollment_id)
        assert (enrollment.status, enrollment.substatus, enrollment.attempts) == ("waiting", "retry", 1)
        assert enrollment.next_attempt_at - row.sent_at == dt.timedelta(days=1)
    # The unapproved draft never reached the executor.
    cy = await outreach_row(named["Cy"]["id"])
    assert cy.status == "awaiting_approval" and sandboxed(cy.id) == []
    counts = (await client.get("/v1/outreaches", params={"campaign_id": cid}, headers=admin)).json()["counts"]
    assert (counts["sent"], counts["awaiting_approval"], counts["approved"]) == (2, 1, 0)
    # A redelivered message for a sent outreach sends nothing.
    assert await execute(named["Ann"]["id"]) is Outcome.not_ready
    assert len(sandboxed(named["Ann"]["id"])) == 1


async def test_execute_approved_is_refused_on_a_paused_campaign(client, admin):
    cid, items = await queue_with_drafts(client, admin, 1)
    await client.post(f"/v1/outreaches/{items[0]['id']}/approve", headers=admin)
    assert (await client.post(f"/v1/campaigns/{cid}/pause", headers=admin)).status_code == 200
    r = await client.post(f"/v1/campaigns/{cid}/execute-approved", headers=admin)
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition"
    assert (await outreach_row(items[0]["id"])).status == "approved"


async def test_manual_review_on_nothing_is_sent_without_an_approval(client, admin):
    cid, items = await queue_with_drafts(client, admin, 2)
    named = by_name(items)
    # Nothing approved: execute-approved hands nothing over.
    assert (await client.post(f"/v1/campaigns/{cid}/execute-approved", headers=admin)).json() == {"queued": 0}
    # Even an outreach pushed to the executor behind review's back is refused, not sent.
    sneaky = named["Ann"]["id"]
    async with session_scope() as s:
        await s.execute(update(Outreach).where(Outreach.id == sneaky).values(status="awaiting_execution"))
    assert await execute(sneaky, now=ny_noon_tomorrow()) is Outcome.failed
    row = await outreach_row(sneaky)
    assert row.status == "failed" and "no approval" in row.error and row.provider_message_id is None
    assert sandboxed(sneaky) == [] and await events(sneaky, "outreach.sent") == []
    assert [e.payload["reason"] for e in await events(sneaky, "outreach.failed")] == [row.error]
    assert (await outreach_row(named["Bo"]["id"])).status == "awaiting_approval"


async def test_manual_review_off_the_executor_sends_what_the_planner_queued(client, admin):
    cid, items = await queue_with_drafts(client, admin, 1, manual_review=False,
                                         contacts=[{"name": "Ann Lee", "email": "ann@example.com",
                                                    "timezone": "America/New_York"}])
    [item] = items
    assert item["status"] == "awaiting_execution"
    now = ny_noon_tomorrow()
    assert await execute(item["id"], now=now) is Outcome.sent
    row = await outreach_row(item["id"])
    assert (row.status, row.provider_message_id, row.sent_at) == ("sent", row.idempotency_key, now)
    enrollment = await enrollment_row(item["enrollment_id"])
    assert (enrollment.status, enrollment.attempts, enrollment.last_attempt_at) == ("waiting", 1, now)
    assert await execute(item["id"], now=now) is Outcome.not_ready  # the same message again
    assert len(sandboxed(item["id"])) == 1 and len(await events(item["id"], "outreach.sent")) == 1


async def test_nothing_is_sent_outside_the_contacts_hours(client, admin):
    _, items = await queue_with_drafts(client, admin, 1, manual_review=False,
                                       contacts=[{"name": "Ann Lee", "email": "ann@example.com",
                                                  "timezone": "America/Los_Angeles"}])
    oid = items[0]["id"]
    # 11:00 in New York is 08:00 in Los Angeles: open. 10:59 is 07:59 there: quiet hours.
    day = ny_noon_tomorrow().date()
    too_early = dt.datetime.combine(day, dt.time(10, 59), NY)
    assert await execute(oid, now=too_early) is Outcome.outside_hours
    row = await outreach_row(oid)
    opens = dt.datetime.combine(day, dt.time(11), NY)
    assert (row.status, row.version) == ("awaiting_execution", items[0]["version"])
    # Rescheduled to the contact's next allowed minute, so the scheduler leaves it alone until then.
    assert row.scheduled_at == opens and len(await events(oid, "outreach.deferred")) == 1
    from planner.scheduler import dispatch_due
    assert await dispatch_due(too_early) == 0
    assert sandboxed(oid) == [] and await events(oid, "outreach.executing") == []
    assert await execute(oid, now=opens) is Outcome.sent


async def test_a_batch_writes_its_events_once_per_transaction_and_keeps_their_order(client, admin, monkeypatch):
    """The claim's events (each enrollment's move, each outreach's ``executing``) go in one bulk
    write, and so do the result's (``sent``, then the enrollment's move): two writes for a batch
    recorded in one group, each outreach's history in the order it happened."""
    _, items = await queue_with_drafts(client, admin, 3, manual_review=False,
                                       contacts=people(3, timezone="America/New_York"))
    writes: list[list[str]] = []
    record_all = activity.record_all

    async def counted(s, rows):  # noqa: ANN001
        writes.append([r["kind"] for r in rows])
        await record_all(s, rows)

    monkeypatch.setattr(activity, "record_all", counted)
    ids = [i["id"] for i in items]
    assert await execute_many(ids, now=ny_noon_tomorrow(), result_group=3) == dict.fromkeys(ids, Outcome.sent)
    assert writes == [["enrollment.moved"] * 3 + ["outreach.executing"] * 3,
                      ["outreach.sent"] * 3 + ["enrollment.moved"] * 3]
    for outreach_id in ids:  # the planner's events before these; the attempt's move names no outreach
        history = [e.kind for e in await events(outreach_id)]
        assert history[-3:] == ["enrollment.moved", "outreach.executing", "outreach.sent"], (outreach_id, history)


async def test_the_last_attempt_finishes_the_contact(client, admin):
    _, items = await queue_with_drafts(client, admin, 1, manual_review=False, settings={"max_retry_attempts": 0},
                                       contacts=[{"name": "Ann Lee", "email": "ann@example.com",
                                                  "timezone": "America/New_York"}])
    assert await execute(items[0]["id"], now=ny_noon_tomorrow()) is Outcome.sent
    enrollment = await enrollment_row(items[0]["enrollment_id"])
    assert (enrollment.status, enrollment.substatus, enrollment.attempts) == ("finished", "max_attempts", 1)
    assert enrollment.next_attempt_at is None


async def test_a_channel_failure_is_recorded_and_never_retried_blindly(client, admin):
    _, items = await queue_with_drafts(client, admin, 1, manual_review=False,
                                       contacts=[{"name": "Ann Lee", "email": "ann@example.com",
                                                  "timezone": "America/New_York"}])

    class Down:
        name = "down"

        async def send(self, message: OutboundMessage):  # noqa: ANN201
            raise ConnectionError("provider unreachable")

    oid = items[0]["id"]
    assert await execute(oid, now=ny_noon_tomorrow(), channel=Down()) is Outcome.failed
    row = await outreach_row(oid)
    assert row.status == "failed" and "provider unreachable" in row.error
    enrollment = await enrollment_row(items[0]["enrollment_id"])
    assert (enrollment.status, enrollment.substatus, enrollment.attempts) == ("error", "system_error", 0)
    assert await execute(oid, now=ny_noon_tomorrow()) is Outcome.not_ready and sandboxed(oid) == []


async def test_an_approved_draft_that_breaks_its_channel_rules_is_refused_at_send(client, admin):
    cid, items = await queue_with_drafts(client, admin, 2, contacts=people(2, timezone=zone_at_noon()))
    named = by_name(items)
    for name in ("Ann", "Bo"):
        assert (await client.post(f"/v1/outreaches/{named[name]['id']}/approve", headers=admin)).status_code == 200
    broken = named["Ann"]["id"]
    async with session_scope() as s:  # written around review: an email without its subject
        await s.execute(update(Outreach).where(Outreach.id == broken).values(subject=None))
    assert (await client.post(f"/v1/campaigns/{cid}/execute-approved", headers=admin)).json() == {"queued": 2}
    await drain_queue()
    row = await outreach_row(broken)
    assert row.status == "failed" and row.error.startswith("subject:") and sandboxed(broken) == []
    [failed] = await events(broken, "outreach.failed")
    assert failed.payload == {"reason": "channel_rules", "problems": ["missing_subject"]}
    enrollment = await enrollment_row(row.enrollment_id)
    assert (enrollment.status, enrollment.substatus, enrollment.attempts) == ("error", "missing_subject", 0)
    # The other draft, within the rules, went out as usual.
    assert (await outreach_row(named["Bo"]["id"])).status == "sent" and len(sandboxed(named["Bo"]["id"])) == 1


async def test_the_sent_tab_names_the_provider_the_send_went_through_not_the_channels_current_one(client, admin):
    """The provider comes from the send's outreach.sent event: the channel's provider may be
    changed after the send (sandbox to SMTP), and the Sent tab must still say where it went."""
    from agent.models import Channel

    cid, items = await queue_with_drafts(client, admin, 1, contacts=people(1, timezone=zone_at_noon()))
    [item] = items
    assert (await client.post(f"/v1/outreaches/{item['id']}/approve", headers=admin)).status_code == 200
    assert (await client.post(f"/v1/campaigns/{cid}/execute-approved", headers=admin)).status_code == 202
    await drain_queue()
    row = await outreach_row(item["id"])
    [sent_event] = await events(row.id, "outreach.sent")
    assert row.status == "sent" and row.channel_id and sent_event.payload["provider"] == "sandbox"
    async with session_scope() as s:  # the channel moves to another provider after the send
        await s.execute(update(Channel).where(Channel.id == row.channel_id).values(
            config={"provider": "smtp", "from_address": "clinic@example.com"}))
    sent = (await client.get("/v1/outreaches", params={"campaign_id": cid, "status": "sent"},
                             headers=admin)).json()["items"]
    assert [(i["id"], i["provider"], i["sent_to"]) for i in sent] == [(row.id, "sandbox", item["contact"]["email"])]


async def test_the_claim_reads_only_what_a_send_needs_and_refuses_the_rest(client, admin):
    """The executor's claim leaves out the draft's making and the names of record: a send path
    that starts reading one of them fails here at once (not with a lazy load per row)."""
    _, items = await queue_with_drafts(client, admin, 1, manual_review=False)
    async with session_scope() as s:
        [lean] = await find_outreaches(s, [items[0]["id"]], refresh=False, for_sending=True)
        assert lean.outreach.body and lean.outreach.idempotency_key and lean.contact.email
        for row, name in ((lean.outreach, "rationale"), (lean.contact, "first_name"),
                          (lean.enrollment, "last_attempt_at")):
            with pytest.raises(InvalidRequestError, match="raiseload"):
                getattr(row, name)
    async with session_scope() as s:  # the other readers still get whole rows
        [whole] = await find_outreaches(s, [items[0]["id"]], refresh=False)
        assert whole.outreach.rationale and whole.contact.first_name
