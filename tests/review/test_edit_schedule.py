"""A reviewer's new send time must be one the outreach can still go out at: not in the past
(beyond a minute's grace) and not after the campaign ends, besides inside the contact's hours."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from agent.db import session_scope
from agent.models import Outreach
from tests.builders import events, outreach_row
from tests.flows import people, queue_with_drafts, zone_at_noon


async def _draft(client, admin, **campaign) -> dict:
    # The contact's zone is at about noon now, and the campaign sets no business hours: every
    # time used below (now give or take whole days) is inside the contact's hours.
    _, [item] = await queue_with_drafts(client, admin, 1, contacts=people(1, timezone=zone_at_noon()), schedule=None,
                                        **campaign)
    return item


async def _refused(client, admin, item: dict, when: dt.datetime, code: str) -> None:
    before, edits = await outreach_row(item["id"]), len(await events(item["id"], "outreach.edited"))
    r = await client.patch(f"/v1/outreaches/{item['id']}", json={"scheduled_at": when.isoformat()},
                           headers=admin | {"If-Match": f'"{item["version"]}"'})
    assert r.status_code == 422, r.text
    assert r.json()["code"] == code
    assert [e["loc"] for e in r.json()["errors"]] == [["body", "scheduled_at"]]
    after = await outreach_row(item["id"])
    assert (after.version, after.scheduled_at, after.status) == (before.version, before.scheduled_at, before.status)
    assert len(await events(item["id"], "outreach.edited")) == edits


async def test_a_send_time_in_the_past_is_refused(client, admin):
    item = await _draft(client, admin)
    now = dt.datetime.now(dt.UTC)
    await _refused(client, admin, item, now - dt.timedelta(days=1), "scheduled_in_past")
    await _refused(client, admin, item, now - dt.timedelta(minutes=5), "scheduled_in_past")
    # "Now", give or take the moment it took to save, is fine.
    r = await client.patch(f"/v1/outreaches/{item['id']}",
                           json={"scheduled_at": (now - dt.timedelta(seconds=20)).isoformat()},
                           headers=admin | {"If-Match": f'"{item["version"]}"'})
    assert r.status_code == 200, r.text
    assert (await outreach_row(item["id"])).scheduled_at == (now - dt.timedelta(seconds=20))


async def test_an_unchanged_send_time_that_has_passed_is_not_an_edit_of_the_time(client, admin):
    item = await _draft(client, admin)
    # The draft waited for review past its planned time; a client echoes it back with a new body,
    # as is or as a form shows it (to the minute).
    passed = dt.datetime.now(dt.UTC).replace(second=42, microsecond=123456) - dt.timedelta(hours=1)
    async with session_scope() as s:
        await s.execute(update(Outreach).where(Outreach.id == item["id"]).values(scheduled_at=passed))
    version = item["version"]
    for echoed in (passed, passed.replace(second=0, microsecond=0)):
        body = f"Hi Ann, a seat is yours ({version})."
        r = await client.patch(f"/v1/outreaches/{item['id']}", json={"scheduled_at": echoed.isoformat(), "body": body},
                               headers=admin | {"If-Match": f'"{version}"'})
        assert r.status_code == 200, r.text
        row = await outreach_row(item["id"])
        assert (row.body, row.scheduled_at, row.version) == (body, echoed, version + 1)
        version = row.version
    # Minutes further back is a new time, and it is in the past.
    await _refused(client, admin, item | {"version": version}, passed - dt.timedelta(minutes=5),
                   "scheduled_in_past")


async def test_a_send_time_after_the_campaign_ends_is_refused(client, admin):
    end = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).replace(microsecond=0)
    item = await _draft(client, admin, end_at=end.isoformat())
    await _refused(client, admin, item, end + dt.timedelta(days=1), "after_campaign_end")
    await _refused(client, admin, item, end + dt.timedelta(minutes=1), "after_campaign_end")
    # A day before the end is still a time it can go out at.
    r = await client.patch(f"/v1/outreaches/{item['id']}",
                           json={"scheduled_at": (end - dt.timedelta(days=1)).isoformat()},
                           headers=admin | {"If-Match": f'"{item["version"]}"'})
    assert r.status_code == 200, r.text
    assert (await outreach_row(item["id"])).scheduled_at == end - dt.timedelta(days=1)


async def test_a_campaign_without_an_end_takes_any_future_time(client, admin):
    item = await _draft(client, admin)
    later = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=400)
    r = await client.patch(f"/v1/outreaches/{item['id']}", json={"scheduled_at": later.isoformat()},
                           headers=admin | {"If-Match": f'"{item["version"]}"'})
    assert r.status_code == 200, r.text
    assert (await outreach_row(item["id"])).scheduled_at == later
