"""Caller numbers at send time: the four rotation strategies, the automatic spam exclusion, the
sticky number, and the daily cap and call interval held by the database across two worker
processes; a call with no number free waits as ``waiting/identity_limits`` (seen over HTTP)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
import uuid
from collections import Counter
from itertools import pairwise
from zoneinfo import ZoneInfo

from sqlalchemy import select

from agent.channels import OutboundMessage, SendResult
from agent.db import session_scope
from agent.executor import Outcome, execute
from agent.ids import new_id
from agent.models import ActivityEvent, CallerNumber, Channel, Enrollment, Outreach
from agent.numbers.rotation import order
from tests.builders import add_outreach, outreach_row, set_enrollments
from tests.flows import enrollments, live_campaign

NY = ZoneInfo("America/New_York")
T0 = dt.datetime(2026, 12, 9, 12, 0, tzinfo=NY)  # a Wednesday noon in New York
NUMBERS = ("+12125550181", "+12125550182", "+12125550183")
BODY = "Hello, this is the clinic calling about your check-up."


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []

    async def send(self, message: OutboundMessage) -> SendResult:
        self.calls.append((message.outreach_id, message.config.get("from_number")))
        return SendResult(provider="recorder", provider_message_id=str(uuid.uuid4()))


async def voice_calls(client, admin, n: int, numbers=NUMBERS, *, spam=(), weights=(), **call_settings):
    """A live voice campaign of ``n`` New York contacts, each with an outreach awaiting execution
    at T0, and the campaign's caller numbers; (campaign id, outreach ids, number id by number)."""
    people = [{"name": f"P{i} Test", "phone": f"+1 212 555 01{i:02d}", "timezone": "America/New_York"}
              for i in range(n)]
    cid = await live_campaign(client, admin, channels=("voice",), manual_review=False, contacts=people,
                              settings={"call_interval": "5s", **call_settings})
    ids = {}
    async with session_scope() as s:
        for i, number in enumerate(numbers):
            ids[number] = new_id("num")
            s.add(CallerNumber(id=ids[number], campaign_id=cid, number=number,
                               spam_score=spam[i] if i < len(spam) else 0,
                               weight=weights[i] if i < len(weights) else 1))
        channel_id = (await s.execute(select(Channel.id).where(Channel.campaign_id == cid))).scalar_one()
    found = await enrollments(client, admin, cid)
    oids = [await add_outreach(cid, e["id"], status="awaiting_execution", body=BODY, scheduled_at=T0,
                               channel_id=channel_id)
            for e in sorted(found.values(), key=lambda e: e["contact"]["phone"])]
    await set_enrollments(Enrollment.campaign_id == cid, status="awaiting_execution")
    return cid, oids, ids


async def run(oids: list[str], *, step: dt.timedelta = dt.timedelta(seconds=10)) -> Recorder:
    rec = Recorder()
    for i, oid in enumerate(oids):
        outcome = await execute(oid, now=T0 + i * step, channel=rec)
        assert outcome == Outcome.sent, (outcome, (await outreach_row(oid)).error)
    return rec


def test_each_strategy_orders_the_candidates_its_way():
    today = T0.date()
    old, new = dt.datetime(2026, 12, 9, 9, tzinfo=dt.UTC), dt.datetime(2026, 12, 9, 10, tzinfo=dt.UTC)
    a = CallerNumber(id="num_a", number="+1", spam_score=3, weight=1, calls_today=5, calls_total=5,
                     calls_day=today, last_called_at=new)
    b = CallerNumber(id="num_b", number="+2", spam_score=1, weight=3, calls_today=9, calls_total=9,
                     calls_day=today - dt.timedelta(days=1), last_called_at=old)  # yesterday's 9 count 0
    c = CallerNumber(id="num_c", number="+3", spam_score=2, weight=0, calls_today=1, calls_total=1,
                     calls_day=today, last_called_at=None)
    ids = lambda strategy: [n.id for n in order([a, b, c], strategy, today)]
    assert ids("round_robin") == ["num_c", "num_b", "num_a"]  # idle longest first
    assert ids("lowest_spam") == ["num_b", "num_c", "num_a"]
    assert ids("least_used_today") == ["num_b", "num_c", "num_a"]
    assert ids("weighted") == ["num_b", "num_a"]  # 9/3 < 5/1; weight 0 takes no calls


async def test_round_robin_takes_turns_and_counts_the_calls(client, admin):
    _, oids, ids = await voice_calls(client, admin, 6)
    rec = await run(oids)
    assert [frm for _, frm in rec.calls] == list(NUMBERS) * 2
    async with session_scope() as s:
        rows = (await s.execute(select(CallerNumber).order_by(CallerNumber.number))).scalars().all()
        assert [(r.calls_today, r.calls_total, r.calls_day) for r in rows] == [(2, 2, T0.date())] * 3
        assert {o.caller_number_id for o in (await s.execute(select(Outreach))).scalars()} == set(ids.values())


async def test_lowest_spam_and_least_used_today_and_weighted(client, admin):
    _, oids, _ = await voice_calls(client, admin, 3, spam=(5, 2, 4), rotation_strategy="lowest_spam")
    assert [f for _, f in (await run(oids)).calls] == [NUMBERS[1]] * 3

    _, oids, ids = await voice_calls(client, admin, 3, rotation_strategy="least_used_today")
    async with session_scope() as s:  # the first has 4 today, the second 4 from yesterday (none today)
        n0, n1, n2 = [await s.get(CallerNumber, ids[x]) for x in NUMBERS]
        n0.calls_today, n0.calls_day = 4, T0.date()
        n1.calls_today, n1.calls_day = 4, T0.date() - dt.timedelta(days=1)
        n2.calls_today, n2.calls_day = 1, T0.date()
    # 0 today, then a tie at 1 (the one idle longest), then the fewest again
    assert [f for _, f in (await run(oids)).calls] == [NUMBERS[1], NUMBERS[2], NUMBERS[1]]

    _, oids, _ = await voice_calls(client, admin, 8, NUMBERS[:2], weights=(3, 1), rotation_strategy="weighted")
    assert Counter(f for _, f in (await run(oids)).calls) == {NUMBERS[0]: 6, NUMBERS[1]: 2}


async def test_a_number_at_the_spam_threshold_is_excluded_with_an_event(client, admin):
    cid, oids, ids = await voice_calls(client, admin, 2, NUMBERS[:2], spam=(7, 6.9), spam_threshold=7)
    assert [f for _, f in (await run(oids)).calls] == [NUMBERS[1]] * 2
    async with session_scope() as s:
        assert (await s.get(CallerNumber, ids[NUMBERS[0]])).status == "excluded"
        assert (await s.get(CallerNumber, ids[NUMBERS[1]])).status == "active"
        [event] = (await s.execute(select(ActivityEvent).where(ActivityEvent.kind == "phone_number.excluded")))\
            .scalars().all()
    assert event.campaign_id == cid and event.payload["number_id"] == ids[NUMBERS[0]]
    assert event.payload["spam_threshold"] == 7
    r = await client.get(f"/v1/campaigns/{cid}/phone-numbers", headers=admin)
    assert {n["number"]: n["status"] for n in r.json()["items"]} == {NUMBERS[0]: "excluded", NUMBERS[1]: "active"}


async def test_a_contact_keeps_its_number_across_attempts(client, admin):
    cid, [first, second], ids = await voice_calls(client, admin, 2)
    rec = await run([first, second])
    assert [f for _, f in rec.calls] == [NUMBERS[0], NUMBERS[1]]
    # The first contact's next attempt: round robin would pick the third number; it keeps its own.
    enrollment_id = (await outreach_row(first)).enrollment_id
    channel_id = (await outreach_row(first)).channel_id
    retry = await add_outreach(cid, enrollment_id, status="awaiting_execution", body=BODY, scheduled_at=T0,
                               channel_id=channel_id)
    await set_enrollments(Enrollment.id == enrollment_id, status="awaiting_execution")
    assert await execute(retry, now=T0 + dt.timedelta(minutes=5), channel=rec) == Outcome.sent
    assert rec.calls[-1] == (retry, NUMBERS[0])
    # Its number disabled meanwhile: the next one follows the strategy instead.
    async with session_scope() as s:
        (await s.get(CallerNumber, ids[NUMBERS[0]])).status = "disabled"
    again = await add_outreach(cid, enrollment_id, status="awaiting_execution", body=BODY, scheduled_at=T0,
                               channel_id=channel_id)
    await set_enrollments(Enrollment.id == enrollment_id, status="awaiting_execution")
    assert await execute(again, now=T0 + dt.timedelta(minutes=10), channel=rec) == Outcome.sent
    assert rec.calls[-1] == (again, NUMBERS[2])


async def test_no_number_free_defers_the_call_and_shows_waiting_identity_limits(client, admin):
    cid, [a, b, c], _ = await voice_calls(client, admin, 3, NUMBERS[:1], max_calls_per_number_per_day=1)
    rec = Recorder()
    assert await execute(a, now=T0, channel=rec) == Outcome.sent
    # Two seconds later: the 5 s interval has not passed; the call waits for the next slot.
    assert await execute(b, now=T0 + dt.timedelta(seconds=2), channel=rec) == Outcome.capped
    row = await outreach_row(b)
    assert row.status == "awaiting_execution" and row.scheduled_at == T0 + dt.timedelta(seconds=5)
    # At the slot: the only number made its one call today; it waits for the campaign's next day.
    assert await execute(b, now=row.scheduled_at, channel=rec) == Outcome.capped
    tomorrow = dt.datetime(2026, 12, 10, 0, 0, tzinfo=NY)
    row = await outreach_row(b)
    assert row.status == "awaiting_execution" and row.scheduled_at >= tomorrow and len(rec.calls) == 1
    listed = {e["id"]: e for e in (await client.get(f"/v1/campaigns/{cid}/contacts", headers=admin)).json()["items"]}
    assert (listed[row.enrollment_id]["status"], listed[row.enrollment_id]["substatus"]) == \
        ("waiting", "identity_limits")
    # The new day: the count restarts and the waiting call goes out.
    assert await execute(b, now=row.scheduled_at, channel=rec) == Outcome.sent
    assert (await outreach_row(b)).status == "sent" and len(rec.calls) == 2
    assert await execute(c, now=row.scheduled_at + dt.timedelta(seconds=1), channel=rec) == Outcome.capped


async def test_cap_and_interval_hold_across_two_worker_processes(client, admin, settings, tmp_path):
    """Two `python` processes step the same clock over 60 s, each sending every due outreach;
    2 numbers with a cap of 3 and a 5 s interval allow 6 calls at least 5 s apart, no more."""
    _, _, ids = await voice_calls(client, admin, 10, NUMBERS[:2], max_calls_per_number_per_day=3)
    deliveries = tmp_path / "deliveries.jsonl"
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    workers = [await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.agent.number_worker", settings.db_url, str(deliveries),
        T0.astimezone(dt.UTC).isoformat(), "60", env=env, cwd=os.getcwd()) for _ in range(2)]
    assert [await w.wait() for w in workers] == [0, 0]
    lines = [json.loads(x) for x in deliveries.read_text().splitlines()]
    assert len(lines) == 6 and len({x["outreach"] for x in lines}) == 6  # none sent twice
    assert Counter(x["from"] for x in lines) == {NUMBERS[0]: 3, NUMBERS[1]: 3}
    async with session_scope() as s:
        sent = (await s.execute(select(Outreach).where(Outreach.status == "sent")
                                .order_by(Outreach.sent_at))).scalars().all()
        waiting = (await s.execute(select(Outreach).where(Outreach.status == "awaiting_execution"))).scalars().all()
        numbers = (await s.execute(select(CallerNumber))).scalars().all()
    starts = [o.sent_at for o in sent]
    assert len(starts) == 6 and all(b - a >= dt.timedelta(seconds=5) for a, b in pairwise(starts))
    assert {n.calls_today for n in numbers} == {3}
    assert len(waiting) == 4 and all(o.scheduled_at >= dt.datetime(2026, 12, 10, tzinfo=NY) for o in waiting)
    assert set(ids.values()) == {o.caller_number_id for o in sent}
