"""The states' stricter rules at the moment of sending: Florida's 20:00 end and its three calls
or texts per 24 hours. Each test would send if the rule were missing."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from agent.channels.sandbox import SANDBOX
from agent.db import session_scope
from agent.executor import Outcome, execute
from agent.lifecycle.outreaches import move_outreaches
from agent.models import Enrollment, Outreach
from agent.states import OutreachAction
from tests.builders import add_outreach, events, outreach_row
from tests.flows import by_name, queue_with_drafts

NY = ZoneInfo("America/New_York")
FLORIDA = {"name": "Ann Lee", "phone": "+13055550100", "timezone": "America/New_York"}
NEW_YORK = {"name": "Bo Chen", "phone": "+12125550100", "timezone": "America/New_York"}


def sent(outreach_id: str) -> int:
    return sum(m.outreach_id == outreach_id for m in SANDBOX.outbox)


async def queued_texts(client, admin) -> dict[str, dict]:
    cid, items = await queue_with_drafts(client, admin, 2, channels=("sms",), contacts=[FLORIDA, NEW_YORK])
    for item in items:
        assert (await client.post(f"/v1/outreaches/{item['id']}/approve", headers=admin)).status_code == 200
    async with session_scope() as s:
        moved = await move_outreaches(s, OutreachAction.queue, Outreach.campaign_id == cid)
        await s.execute(Enrollment.__table__.update().where(Enrollment.id.in_([r.enrollment_id for r in moved]))
                        .values(status="awaiting_execution"))
    return by_name(items)


def evening(days: int = 1, hour: int = 20, minute: int = 30) -> dt.datetime:
    return dt.datetime.combine(dt.datetime.now(NY).date() + dt.timedelta(days=days), dt.time(hour, minute), NY)


async def test_florida_texts_stop_at_eight_while_new_york_runs_to_nine(client, admin):
    named = await queued_texts(client, admin)
    ann, bo = named["Ann"]["id"], named["Bo"]["id"]
    assert await execute(ann, now=evening()) is Outcome.outside_hours and sent(ann) == 0
    assert (await outreach_row(ann)).scheduled_at == evening(days=2, hour=8, minute=0)
    assert await execute(bo, now=evening()) is Outcome.sent and sent(bo) == 1
    assert await execute(ann, now=evening(days=2, hour=8, minute=0)) is Outcome.sent and sent(ann) == 1


async def test_a_fourth_text_in_24_hours_to_a_florida_contact_waits_for_room(client, admin):
    named = await queued_texts(client, admin)
    ann = await outreach_row(named["Ann"]["id"])
    bo = await outreach_row(named["Bo"]["id"])
    now = evening(hour=12, minute=0)
    for hours_ago in (23, 10, 2):  # three texts already went to each of them today
        for row in (ann, bo):
            await add_outreach(row.campaign_id, row.enrollment_id, status="sent", channel="sms",
                               sent_at=now - dt.timedelta(hours=hours_ago))
    assert await execute(ann.id, now=now) is Outcome.capped and sent(ann.id) == 0
    # Room again once the oldest of the three is 24 hours old (inside Ann's hours: 13:00).
    assert (await outreach_row(ann.id)).scheduled_at == now + dt.timedelta(hours=1)
    [deferred] = await events(ann.id, "outreach.deferred")
    assert "Florida" in deferred.payload["reason"]
    assert await execute(bo.id, now=now) is Outcome.sent  # New York has no such cap
    assert await execute(ann.id, now=now + dt.timedelta(hours=1)) is Outcome.sent and sent(ann.id) == 1
