"""Due work, found by looking at rows: the database is the truth, the queue only says "now".

``tick`` (every few seconds inside ``overture serve`` on the embedded defaults, or in
``overture scheduler``) re-enqueues plans whose worker died (expired lease) and queued run items
whose message may be lost, moves sends whose worker died (``executing`` past its lease) to
``unknown`` for a person (never resending them), and starts planning runs for campaigns that
plan by themselves: scheduled ones once their start time has come, "on contact added" ones as
contacts arrive, and follow-ups whose next attempt is due; and it hands outreaches awaiting
execution to the executor once their scheduled time has come. Re-enqueueing is always safe: the planner's claim lets
exactly one message per enrollment draft.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import and_, func, or_, select, update

from agent import executor, recovery
from agent.contacts.repository import enrollment_priority_rank
from agent.reports import exports, rollups
from agent.db import session_scope, utcnow
from agent.lifecycle import campaigns as lifecycle_campaigns
from agent.models import Campaign, Channel, Enrollment, Outreach, PlanningRun, PlanningRunItem
from agent.queue import send
from agent.settings import get_settings
from agent.states import (
    ENROLLMENT_PLANNABLE,
    JOB_LIVE,
    CampaignStatus,
    ChannelStatus,
    EnrollmentStatus,
    ExecutionMode,
    OutreachStatus,
    PlanningItemStatus,
    Substatus,
)
from planner import runs

log = logging.getLogger(__name__)

INTERVAL = 5.0
# A run whose items have not moved for this long (and that no worker is planning) has lost messages.
STALL = dt.timedelta(seconds=10)
_SELF_PLANNING = (ExecutionMode.scheduled, ExecutionMode.on_contact_added)


async def settle_lost_sends(now: dt.datetime | None = None, *, lease: dt.timedelta = executor.EXECUTING_LEASE,
                            limit: int = 500) -> int:
    """Move outreaches ``executing`` for longer than ``lease`` to ``unknown``; how many moved.

    Their worker died between the claim and the result (a claim sets ``updated_at``, and nothing
    else touches an ``executing`` row), so whether the provider took the message is unknown:
    it is never sent again; a person checks the provider and decides.
    """
    now = now or utcnow()
    async with session_scope() as s:
        stuck = (await s.execute(
            select(Outreach, Enrollment.contact_id).join(Enrollment, Enrollment.id == Outreach.enrollment_id)
            .where(Outreach.status == OutreachStatus.executing,
                   # a placed call holds its own lease (agent/voice/outbound.py) for the whole call
                   or_(and_(Outreach.lease_until.is_(None), Outreach.updated_at < now - lease),
                       Outreach.lease_until < now))
            .order_by(Outreach.updated_at).limit(limit))).all()
        moved = 0
        for outreach, contact_id in stuck:
            moved += await executor.mark_unknown(s, outreach, contact_id, now=now)
    if moved:
        log.warning("reconciler moved %d outreach(es) stuck while sending to unknown", moved)
    return moved


async def reconcile(now: dt.datetime | None = None, *, stall: dt.timedelta = STALL,
                    executing_lease: dt.timedelta = executor.EXECUTING_LEASE) -> int:
    """Settle lost sends, re-enqueue expired planning leases and the queued items of stalled runs;
    returns messages sent (sends moved to ``unknown`` send nothing and are not counted).

    A run has stalled when none of its items moved for ``stall`` and none of its enrollments is
    under a live planning lease: its remaining messages died with a worker (a broker such as Redis
    hands a dead worker's messages back only after its own heartbeat timeout). A run that is
    merely slow keeps moving, so it is never flooded with duplicates.
    """
    now = now or utcnow()
    await settle_lost_sends(now, lease=executing_lease)
    await recovery.recover_imports(now)
    await exports.recover_exports(now)
    async with session_scope() as s:
        expired = (await s.execute(
            select(Enrollment.id, PlanningRunItem.run_id)
            .outerjoin(PlanningRunItem, and_(PlanningRunItem.enrollment_id == Enrollment.id,
                                             PlanningRunItem.status == PlanningItemStatus.queued))
            .where(Enrollment.status == EnrollmentStatus.planning, Enrollment.lease_until < now))).all()
        live = (select(PlanningRunItem.run_id).join(Enrollment, Enrollment.id == PlanningRunItem.enrollment_id)
                .where(Enrollment.status == EnrollmentStatus.planning, Enrollment.lease_until >= now))
        moved = (select(PlanningRunItem.run_id).group_by(PlanningRunItem.run_id)
                 .having(func.max(PlanningRunItem.updated_at) >= now - stall))
        stalled = select(PlanningRun.id).where(PlanningRun.status.in_(JOB_LIVE), PlanningRun.id.not_in(live),
                                               PlanningRun.id.not_in(moved))
        lost = (await s.execute(select(PlanningRunItem.enrollment_id, PlanningRunItem.run_id).where(
            PlanningRunItem.status == PlanningItemStatus.queued, PlanningRunItem.run_id.in_(stalled)))).all()
        if lost:
            # Their clock restarts: one more stall must pass before they are sent again.
            await s.execute(update(PlanningRunItem).where(PlanningRunItem.status == PlanningItemStatus.queued,
                                                          PlanningRunItem.run_id.in_({r for _, r in lost}))
                            .values(updated_at=now))
    seen: set[str] = set()
    for enrollment_id, run_id in [*expired, *lost]:
        if enrollment_id in seen:
            continue
        seen.add(enrollment_id)
        send("planner.plan_enrollment", enrollment_id=enrollment_id, run_id=run_id)
    if seen:
        log.info("reconciler re-enqueued %d plan(s)", len(seen))
    return len(seen)


async def start_due_runs(now: dt.datetime | None = None) -> list[str]:
    """Planning runs for self-planning campaigns with due contacts and no run in progress."""
    now = now or utcnow()
    started: list[str] = []
    async with session_scope() as s:
        busy = select(PlanningRun.campaign_id).where(PlanningRun.status.in_(JOB_LIVE))
        campaigns = (await s.execute(select(Campaign).where(
            Campaign.status == CampaignStatus.active, Campaign.execution_mode.in_(_SELF_PLANNING),
            or_(Campaign.start_at.is_(None), Campaign.start_at <= now),
            Campaign.id.not_in(busy)).with_for_update(skip_locked=True))).scalars().all()
        for campaign in campaigns:
            due = (await s.execute(select(Enrollment.contact_id).where(
                Enrollment.campaign_id == campaign.id, Enrollment.status.in_(ENROLLMENT_PLANNABLE),
                # waiting for a caller number: its outreach is drafted, the executor takes it on
                or_(Enrollment.substatus.is_(None), Enrollment.substatus != Substatus.identity_limits),
                or_(Enrollment.next_attempt_at.is_(None), Enrollment.next_attempt_at <= now)))).scalars().all()
            if due:
                run = await runs.create_run(s, campaign, contact_ids=list(due), actor="scheduler")
                started.append(run.id)
    return started


async def dispatch_due(now: dt.datetime | None = None, *, limit: int = 1000) -> int:
    """Hand outreaches awaiting execution whose time has come to the executor.

    The executor claims each one by compare-and-set and its guard refuses anything outside the
    contact's hours, without a required approval, or no longer wanted, so handing one over twice
    is harmless. Outreaches of a paused campaign or channel wait for the resume; those of a
    finished campaign or stopped channel are handed over so the guard voids them.
    """
    now = now or utcnow()
    async with session_scope() as s:
        due = (await s.execute(
            select(Outreach.id).join(Campaign, Campaign.id == Outreach.campaign_id)
            .outerjoin(Channel, Channel.id == Outreach.channel_id)
            .where(Outreach.status == OutreachStatus.awaiting_execution, Outreach.scheduled_at <= now,
                   Campaign.status != CampaignStatus.paused,
                   or_(Channel.status.is_(None), Channel.status != ChannelStatus.paused))
            .order_by(enrollment_priority_rank(Outreach.enrollment_id), Outreach.scheduled_at)
            .limit(limit))).scalars().all()
    batch = executor.send_batch()
    for i in range(0, len(due), batch):  # one claim transaction per batch
        send("executor.send_outreaches", outreach_ids=list(due[i:i + batch]))
    return len(due)


Duty = Callable[[dt.datetime | None], Awaitable[Any]]


async def complete_done_channels() -> list[str]:
    """Channels whose contacts are all done complete, and their campaigns with them."""
    async with session_scope() as s:
        return await lifecycle_campaigns.complete_done_channels(s)


async def fold_stats() -> int:
    """The stats counters of closed connections folded into one row per figure."""
    async with session_scope() as s:
        return await rollups.fold(s)


async def tick(now: dt.datetime | None = None, duties: Sequence[Duty] = ()) -> None:
    """One pass: reconcile, start due runs, hand due outreaches over, complete done channels, fold
    the stats counters, then ``duties`` (what the packages above the planner need done on a
    schedule, such as queueing due evaluations)."""
    await reconcile(now)
    await start_due_runs(now)
    await dispatch_due(now)
    await complete_done_channels()
    await fold_stats()
    for duty in duties:
        await duty(now)


async def run_forever(interval: float | None = None, stop: asyncio.Event | None = None,
                      duties: Sequence[Duty] = ()) -> None:
    """Tick until ``stop`` is set; a failing tick is logged and the next one tries again."""
    stop = stop or asyncio.Event()
    interval = interval or get_settings().reconcile_interval_s
    while not stop.is_set():
        try:
            await tick(duties=duties)
        except Exception:
            log.exception("scheduler tick failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            pass
