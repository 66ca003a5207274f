"""Review queue tests. Helpers: a live campaign with drafts in the queue, in one call."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from agent.db import session_scope
from agent.models import ActivityEvent, Enrollment, Outreach
from tests.planner.test_planning_runs import live_campaign, run_plan

NAMES = ["Ann Lee", "Bo Chen", "Cy Diaz", "Di Eng", "Ed Fox", "Flo Gray"]


def zone_at_noon(now: dt.datetime | None = None) -> str:
    """A fixed-offset IANA zone where it is about noon now, so the contact's hours are open."""
    now = now or dt.datetime.now(dt.UTC)
    offset = 12 - now.hour  # -11..12, all of which exist as Etc/GMT zones (their sign is inverted)
    return f"Etc/GMT{-offset:+d}"


def people(n: int, *, timezone: str = "", domain: str = "example.com") -> list[dict]:
    return [{"name": name, "email": f"{name.split()[0].lower()}@{domain}", "timezone": timezone}
            for name in NAMES[:n]]


async def queue_with_drafts(client, headers, n: int = 3, **campaign) -> tuple[str, list[dict]]:
    """A live campaign whose ``n`` contacts each have a draft awaiting approval (oldest first)."""
    contacts = campaign.pop("contacts", None) or people(n)
    cid = await live_campaign(client, headers, contacts=contacts, **campaign)
    run = await run_plan(client, headers, cid)
    assert run["planned"] == len(contacts), run
    r = await client.get("/v1/outreaches", params={"campaign_id": cid, "status": "awaiting_approval,awaiting_execution"},
                         headers=headers)
    assert r.status_code == 200, r.text
    return cid, r.json()["items"]


def by_name(items: list[dict]) -> dict[str, dict]:
    """Inbox items by contact first name (drafts are planned concurrently, in no fixed order)."""
    return {i["contact"]["name"].split()[0]: i for i in items}


async def outreach_row(outreach_id: str) -> Outreach:
    async with session_scope() as s:
        return (await s.execute(select(Outreach).where(Outreach.id == outreach_id))).scalar_one()


async def enrollment_row(enrollment_id: str) -> Enrollment:
    async with session_scope() as s:
        return (await s.execute(select(Enrollment).where(Enrollment.id == enrollment_id))).scalar_one()


async def events(outreach_id: str, kind: str | None = None) -> list[ActivityEvent]:
    async with session_scope() as s:
        q = select(ActivityEvent).where(ActivityEvent.outreach_id == outreach_id)
        if kind:
            q = q.where(ActivityEvent.kind == kind)
        return list((await s.execute(q.order_by(ActivityEvent.id))).scalars())
