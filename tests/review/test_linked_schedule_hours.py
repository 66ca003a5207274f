"""A campaign linked to a reusable schedule: the planner times drafts inside it, the Queued tab
explains waits by it (holidays included), and the executor defers a send to its next opening and
sends there; edits to the schedule reach the campaign without touching it."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from agent.db import session_scope
from agent.executor import Outcome, execute
from agent.lifecycle.outreaches import move_outreaches
from agent.models import Enrollment, Outreach
from agent.states import OutreachAction
from tests.builders import events, outreach_row
from tests.flows import queue_with_drafts

NY = ZoneInfo("America/New_York")
LATE_MORNING = {d: [{"start": "10:00", "end": "11:00"}] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


async def _queue(cid: str) -> None:
    async with session_scope() as s:
        moved = await move_outreaches(s, OutreachAction.queue, Outreach.campaign_id == cid)
        await s.execute(Enrollment.__table__.update().where(Enrollment.id.in_([r.enrollment_id for r in moved]))
                        .values(status="awaiting_execution"))


async def test_a_linked_schedule_times_the_plan_defers_the_send_past_a_holiday_and_sends_at_the_opening(client, admin):
    r = await client.post("/v1/schedules", headers=admin, json={
        "name": "Late morning", "timezone": "America/New_York", "business_hours": LATE_MORNING})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    cid, [item] = await queue_with_drafts(client, admin, 1, schedule_id=sid, contacts=[
        {"name": "Ann Lee", "email": "ann@example.com", "timezone": "America/New_York"}])
    # The planner chose a time inside the linked schedule (its only hour of the day).
    planned = dt.datetime.fromisoformat(item["scheduled_at"]).astimezone(NY)
    assert dt.time(10) <= planned.time() < dt.time(11), planned
    assert (await client.post(f"/v1/outreaches/{item['id']}/approve", headers=admin)).status_code == 200
    await _queue(cid)
    # The day it was planned for becomes a holiday: an edit of the schedule, not of the campaign.
    day = planned.date()
    r = await client.patch(f"/v1/schedules/{sid}", json={"holidays": [{"date": day.isoformat(), "name": "Founders"}]},
                           headers=admin)
    assert r.status_code == 200, r.text
    queued = (await client.get("/v1/outreaches", params={"campaign_id": cid, "status": "awaiting_execution"},
                               headers=admin)).json()["items"]
    next_day = day + dt.timedelta(days=1)
    assert queued[0]["waiting"].startswith(f"until 10:00 {next_day:%a %d %b}"), queued[0]["waiting"]
    # The send guard at 10:30 on the holiday: not sent, rescheduled to the next opening.
    on_holiday = dt.datetime.combine(day, dt.time(10, 30), NY)
    assert await execute(item["id"], now=on_holiday) is Outcome.outside_hours
    opens = dt.datetime.combine(next_day, dt.time(10), NY)
    row = await outreach_row(item["id"])
    assert (row.status, row.scheduled_at) == ("awaiting_execution", opens)
    assert len(await events(item["id"], "outreach.deferred")) == 1
    assert await execute(item["id"], now=opens - dt.timedelta(minutes=1)) is Outcome.outside_hours
    assert await execute(item["id"], now=opens) is Outcome.sent
    assert (await outreach_row(item["id"])).sent_at == opens
