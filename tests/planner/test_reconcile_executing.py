"""A send whose worker died between the claim and the result: the reconciler hands it to a person
as ``unknown`` once the executing lease is over, and never sends it again (the provider may
already have it)."""

from __future__ import annotations

import asyncio
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from agent import executor
from agent.channels import OutboundMessage, SendResult
from agent.channels.sandbox import SANDBOX
from agent.db import session_scope, utcnow
from agent.executor import Outcome, execute
from agent.models import Outreach
from planner import scheduler
from tests.builders import enrollment_row, events, outreach_row
from tests.conftest import drain_queue
from tests.flows import queue_with_drafts

NY = ZoneInfo("America/New_York")
ANN = {"name": "Ann Lee", "email": "ann@example.com", "timezone": "America/New_York"}


class WorkerDied(BaseException):
    """What a killed process looks like from inside: not an error the executor catches."""


class Dies:
    name = "dies"

    async def send(self, message: OutboundMessage) -> SendResult:
        raise WorkerDied


def ny_noon_tomorrow() -> dt.datetime:
    return dt.datetime.combine(dt.datetime.now(NY).date() + dt.timedelta(days=1), dt.time(12), NY)


async def crashed_mid_send(client, admin) -> dict:
    """An outreach claimed by a worker that died before recording what the provider said."""
    _, [item] = await queue_with_drafts(client, admin, 1, manual_review=False, contacts=[ANN])
    assert item["status"] == "awaiting_execution"
    with pytest.raises(WorkerDied):
        await execute(item["id"], now=ny_noon_tomorrow(), channel=Dies())
    assert (await outreach_row(item["id"])).status == "executing"
    assert (await enrollment_row(item["enrollment_id"])).status == "executing"
    return item


async def claimed_ago(outreach_id: str, age: dt.timedelta) -> None:
    async with session_scope() as s:
        await s.execute(update(Outreach).where(Outreach.id == outreach_id).values(updated_at=utcnow() - age))


@pytest.fixture
def sends(monkeypatch) -> list[tuple[str, dict]]:
    """Every message the scheduler asks the queue for (still sent on)."""
    seen: list[tuple[str, dict]] = []
    real = scheduler.send

    def record(name: str, **kwargs) -> None:
        seen.append((name, kwargs))
        real(name, **kwargs)

    monkeypatch.setattr(scheduler, "send", record)
    return seen


def sandboxed(outreach_id: str) -> list[OutboundMessage]:
    return [m for m in SANDBOX.outbox if m.outreach_id == outreach_id]


async def test_a_send_stuck_past_its_lease_becomes_unknown_and_is_never_resent(client, admin, sends):
    item = await crashed_mid_send(client, admin)
    oid = item["id"]
    claimed = await outreach_row(oid)
    await claimed_ago(oid, executor.EXECUTING_LEASE + dt.timedelta(minutes=1))
    await scheduler.tick()
    await drain_queue()
    row = await outreach_row(oid)
    assert row.status == "unknown" and row.version == claimed.version + 1
    assert row.error == "the worker stopped while sending; check the provider before resending"
    assert row.provider_message_id is None and row.sent_at is None
    [event] = await events(oid, "outreach.unknown")
    assert event.actor == "system" and event.payload["reason"] == row.error
    assert event.enrollment_id == item["enrollment_id"] and event.contact_id is not None
    # The contact waits for a person, and the planner does not pick it up meanwhile.
    enrollment = await enrollment_row(item["enrollment_id"])
    assert (enrollment.status, enrollment.substatus, enrollment.attempts) == ("error", "system_error", 0)
    # Nothing was handed to the executor or the planner, and nothing reached the channel.
    assert sends == [] and sandboxed(oid) == []
    assert await events(oid, "outreach.sent") == [] and len(await events(oid, "outreach.executing")) == 1
    # Later ticks leave it alone; a redelivered executor message for it sends nothing.
    await scheduler.tick(utcnow() + dt.timedelta(days=2))
    await drain_queue()
    assert await execute(oid, now=ny_noon_tomorrow()) is Outcome.not_ready
    assert (await outreach_row(oid)).version == row.version and len(await events(oid, "outreach.unknown")) == 1
    assert sends == [] and sandboxed(oid) == []


async def test_a_send_inside_its_lease_is_left_to_its_worker(client, admin, sends):
    item = await crashed_mid_send(client, admin)
    oid = item["id"]
    claimed = await outreach_row(oid)
    await claimed_ago(oid, executor.EXECUTING_LEASE - dt.timedelta(minutes=1))
    await scheduler.tick()
    await drain_queue()
    row = await outreach_row(oid)
    assert (row.status, row.version, row.error) == ("executing", claimed.version, None)
    assert await events(oid, "outreach.unknown") == []
    assert (await enrollment_row(item["enrollment_id"])).status == "executing"
    assert sends == [] and sandboxed(oid) == []
    # The lease is measured from the claim: the same row is settled once it has run out.
    assert await scheduler.settle_lost_sends(utcnow() + dt.timedelta(minutes=2)) == 1
    assert (await outreach_row(oid)).status == "unknown"


async def test_a_result_that_arrives_after_the_lease_is_kept_for_the_person_settling_it(client, admin):
    _, [item] = await queue_with_drafts(client, admin, 1, manual_review=False, contacts=[ANN])
    oid = item["id"]

    class Slow:
        """The provider takes the message, but only after the reconciler gave up on the worker."""
        name = "slow"

        async def send(self, message: OutboundMessage) -> SendResult:
            assert await scheduler.settle_lost_sends(utcnow() + executor.EXECUTING_LEASE * 2) == 1
            return SendResult(provider="slow", provider_message_id="prov-123")

    assert await execute(oid, now=ny_noon_tomorrow(), channel=Slow()) is Outcome.not_ready
    row = await outreach_row(oid)
    # Still unknown (a person settles it), but the provider's answer is on the row and in the history.
    assert (row.status, row.provider_message_id) == ("unknown", "prov-123")
    [late] = await events(oid, "outreach.late_result")
    assert late.payload == {"result": "sent", "provider": "slow", "provider_message_id": "prov-123"}
    assert await events(oid, "outreach.sent") == []


class DeliversThenDies:
    """The first ``delivered`` sends go out; the others wait until those are recorded as sent,
    then the worker dies (a kill mid-batch, after part of it was handed over)."""

    name = "half"

    def __init__(self, delivered: int, ids: list[str]) -> None:
        self.delivered, self.ids, self.calls = delivered, ids, 0

    async def send(self, message: OutboundMessage) -> SendResult:
        self.calls += 1
        if self.calls <= self.delivered:
            return SendResult(provider="half", provider_message_id=f"prov-{message.outreach_id}")
        deadline = utcnow() + dt.timedelta(seconds=20)
        while sum([(await outreach_row(i)).status == "sent" for i in self.ids]) < self.delivered:
            assert utcnow() < deadline, "the delivered sends were never recorded"
            await asyncio.sleep(0.01)
        raise WorkerDied


async def test_results_are_recorded_as_they_land_so_a_kill_mid_batch_loses_only_the_rest(client, admin):
    _, items = await queue_with_drafts(client, admin, 4, manual_review=False)
    ids = [i["id"] for i in items]
    with pytest.raises(WorkerDied):
        await executor.execute_many(ids, now=ny_noon_tomorrow(), channel=DeliversThenDies(2, ids), result_group=2)
    statuses = sorted([(await outreach_row(i)).status for i in ids])
    # The two handed over before the kill are on record; only the two unfinished ones await a person.
    assert statuses == ["executing", "executing", "sent", "sent"]
    for i in ids:
        row = await outreach_row(i)
        if row.status == "sent":
            assert row.provider_message_id == f"prov-{i}"
            assert (await enrollment_row(row.enrollment_id)).attempts == 1
            assert len(await events(i, "outreach.sent")) == 1
