"""Planning one enrollment: claim it, run the graph, and write the result in one transaction.

The claim is a compare-and-set to ``planning`` with a lease; a message delivered twice, or a
worker that died mid-plan, can therefore never produce two drafts: the second claim fails while
the first holds the lease, and ``route`` only commits if the enrollment is still the version it
claimed. The reconciler re-enqueues enrollments whose lease ran out.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets

from sqlalchemy import and_, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity, metrics
from agent.campaigns.brief import brief_hash
from agent.db import sessionmaker, utcnow, write_transaction
from agent.settings import get_settings
from agent.ids import new_id
from agent.models import Campaign, Enrollment, Outreach
from agent.lifecycle.enrollments import move_enrollment, renew_lease
from agent.states import (
    ENROLLMENT_PLANNABLE,
    PLANNER_REST,
    EnrollmentAction,
    EnrollmentStatus,
    OutreachStatus,
    Substatus,
)
from planner import context, runs
from planner.graph import DraftResult, graph
from planner.prompt import draft_with_model
from planner.state import ChannelFacts, Outcome, PlanContext, PlanState

log = logging.getLogger(__name__)

# Short and renewed while planning runs, so a dead worker's enrollments are taken over within
# a lease, not after the broker's own redelivery timeout.
LEASE = dt.timedelta(seconds=get_settings().planner_lease_s)
RENEW_EVERY = LEASE.total_seconds() / 3
def claimable(now: dt.datetime):  # noqa: ANN201 - a SQL condition
    return or_(Enrollment.status.in_(ENROLLMENT_PLANNABLE),
               and_(Enrollment.status == EnrollmentStatus.planning, Enrollment.lease_until < now))


def _claimable_now(enrollment: Enrollment, now: dt.datetime) -> bool:
    """``claimable`` read off a loaded row (the compare-and-set still decides)."""
    if enrollment.status in ENROLLMENT_PLANNABLE:
        return True
    lease = enrollment.lease_until
    if lease is not None and lease.tzinfo is None:
        lease = lease.replace(tzinfo=dt.UTC)  # SQLite hands datetimes back naive (they are UTC)
    return enrollment.status == EnrollmentStatus.planning and lease is not None and lease < now


async def claim_and_load(s: AsyncSession, enrollment_id: str, instruction: str | None
                         ) -> tuple[Enrollment, PlanContext] | None:
    """Move the enrollment to ``planning`` under a lease and read what the plan needs, in one
    transaction (the caller commits); None if it is not ours to plan.

    The context is read before the compare-and-set so that, on SQLite, the single writer's lock
    is held for the UPDATE alone; the compare-and-set on the version read guarantees the
    enrollment the context describes is the one claimed.
    """
    now = utcnow()
    loaded = await context.load(s, enrollment_id, now)
    if loaded is None or not _claimable_now(loaded.enrollment, now):
        return None
    enrollment = loaded.enrollment
    # A planning row is taken over only once its planner's lease has lapsed: renewing a lease
    # leaves the version as it was, so the compare-and-set on status and version alone would
    # not see a renewal since the read. A plannable row needs no more than that compare-and-set
    # (its status unchanged means it is still plannable), and building ``claimable`` for it was
    # CPU spent on a condition the UPDATE already holds.
    where = claimable(now) if enrollment.status == EnrollmentStatus.planning else None
    events: list[dict] = []
    moved = await move_enrollment(s, enrollment, EnrollmentAction.claim, where=where, now=now,
                                  values={"lease_until": now + LEASE}, events=events)
    if moved is None:
        return None
    await activity.record_all(s, events)
    return enrollment, context.build(loaded, moved.version, instruction, now)


class DatabaseDeps:
    """The planner's IO against the database and the model layer: one session for the whole plan.

    The context was read with the claim (``claim_and_load``), so ``load`` hands it over; ``route``
    writes the result in a second transaction of the same session (between the two, during the
    model call, the session holds no connection).
    """

    def __init__(self, session: AsyncSession, enrollment: Enrollment, ctx: PlanContext, run_id: str | None) -> None:
        self.session = session
        self.enrollment = enrollment
        self.ctx = ctx
        self.version = ctx.enrollment_version
        self.run_id = run_id

    async def load(self, enrollment_id: str, instruction: str | None) -> PlanContext:
        return self.ctx

    async def draft(self, ctx: PlanContext, channel: ChannelFacts, step: int, scheduled_at: dt.datetime,
                    feedback: list[str]) -> DraftResult:
        return await draft_with_model(ctx, channel, step, scheduled_at, feedback)

    async def route(self, state: PlanState) -> None:
        async with write_transaction(self.session):
            await route(self.session, state, self.version, self.run_id, enrollment=self.enrollment,
                        workspace_id=self.enrollment.workspace_id)


async def load_context(s: AsyncSession, enrollment_id: str, version: int, instruction: str | None) -> PlanContext:
    now = utcnow()
    loaded = await context.load(s, enrollment_id, now)
    assert loaded is not None, enrollment_id
    return context.build(loaded, version, instruction, now)


async def route(s: AsyncSession, state: PlanState, version: int, run_id: str | None, *,
                enrollment: Enrollment | None = None, workspace_id: str | None = None) -> None:
    """Write the outcome: a draft (awaiting approval or execution) or the status the contact rests in.

    ``enrollment`` is the row as claimed (its status and version are compared and set without
    reading it again) and ``workspace_id`` its workspace; without them both are read."""
    ctx = state["context"]
    outcome: Outcome | None = state.get("outcome")
    now = utcnow()
    if outcome is None:
        action = EnrollmentAction.draft if ctx.manual_review else EnrollmentAction.draft_unreviewed
        substatus, next_at, reason = None, state["scheduled_at"], None
    else:
        action, substatus = PLANNER_REST[outcome.status], outcome.substatus
        next_at, reason = outcome.next_attempt_at, outcome.reason
    # The route's events are written together, with one statement after the rest.
    events: list[dict] = []
    # The claimed row is compared and set at its own version already; only an id (read afresh)
    # or a row at another version needs the version planned from as a condition of its own.
    same = enrollment is not None and enrollment.version == version
    moved = await move_enrollment(s, enrollment if enrollment is not None else ctx.enrollment_id, action,
                                  substatus=substatus, now=now,
                                  where=None if same else Enrollment.version == version,
                                  values={"next_attempt_at": next_at, "lease_until": None},
                                  payload={"reason": reason} if reason else None, events=events)
    if moved is None:
        # Our lease ran out and another planner took over; its result stands, ours is dropped.
        log.warning("enrollment %s moved while planning; dropping this plan", ctx.enrollment_id)
        return
    metrics.PLANS.labels("drafted" if outcome is None else EnrollmentStatus(outcome.status).value).inc()
    if workspace_id is None:
        workspace_id = (await s.execute(select(Campaign.workspace_id)
                                        .where(Campaign.id == ctx.campaign_id))).scalar_one()
    if outcome is None:
        draft = state["draft"]
        channel = state["channel"]
        outreach = dict(
            id=new_id("out"), workspace_id=workspace_id, campaign_id=ctx.campaign_id, enrollment_id=ctx.enrollment_id,
            channel_id=channel.id, planning_run_id=run_id, supersedes_id=ctx.supersedes_id, channel=channel.kind,
            step=state["step"],
            status=OutreachStatus.awaiting_approval if ctx.manual_review else OutreachStatus.awaiting_execution,
            scheduled_at=state["scheduled_at"], subject=draft.subject if channel.kind == "email" else None,
            body=draft.body, rationale=draft.rationale, instruction=ctx.instruction, model=state["model"],
            prompt_version=state["prompt_version"], input_tokens=state.get("input_tokens", 0),
            output_tokens=state.get("output_tokens", 0), cost_usd=state.get("cost_usd", 0.0),
            idempotency_key=new_id("idk"), unsubscribe_token=secrets.token_urlsafe(24),
            brief_hash=brief_hash(ctx.brief, ctx.ai_variables), settings_version=ctx.settings_version)
        # One Core INSERT: the unit of work's flush of a 30-column object was a large share of the
        # route's CPU, and nothing reads the object back (the events hold its id, not a key to it).
        await s.execute(insert(Outreach.__table__), outreach)
        events.append(dict(workspace_id=workspace_id, actor=activity.SYSTEM, kind="outreach.planned",
                           campaign_id=ctx.campaign_id, contact_id=ctx.contact.id, enrollment_id=ctx.enrollment_id,
                           outreach_id=outreach["id"],
                           payload={"channel": channel.kind, "step": state["step"], "status": outreach["status"],
                                    "scheduled_at": state["scheduled_at"].isoformat(), "model": state["model"],
                                    "settings_version": ctx.settings_version}))
        item = runs.ItemResult.planned
    else:
        events.append(dict(workspace_id=workspace_id, actor=activity.SYSTEM, kind="enrollment.planned_no_outreach",
                           campaign_id=ctx.campaign_id, contact_id=ctx.contact.id, enrollment_id=ctx.enrollment_id,
                           payload={"status": moved.after.value,
                                    "substatus": moved.substatus.value if moved.substatus else None,
                                    "reason": outcome.reason}))
        item = runs.ItemResult.failed if outcome.status == EnrollmentStatus.error else runs.ItemResult.skipped
    await activity.record_all(s, events)
    if run_id:
        await runs.record_item(s, run_id, ctx.enrollment_id, item, None if outcome is None else outcome.reason)


async def _renew(enrollment_id: str, version: int, stop: asyncio.Event) -> None:
    """Keep the lease while this worker plans, until ``stop`` is set or the lease is lost.

    Stopped by the event, never cancelled: a renewal cancelled inside its statement would leave
    its connection's transaction open (on SQLite, the database's write lock with it)."""
    while True:
        try:
            await asyncio.wait_for(stop.wait(), RENEW_EVERY)
            return
        except TimeoutError:
            pass
        async with sessionmaker()() as s, write_transaction(s):
            renewed = await renew_lease(s, enrollment_id, version, utcnow() + LEASE)
        if not renewed:
            return


async def _not_claimed(s: AsyncSession, enrollment_id: str, run_id: str | None) -> None:
    status = (await s.execute(select(Enrollment.status).where(Enrollment.id == enrollment_id))).scalar_one_or_none()
    # Another worker holds it: that worker records the item. Anything else settles it as skipped.
    if run_id and status != EnrollmentStatus.planning:
        await runs.record_item(s, run_id, enrollment_id, runs.ItemResult.skipped, "not plannable now")


async def plan_enrollment(enrollment_id: str, run_id: str | None = None, instruction: str | None = None) -> None:
    """The ``planner.plan_enrollment`` actor's body: never leaves the enrollment in ``planning``.

    One session for the plan: the claim and the context in its first transaction, the route's
    writes in its second (or the failure's, if planning raised); each a ``write_transaction``, so
    on SQLite the plans in flight on this loop take turns at the writer instead of polling for it."""
    async with sessionmaker()() as s:
        async with write_transaction(s):
            claimed = await claim_and_load(s, enrollment_id, instruction)
            if claimed is None:
                await _not_claimed(s, enrollment_id, run_id)
        if claimed is None:
            return
        enrollment, ctx = claimed
        version = ctx.enrollment_version
        state: PlanState = {"enrollment_id": enrollment_id, "run_id": run_id, "instruction": instruction}
        stop = asyncio.Event()
        renewer = asyncio.create_task(_renew(enrollment_id, version, stop))
        try:
            await graph().ainvoke(state, config={"configurable": {"deps": DatabaseDeps(s, enrollment, ctx, run_id)}})
        except Exception as exc:
            log.exception("planning %s failed", enrollment_id)
            await s.rollback()
            async with write_transaction(s):
                moved = await move_enrollment(s, enrollment_id, EnrollmentAction.fail,
                                              substatus=Substatus.system_error, only_from=EnrollmentStatus.planning,
                                              where=Enrollment.version == version, values={"lease_until": None},
                                              payload={"reason": type(exc).__name__})
                if moved is not None and run_id:
                    await runs.record_item(s, run_id, enrollment_id, runs.ItemResult.failed, f"{type(exc).__name__}")
        except BaseException:
            await s.rollback()
            raise
        finally:
            stop.set()
            await renewer
