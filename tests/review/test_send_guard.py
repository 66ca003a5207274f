"""The send-time guard: an approved outreach is checked again at the claim, against the world as
it is then. Each test would send if its rule were missing."""

from __future__ import annotations

from sqlalchemy import select

from agent.channels import AmbiguousFailure, OutboundMessage, PermanentFailure, SendResult, TransientFailure
from agent.channels.sandbox import SANDBOX
from agent.db import session_scope
from agent.executor import MAX_SEND_TRIES, Outcome, execute, execute_many
from agent.ids import new_id
from agent.lifecycle.outreaches import move_outreaches
from agent.models import Enrollment, Outreach, Suppression
from agent.queue import get_broker
from agent.states import OutreachAction, Substatus
from tests.builders import enrollment_row, events, outreach_row, set_enrollments
from tests.flows import approved_and_queued, by_name, queue_with_drafts, zone_at_noon


def sent(outreach_id: str) -> list[OutboundMessage]:
    return [m for m in SANDBOX.outbox if m.outreach_id == outreach_id]


async def channel_id(client, admin, cid: str) -> str:
    return (await client.get(f"/v1/campaigns/{cid}", headers=admin)).json()["channels"][0]["id"]


async def test_a_contact_removed_after_approval_gets_nothing_and_leaves_the_inbox(client, admin):
    cid, named = await approved_and_queued(client, admin, 2)
    ann = await outreach_row(named["Ann"]["id"])
    enrollment = await enrollment_row(ann.enrollment_id)
    r = await client.delete(f"/v1/campaigns/{cid}/contacts/{enrollment.contact_id}", headers=admin)
    assert r.status_code == 204, r.text
    row = await outreach_row(ann.id)
    assert row.status == "cancelled" and row.error == "the contact was removed from the campaign"
    assert await execute(ann.id) is Outcome.not_ready and sent(ann.id) == []
    listed = (await client.get("/v1/outreaches", params={"campaign_id": cid, "status": "approved,awaiting_execution"},
                               headers=admin)).json()["items"]
    assert [i["id"] for i in listed] == [named["Bo"]["id"]]
    assert await execute(named["Bo"]["id"]) is Outcome.sent


async def test_the_guard_voids_a_send_for_a_contact_no_longer_in_the_sequence(client, admin):
    cid, named = await approved_and_queued(client, admin, 1)
    ann = await outreach_row(named["Ann"]["id"])
    # Removed (or replied, finished...) by a path that did not cancel the draft: the guard still does.
    await set_enrollments(Enrollment.id == ann.enrollment_id, status="replied")
    assert await execute(ann.id) is Outcome.cancelled and sent(ann.id) == []
    row = await outreach_row(ann.id)
    assert row.status == "cancelled" and row.error == "the contact is replied in this campaign"
    [cancelled] = await events(ann.id, "outreach.cancelled")
    assert cancelled.payload == {"reason": row.error}
    assert (await enrollment_row(ann.enrollment_id)).status == "replied"  # left as the reply left it


async def test_a_stopped_channel_voids_the_send_and_puts_the_contact_back_in_the_plan(client, admin):
    # Two channels, so the campaign stays active (stopping its only channel would complete it).
    cid, named = await approved_and_queued(client, admin, 1, channels=("email", "sms"))
    chid = await channel_id(client, admin, cid)
    assert (await client.post(f"/v1/campaigns/{cid}/channels/{chid}/stop", headers=admin)).status_code == 200
    oid = named["Ann"]["id"]
    assert await execute(oid) is Outcome.cancelled and sent(oid) == []
    assert (await outreach_row(oid)).error == "the email channel is stopped"
    enrollment = await enrollment_row((await outreach_row(oid)).enrollment_id)
    assert (enrollment.status, enrollment.substatus, enrollment.attempts) == ("waiting", None, 0)


async def test_a_paused_campaign_holds_the_send_and_it_goes_out_once_after_the_resume(client, admin):
    cid, named = await approved_and_queued(client, admin, 1)
    oid = named["Ann"]["id"]
    assert (await client.post(f"/v1/campaigns/{cid}/pause", headers=admin)).status_code == 200
    assert await execute(oid) is Outcome.held
    assert (await outreach_row(oid)).status == "awaiting_execution" and sent(oid) == []
    assert (await client.post(f"/v1/campaigns/{cid}/resume", headers=admin)).status_code == 200
    assert await execute(oid) is Outcome.sent
    assert await execute(oid) is Outcome.not_ready
    assert len(sent(oid)) == 1


async def test_a_paused_channel_holds_the_send(client, admin):
    cid, named = await approved_and_queued(client, admin, 1, channels=("email", "sms"))
    chid = await channel_id(client, admin, cid)
    assert (await client.post(f"/v1/campaigns/{cid}/channels/{chid}/pause", headers=admin)).status_code == 200
    oid = named["Ann"]["id"]
    assert await execute(oid) is Outcome.held and sent(oid) == []


async def _suppress(workspace_id: str, *, channel: str, email: str | None = None, phone: str | None = None) -> None:
    async with session_scope() as s:
        s.add(Suppression(id=new_id("sup"), workspace_id=workspace_id, email_key=email, phone=phone,
                          channel=channel, reason="opted_out", source="test"))


async def test_a_suppression_for_every_channel_stops_an_email_even_when_it_came_by_phone(client, admin):
    contacts = [{"name": "Ann Lee", "email": "ann@example.com", "phone": "+14155552671", "timezone": zone_at_noon()},
                {"name": "Bo Chen", "email": "bo@example.com", "phone": "+14155552672", "timezone": zone_at_noon()}]
    cid, items = await queue_with_drafts(client, admin, 2, contacts=contacts)
    named = by_name(items)
    for item in items:
        assert (await client.post(f"/v1/outreaches/{item['id']}/approve", headers=admin)).status_code == 200
    async with session_scope() as s:
        await move_outreaches(s, OutreachAction.queue, Outreach.campaign_id == cid)
        ws = (await s.execute(select(Outreach.workspace_id).where(Outreach.campaign_id == cid).limit(1))).scalar_one()
    await _suppress(ws, channel="all", phone="+14155552671")  # Ann texted STOP: nothing more, by any channel
    await _suppress(ws, channel="sms", phone="+14155552672")  # Bo stopped texts only: email still goes
    ann, bo = named["Ann"]["id"], named["Bo"]["id"]
    assert await execute(ann) is Outcome.cancelled and sent(ann) == []
    enrollment = await enrollment_row((await outreach_row(ann)).enrollment_id)
    assert (enrollment.status, enrollment.substatus) == ("finished", "opted_out")
    assert await execute(bo) is Outcome.sent and len(sent(bo)) == 1


async def test_an_approval_covers_its_brief_a_changed_brief_sends_the_draft_back_to_review(client, admin):
    cid, named = await approved_and_queued(client, admin, 1)
    oid = named["Ann"]["id"]
    r = await client.patch(f"/v1/campaigns/{cid}", json={"brief": "A different offer entirely."}, headers=admin)
    assert r.status_code == 200, r.text
    assert await execute(oid) is Outcome.reopened and sent(oid) == []
    row = await outreach_row(oid)
    assert (row.status, row.approved_by) == ("awaiting_approval", None) and "earlier brief" in row.error
    assert (await enrollment_row(row.enrollment_id)).status == "awaiting_approval"
    # Approved again under the new brief, it goes out (and is not sent back a second time).
    assert (await client.post(f"/v1/outreaches/{oid}/approve", headers=admin)).status_code == 200
    async with session_scope() as s:
        await move_outreaches(s, OutreachAction.queue, Outreach.id == oid)
    assert await execute(oid) is Outcome.sent and len(sent(oid)) == 1


async def test_a_contact_without_an_address_fails_with_the_planners_substatus(client, admin):
    cid, named = await approved_and_queued(client, admin, 1)
    oid = named["Ann"]["id"]
    row = await outreach_row(oid)
    contact_id = (await enrollment_row(row.enrollment_id)).contact_id
    async with session_scope() as s:
        from agent.models import Contact
        await s.execute(Contact.__table__.update().where(Contact.id == contact_id).values(email=None, email_key=None))
    assert await execute(oid) is Outcome.failed and sent(oid) == []
    enrollment = await enrollment_row(row.enrollment_id)
    assert (enrollment.status, enrollment.substatus) == ("error", "missing_email")


class Refuses:
    name = "refuses"

    def __init__(self, exc: Exception) -> None:
        self.exc, self.calls = exc, 0

    async def send(self, message: OutboundMessage) -> SendResult:
        self.calls += 1
        raise self.exc


async def test_a_transient_refusal_is_retried_later_within_a_bound(client, admin):
    cid, named = await approved_and_queued(client, admin, 1)
    oid = named["Ann"]["id"]
    busy = Refuses(TransientFailure("421 try later", retry_after_s=90, code="421"))
    assert await execute(oid, channel=busy) is Outcome.retry_later
    row = await outreach_row(oid)
    assert (row.status, row.send_attempts) == ("awaiting_execution", 1)
    assert 89 <= (row.scheduled_at - row.updated_at).total_seconds() <= 91
    assert (await enrollment_row(row.enrollment_id)).status == "awaiting_execution"
    for _ in range(MAX_SEND_TRIES - 1):
        await execute(oid, channel=busy)
    row = await outreach_row(oid)
    assert busy.calls == MAX_SEND_TRIES and row.status == "failed"
    enrollment = await enrollment_row(row.enrollment_id)
    assert (enrollment.status, enrollment.substatus) == ("error", "channel_disconnected")


async def test_a_permanent_refusal_finishes_the_contact_with_its_substatus(client, admin):
    cid, named = await approved_and_queued(client, admin, 1)
    oid = named["Ann"]["id"]
    bounce = Refuses(PermanentFailure("550 5.1.1 no such user", substatus=Substatus.bounced, code="550"))
    assert await execute(oid, channel=bounce) is Outcome.failed
    assert await execute(oid, channel=bounce) is Outcome.not_ready and bounce.calls == 1
    row = await outreach_row(oid)
    enrollment = await enrollment_row(row.enrollment_id)
    assert row.status == "failed" and (enrollment.status, enrollment.substatus) == ("finished", "bounced")


async def test_an_ambiguous_refusal_is_unknown_and_never_resent(client, admin):
    cid, named = await approved_and_queued(client, admin, 1)
    oid = named["Ann"]["id"]
    hung = Refuses(AmbiguousFailure("timed out after DATA"))
    assert await execute(oid, channel=hung) is Outcome.failed
    assert await execute(oid, channel=hung) is Outcome.not_ready and hung.calls == 1
    row = await outreach_row(oid)
    enrollment = await enrollment_row(row.enrollment_id)
    assert row.status == "unknown" and (enrollment.status, enrollment.substatus) == ("error", "system_error")


async def test_the_send_actor_is_never_retried_by_the_broker(app):
    assert get_broker().get_actor("executor.send_outreach").options["max_retries"] == 0
    assert get_broker().get_actor("executor.send_outreaches").options["max_retries"] == 0
    assert get_broker().get_actor("planner.plan_enrollment").options["max_retries"] == 3


async def _unknown(client, admin) -> tuple[str, str]:
    cid, named = await approved_and_queued(client, admin, 1)
    oid = named["Ann"]["id"]
    assert await execute(oid, channel=Refuses(AmbiguousFailure("timed out after DATA"))) is Outcome.failed
    assert (await outreach_row(oid)).status == "unknown"
    return cid, oid


async def test_a_person_settles_an_unknown_send_as_sent_and_the_attempt_counts(client, admin):
    from tests.builders import make_key
    from tests.conftest import bearer
    cid, oid = await _unknown(client, admin)
    viewer = bearer(await make_key("viewer"))
    assert (await client.post(f"/v1/outreaches/{oid}/settle", json={"sent": True}, headers=viewer)).status_code == 403
    assert (await client.post(f"/v1/outreaches/{oid}/settle", json={"sent": "maybe"}, headers=admin)).status_code == 422
    r = await client.post(f"/v1/outreaches/{oid}/settle", json={"sent": True, "note": "in Postmark's log"},
                          headers=admin)
    assert r.status_code == 200 and r.json()["status"] == "sent", r.text
    enrollment = await enrollment_row((await outreach_row(oid)).enrollment_id)
    assert (enrollment.status, enrollment.substatus, enrollment.attempts) == ("waiting", "retry", 1)
    [settled] = await events(oid, "outreach.settled")
    assert settled.payload["sent"] is True and settled.payload["note"] == "in Postmark's log"
    again = await client.post(f"/v1/outreaches/{oid}/settle", json={"sent": False}, headers=admin)
    assert again.status_code == 409 and again.json()["code"] == "invalid_transition"
    assert sent(oid) == []  # settling never sends


async def test_an_unknown_send_settled_as_not_sent_plans_the_contact_again_without_an_attempt(client, admin):
    cid, oid = await _unknown(client, admin)
    r = await client.post(f"/v1/outreaches/{oid}/settle", json={"sent": False}, headers=admin)
    assert r.status_code == 200 and r.json()["status"] == "failed", r.text
    enrollment = await enrollment_row((await outreach_row(oid)).enrollment_id)
    assert (enrollment.status, enrollment.substatus, enrollment.attempts) == ("waiting", None, 0)


async def test_the_scheduler_leaves_a_paused_campaigns_sends_alone_and_lets_the_guard_void_a_cancelled_ones(
        client, admin):
    from planner import scheduler
    from tests.conftest import drain_queue
    paused, named_p = await approved_and_queued(client, admin, 1)
    cancelled, named_c = await approved_and_queued(client, admin, 1)
    assert (await client.post(f"/v1/campaigns/{paused}/pause", headers=admin)).status_code == 200
    assert (await client.post(f"/v1/campaigns/{cancelled}/cancel", headers=admin)).status_code == 200
    assert await scheduler.dispatch_due() == 1
    await drain_queue()
    held, void = await outreach_row(named_p["Ann"]["id"]), await outreach_row(named_c["Ann"]["id"])
    assert held.status == "awaiting_execution" and sent(held.id) == []
    assert (void.status, void.error) == ("cancelled", "the campaign is cancelled") and sent(void.id) == []


async def test_a_batch_sends_each_one_once_and_the_guard_refuses_within_it(client, admin):
    cid, named = await approved_and_queued(client, admin, 4)
    ids = {name: item["id"] for name, item in named.items()}
    names = sorted(ids)
    left, suppressed, done = names[0], names[1], names[2]
    gone = await outreach_row(ids[left])
    await set_enrollments(Enrollment.id == gone.enrollment_id, status="replied")
    await _suppress(gone.workspace_id, channel="email", email=f"{suppressed.split()[0].lower()}@example.com")
    assert await execute(ids[done]) is Outcome.sent  # already out before the batch
    batch = [ids[n] for n in names] + [ids[done]]  # one listed twice, too
    outcomes = await execute_many(batch)
    assert outcomes[ids[left]] is Outcome.cancelled and outcomes[ids[suppressed]] is Outcome.cancelled
    assert outcomes[ids[done]] is Outcome.not_ready and outcomes[ids[names[3]]] is Outcome.sent
    assert [len(sent(ids[n])) for n in names] == [0, 0, 1, 1]
    assert (await execute_many(batch)) == dict.fromkeys(batch, Outcome.not_ready)  # handed over again: nothing
    last = await outreach_row(ids[names[3]])
    assert last.status == "sent" and last.provider_message_id
    enrollment = await enrollment_row(last.enrollment_id)
    assert (enrollment.status, enrollment.attempts) in {("waiting", 1), ("finished", 1)}
    kinds = [e.kind for e in await events(last.id)]
    assert kinds.count("outreach.executing") == 1 and kinds.count("outreach.sent") == 1
