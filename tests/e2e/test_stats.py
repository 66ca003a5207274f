"""Campaign stats against figures counted by hand on a seeded campaign, on both backends,
including a heatmap across New York's DST changes and in a +05:30 zone."""

from __future__ import annotations

import datetime as dt

from agent.db import session_scope
from agent.inbound.store import record_inbound
from agent.models import Enrollment
from agent.states import InboundKind, ReplyIntent, Role
from tests.builders import add_conversation, add_outreach, enrollments_of, make_key, set_enrollments
from tests.conftest import bearer
from tests.flows import assert_problem, live_campaign, people


def _at(*a) -> dt.datetime:
    return dt.datetime(*a, tzinfo=dt.UTC)


async def _seeded(client, admin) -> str:
    """Five contacts: A replied by email, B bounced, C opted out by sms, D only planned, E untouched."""
    cid = await live_campaign(client, admin, channels=("email", "sms"), contacts=people(5))
    a, b, c, d, e = await enrollments_of(cid)
    await add_outreach(cid, a.id, status="delivered", channel="email", step=1)
    await add_outreach(cid, a.id, status="sent", channel="email", step=2)
    await add_outreach(cid, b.id, status="sent", channel="email", step=1)
    await add_outreach(cid, c.id, status="delivered", channel="sms", step=1)
    await add_outreach(cid, c.id, status="failed", channel="sms", step=2)
    await add_outreach(cid, d.id, status="awaiting_approval", channel="email", step=1)
    await set_enrollments(Enrollment.id == a.id, status="replied", substatus=None)
    await set_enrollments(Enrollment.id == b.id, status="finished", substatus="bounced")
    await set_enrollments(Enrollment.id == c.id, status="finished", substatus="opted_out")
    await set_enrollments(Enrollment.id == d.id, status="awaiting_approval")
    # A's reply was read as interested (positive); C's sms reply before the STOP was not.
    for enrollment, channel, intent in ((a, "email", ReplyIntent.interested), (c, "sms", ReplyIntent.not_interested)):
        async with session_scope() as s:
            message, _ = await record_inbound(s, channel=channel, provider="test", external_id=f"r-{enrollment.id}",
                                              kind=InboundKind.reply, text="…")
            message.workspace_id, message.enrollment_id, message.intent = enrollment.workspace_id, enrollment.id, intent
    ae = {"id": e.id, "contact": {"id": e.contact_id}}
    # New York: EST until 8 March 2026, EDT until 1 November 2026.
    await add_conversation(cid, enrollment=ae, answer_status="human", started_at=_at(2026, 3, 6, 14, 0), duration_s=60.0)
    await add_conversation(cid, enrollment=ae, answer_status="machine", started_at=_at(2026, 3, 13, 14, 0))
    await add_conversation(cid, enrollment=ae, answer_status="human", started_at=_at(2026, 10, 30, 13, 45), duration_s=30.0)
    await add_conversation(cid, enrollment=ae, answer_status="no_answer", started_at=_at(2026, 11, 6, 13, 45))
    return cid


async def test_stats_match_the_figures_counted_by_hand(client, admin) -> None:
    cid = await _seeded(client, admin)
    r = await client.get(f"/v1/campaigns/{cid}/stats", headers=bearer(await make_key(Role.viewer)))
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["all"] == {"total_contacts": 5, "started": 4, "contacted": 4, "replied": 1, "positive": 1}
    assert s["email"] == {"sent": 3, "delivered": 1, "replied": 1, "positive": 1, "bounced": 1, "unsubscribed": 0}
    assert s["sms"] == {"sent": 1, "delivered": 1, "failed": 1, "replied": 0, "opted_out": 1}
    assert s["voice"] == {"calls": 4, "conversations": 2, "total_duration_s": 90.0, "avg_duration_s": 45.0,
                          "answer_status": {"human": 2, "machine": 1, "no_answer": 1, "rejected": 0}}
    assert s["tasks"] == {"pending": 0, "completed": 0}
    assert s["statuses"] == {"replied": 1, "finished": 2, "awaiting_approval": 1, "not_started": 1}
    assert s["flow"] == [{"step": 1, "channel": "email", "contacts": 2}, {"step": 1, "channel": "sms", "contacts": 1},
                         {"step": 2, "channel": "email", "contacts": 1}]
    # Fridays: 14:00 UTC is 09:00 EST and 10:00 EDT; 13:45 UTC is 09:45 EDT and 08:45 EST.
    assert s["heatmap"] == {"timezone": "America/New_York", "cells": [
        {"weekday": 4, "hour": 8, "calls": 1, "human": 0}, {"weekday": 4, "hour": 9, "calls": 2, "human": 2},
        {"weekday": 4, "hour": 10, "calls": 1, "human": 0}]}


async def test_the_heatmap_folds_quarter_hours_into_a_half_hour_zone(client, admin) -> None:
    cid = await live_campaign(client, admin, channels=("voice",), contacts=people(1), timezone="Asia/Kolkata")
    [e] = await enrollments_of(cid)
    ae = {"id": e.id, "contact": {"id": e.contact_id}}
    # Monday 2 March 2026: 18:20 UTC is 23:50 Monday in Kolkata, 18:30 and 18:40 are 00:00/00:10 Tuesday.
    for minute in (20, 30, 40):
        await add_conversation(cid, enrollment=ae, started_at=_at(2026, 3, 2, 18, minute))
    cells = (await client.get(f"/v1/campaigns/{cid}/stats", headers=admin)).json()["heatmap"]["cells"]
    assert cells == [{"weekday": 0, "hour": 23, "calls": 1, "human": 1}, {"weekday": 1, "hour": 0, "calls": 2, "human": 2}]


async def test_another_workspaces_campaign_is_not_found(client, admin) -> None:
    cid = await live_campaign(client, admin, contacts=people(1))
    other = bearer(await make_key(Role.admin, workspace="other"))
    assert_problem(await client.get(f"/v1/campaigns/{cid}/stats", headers=other), 404, "not_found")
