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

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity, metrics
from agent.campaigns.brief import brief_hash
from agent.db import session_scope, utcnow
from agent.settings import get_settings
from agent.ids import new_id
from agent.contacts.repository import suppressed_on
from agent.models import Campaign, Channel, Contact, Enrollment, Goal, Outreach
from agent.lifecycle.enrollments import move_enrollment, renew_lease
from agent.states import (
    ENROLLMENT_PLANNABLE,
    PLANNER_REST,
    EnrollmentAction,
    EnrollmentStatus,
    OutreachStatus,
    Substatus,
)
from planner import repository, runs
from planner.graph import DraftResult, graph
from planner.prompt import draft_with_model
from planner.state import ChannelFacts, ContactFacts, Outcome, PastOutreach, PlanContext, PlanState

log = logging.getLogger(__name__)

# Short and renewed while planning runs, so a dead worker's enrollments are taken over within
# a lease, not after the broker's own redelivery timeout.
LEASE = dt.timedelta(seconds=get_settings().planner_lease_s)
RENEW_EVERY = LEASE.total_seconds() / 3
def claimable(now: dt.datetime):  # noqa: ANN201 - a SQL condition
    return or_(Enrollment.status.in_(ENROLLMENT_PLANNABLE),
               and_(Enrollment.status == EnrollmentStatus.planning, Enrollment.lease_until < now))


async def claim(enrollment_id: str) -> int | None:
    """Move the enrollment to ``planning`` under a lease; its new version, or None if not ours."""
    now = utcnow()
    async with session_scope() as s:
        # A planning row is taken over only once its planner's lease has lapsed.
        moved = await move_enrollment(s, enrollment_id, EnrollmentAction.claim, where=claimable(now), now=now,
                                      values={"lease_until": now + LEASE})
    return moved.version if moved else None


class DatabaseDeps:
    """The planner's IO against the database and the model layer."""

    def __init__(self, version: int, run_id: str | None) -> None:
        self.version = version
        self.run_id = run_id

    async def load(self, enrollment_id: str, instruction: str | None) -> PlanContext:
        async with session_scope() as s:
            return await load_context(s, enrollment_id, self.version, instruction)

    async def draft(self, ctx: PlanContext, channel: ChannelFacts, step: int, scheduled_at: dt.datetime,
                    feedback: list[str]) -> DraftResult:
        return await draft_with_model(ctx, channel, step, scheduled_at, feedback)

    async def route(self, state: PlanState) -> None:
        async with session_scope() as s:
            await route(s, state, self.version, self.run_id)


async def load_context(s: AsyncSession, enrollment_id: str, version: int, instruction: str | None) -> PlanContext:
    enrollment = (await s.execute(select(Enrollment).where(Enrollment.id == enrollment_id))).scalar_one()
    campaign = (await s.execute(select(Campaign).where(Campaign.id == enrollment.campaign_id))).scalar_one()
    contact = (await s.execute(select(Contact).where(Contact.id == enrollment.contact_id))).scalar_one()
    channels = (await s.execute(select(Channel).where(Channel.campaign_id == campaign.id)
                                .order_by(Channel.position))).scalars().all()
    goals = (await s.execute(select(Goal).where(Goal.campaign_id == campaign.id, Goal.archived_at.is_(None))
                             .order_by(Goal.is_primary.desc(), Goal.id))).scalars().all()
    past = (await s.execute(select(Outreach).where(Outreach.enrollment_id == enrollment.id)
                            .order_by(Outreach.id))).scalars().all()
    suppressed = await suppressed_on(s, contact.workspace_id, phone=contact.phone, email_key=contact.email_key)
    now = utcnow()
    return PlanContext(
        now=now, enrollment_id=enrollment.id, enrollment_status=enrollment.status, enrollment_version=version,
        attempts=enrollment.attempts, last_attempt_at=enrollment.last_attempt_at, campaign_id=campaign.id,
        campaign_name=campaign.name, campaign_status=campaign.status, campaign_timezone=campaign.timezone,
        brief=campaign.brief, ai_variables=dict(campaign.ai_variables or {}), schedule=campaign.schedule,
        settings=dict(campaign.settings), start_at=campaign.start_at, end_at=campaign.end_at,
        manual_review=campaign.manual_review,
        goals=[{"name": g.name, "description": g.description, "primary": "yes" if g.is_primary else "no"}
               for g in goals],
        channels=[ChannelFacts(c.id, c.kind, c.status, c.position, dict(c.config)) for c in channels],
        contact=ContactFacts(contact.id, contact.first_name, contact.last_name, contact.email, contact.phone,
                             contact.timezone, dict(contact.properties or {})),
        suppressed="all" in suppressed, suppressed_channels=suppressed - {"all"},
        history=[PastOutreach(o.channel, o.status, o.scheduled_at, o.subject, o.body) for o in past],
        replies=await repository.replies_of(s, enrollment.id),
        goal_outcomes=await repository.goal_outcomes(s, enrollment.id),
        awaiting_evaluation=await repository.awaiting_evaluation(s, enrollment.id, now),
        instruction=instruction,
        # A regenerated draft points at the one it replaces (the latest superseded draft).
        supersedes_id=next((o.id for o in reversed(past) if o.status == OutreachStatus.superseded), None)
        if instruction else None,
    )


async def route(s: AsyncSession, state: PlanState, version: int, run_id: str | None) -> None:
    """Write the outcome: a draft (awaiting approval or execution) or the status the contact rests in."""
    ctx = state["context"]
    outcome: Outcome | None = state.get("outcome")
    now = utcnow()
    if outcome is None:
        action = EnrollmentAction.draft if ctx.manual_review else EnrollmentAction.draft_unreviewed
        substatus, next_at, reason = None, state["scheduled_at"], None
    else:
        action, substatus = PLANNER_REST[outcome.status], outcome.substatus
        next_at, reason = outcome.next_attempt_at, outcome.reason
    moved = await move_enrollment(s, ctx.enrollment_id, action, substatus=substatus, now=now,
                                  where=Enrollment.version == version,
                                  values={"next_attempt_at": next_at, "lease_until": None},
                                  payload={"reason": reason} if reason else None)
    if moved is None:
        # Our lease ran out and another planner took over; its result stands, ours is dropped.
        log.warning("enrollment %s moved while planning; dropping this plan", ctx.enrollment_id)
        return
    metrics.PLANS.labels("drafted" if outcome is None else EnrollmentStatus(outcome.status).value).inc()
    workspace_id = (await s.execute(select(Campaign.workspace_id).where(Campaign.id == ctx.campaign_id))).scalar_one()
    if outcome is None:
        draft = state["draft"]
        channel = state["channel"]
        outreach = Outreach(
            id=new_id("out"), workspace_id=workspace_id, campaign_id=ctx.campaign_id, enrollment_id=ctx.enrollment_id,
            channel_id=channel.id, planning_run_id=run_id, supersedes_id=ctx.supersedes_id, channel=channel.kind,
            step=state["step"],
            status=OutreachStatus.awaiting_approval if ctx.manual_review else OutreachStatus.awaiting_execution,
            scheduled_at=state["scheduled_at"], subject=draft.subject if channel.kind == "email" else None,
            body=draft.body, rationale=draft.rationale, instruction=ctx.instruction, model=state["model"],
            prompt_version=state["prompt_version"], input_tokens=state.get("input_tokens", 0),
            output_tokens=state.get("output_tokens", 0), cost_usd=state.get("cost_usd", 0.0),
            idempotency_key=new_id("idk"), unsubscribe_token=secrets.token_urlsafe(24),
            brief_hash=brief_hash(ctx.brief, ctx.ai_variables))
        s.add(outreach)
        await s.flush()
        activity.record(s, workspace_id=workspace_id, actor=activity.SYSTEM, kind="outreach.planned",
                        campaign_id=ctx.campaign_id, contact_id=ctx.contact.id, enrollment_id=ctx.enrollment_id,
                        outreach_id=outreach.id,
                        payload={"channel": channel.kind, "step": state["step"], "status": outreach.status,
                                 "scheduled_at": state["scheduled_at"].isoformat(), "model": state["model"]})
        item = runs.ItemResult.planned
    else:
        activity.record(s, workspace_id=workspace_id, actor=activity.SYSTEM, kind="enrollment.planned_no_outreach",
                        campaign_id=ctx.campaign_id, contact_id=ctx.contact.id, enrollment_id=ctx.enrollment_id,
                        payload={"status": moved.after.value,
                                 "substatus": moved.substatus.value if moved.substatus else None,
                                 "reason": outcome.reason})
        item = runs.ItemResult.failed if outcome.status == EnrollmentStatus.error else runs.ItemResult.skipped
    if run_id:
        await runs.record_item(s, run_id, ctx.enrollment_id, item, None if outcome is None else outcome.reason)


async def _renew(enrollment_id: str, version: int) -> None:
    """Keep the lease while this worker plans (stops when cancelled or when the lease is lost)."""
    while True:
        await asyncio.sleep(RENEW_EVERY)
        async with session_scope() as s:
            if not await renew_lease(s, enrollment_id, version, utcnow() + LEASE):
                return


async def _not_claimed(enrollment_id: str, run_id: str | None) -> None:
    async with session_scope() as s:
        status = (await s.execute(select(Enrollment.status).where(Enrollment.id == enrollment_id))).scalar_one_or_none()
        # Another worker holds it: that worker records the item. Anything else settles it as skipped.
        if run_id and status != EnrollmentStatus.planning:
            await runs.record_item(s, run_id, enrollment_id, runs.ItemResult.skipped, "not plannable now")


async def plan_enrollment(enrollment_id: str, run_id: str | None = None, instruction: str | None = None) -> None:
    """The ``planner.plan_enrollment`` actor's body: never leaves the enrollment in ``planning``."""
    version = await claim(enrollment_id)
    if version is None:
        await _not_claimed(enrollment_id, run_id)
        return
    state: PlanState = {"enrollment_id": enrollment_id, "run_id": run_id, "instruction": instruction}
    renewer = asyncio.create_task(_renew(enrollment_id, version))
    try:
        await graph().ainvoke(state, config={"configurable": {"deps": DatabaseDeps(version, run_id)}})
    except Exception as exc:
        log.exception("planning %s failed", enrollment_id)
        async with session_scope() as s:
            moved = await move_enrollment(s, enrollment_id, EnrollmentAction.fail, substatus=Substatus.system_error,
                                          only_from=EnrollmentStatus.planning, where=Enrollment.version == version,
                                          values={"lease_until": None}, payload={"reason": type(exc).__name__})
            if moved is not None and run_id:
                await runs.record_item(s, run_id, enrollment_id, runs.ItemResult.failed, f"{type(exc).__name__}")
    finally:
        renewer.cancel()
