"""The append-only activity log: every transition and human action becomes one event."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.bulk import insert_rows
from agent.db import utcnow
from agent.ids import new_id, new_ids
from agent.models import ActivityEvent, Outreach
from agent.sqlite_trips import DEFER

SYSTEM = "system"


def record(session: AsyncSession, *, workspace_id: str, actor: str, kind: str, campaign_id: str | None = None,
           contact_id: str | None = None, enrollment_id: str | None = None, outreach_id: str | None = None,
           payload: dict[str, Any] | None = None) -> ActivityEvent:
    """Add an event to the session's transaction (it lands or rolls back with the change it records)."""
    event = ActivityEvent(id=new_id("evt"), workspace_id=workspace_id, actor=actor, kind=kind,
                          campaign_id=campaign_id, contact_id=contact_id, enrollment_id=enrollment_id,
                          outreach_id=outreach_id, payload=payload or {})
    session.add(event)
    return event


async def write(session: AsyncSession, *, workspace_id: str, actor: str, kind: str, campaign_id: str | None = None,
                contact_id: str | None = None, enrollment_id: str | None = None, outreach_id: str | None = None,
                payload: dict[str, Any] | None = None) -> str:
    """:func:`record`, written now with one INSERT (no unit of work to flush later); the event's id."""
    event_id = new_id("evt")
    await session.execute(insert(ActivityEvent.__table__).values(
        id=event_id, workspace_id=workspace_id, actor=actor, kind=kind, campaign_id=campaign_id,
        contact_id=contact_id, enrollment_id=enrollment_id, outreach_id=outreach_id, payload=payload or {},
        created_at=utcnow()))
    return event_id


# Built once: its compiled form is cached by the keys given. On SQLite it rides with the
# transaction's next call, the commit as a rule (agent.sqlite_trips.DEFER): one hand-off fewer.
_INSERT_ONE = insert(ActivityEvent.__table__).execution_options(**{DEFER: True})


async def write_now(session: AsyncSession, *, workspace_id: str, actor: str, kind: str, campaign_id: str | None = None,
                    contact_id: str | None = None, enrollment_id: str | None = None, outreach_id: str | None = None,
                    payload: dict[str, Any] | None = None, now: dt.datetime | None = None) -> str:
    """:func:`write` by a statement built once, the values passed as parameters (a request that
    writes one event, an approve, need not build and cache-key an INSERT each time); the
    event's id. ``now``: the change's own time, so the event and the row it records agree.

    On SQLite, inside a transaction already open, the INSERT waits for the transaction's next
    statement or its commit and runs with it in one hand-off: an error of its own (there is
    none to expect of a fresh event id) is raised by that call instead, and nothing commits."""
    event_id = new_id("evt")
    await session.execute(_INSERT_ONE, {
        "id": event_id, "workspace_id": workspace_id, "actor": actor, "kind": kind, "campaign_id": campaign_id,
        "contact_id": contact_id, "enrollment_id": enrollment_id, "outreach_id": outreach_id,
        "payload": payload or {}, "created_at": now or utcnow()})
    return event_id


async def record_all(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    """:func:`record` for many events at once (the executor's batches): each a dict of
    :func:`record`'s keywords, written through the driver's bulk path in the caller's transaction."""
    if not events:
        return
    now = utcnow()
    keys = ("campaign_id", "contact_id", "enrollment_id", "outreach_id")
    await insert_rows(session, ActivityEvent.__table__, [
        {"id": eid, "workspace_id": e["workspace_id"], "actor": e["actor"], "kind": e["kind"],
         **{k: e.get(k) for k in keys}, "payload": e.get("payload") or {}, "created_at": now}
        for e, eid in zip(events, new_ids("evt", len(events)), strict=True)])


async def list_events(session: AsyncSession, *, workspace_id: str, campaign_id: str, kinds: list[str] | None = None,
                      contact_id: str | None = None, since: dt.datetime | None = None,
                      until: dt.datetime | None = None, cursor: str | None = None,
                      limit: int = 50, channel: str | None = None,
                      step: int | None = None) -> tuple[list[ActivityEvent], str | None]:
    """Newest first, keyset-paginated on the (time-ordered) id. ``channel`` and ``step`` keep the
    events of outreaches on that channel or flow step (events without an outreach drop out)."""
    q = select(ActivityEvent).where(ActivityEvent.workspace_id == workspace_id,
                                    ActivityEvent.campaign_id == campaign_id)
    if channel or step is not None:
        q = q.join(Outreach, Outreach.id == ActivityEvent.outreach_id)
        if channel:
            q = q.where(Outreach.channel == channel)
        if step is not None:
            q = q.where(Outreach.step == step)
    if kinds:
        q = q.where(ActivityEvent.kind.in_(kinds))
    if contact_id:
        q = q.where(ActivityEvent.contact_id == contact_id)
    if since:
        q = q.where(ActivityEvent.created_at >= since)
    if until:
        q = q.where(ActivityEvent.created_at < until)
    if cursor:
        q = q.where(ActivityEvent.id < cursor)
    rows = list((await session.execute(q.order_by(ActivityEvent.id.desc()).limit(limit + 1))).scalars())
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_cursor


async def kinds_of(session: AsyncSession, campaign_id: str) -> list[str]:
    """The event kinds a campaign's log holds, for a filter's choices."""
    rows = await session.execute(select(ActivityEvent.kind).where(ActivityEvent.campaign_id == campaign_id)
                                 .distinct().order_by(ActivityEvent.kind))
    return list(rows.scalars())
