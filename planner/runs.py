"""Planning runs: one message per enrollment, counters kept exact by compare-and-set per item."""

from __future__ import annotations

from sqlalchemy import and_, case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity, bulk, metrics
from agent.db import utcnow
from agent.contacts.repository import priority_rank
from agent.errors import InvalidTransition, ValidationFailed
from agent.ids import new_id
from agent.models import Campaign, Enrollment, PlanningRun, PlanningRunItem
from agent.queue import enqueue
from agent.states import CAMPAIGN_PLANNABLE, ENROLLMENT_PLANNABLE, CampaignStatus, JobStatus, PlanningItemStatus


# The item's status word is also its result (planned, failed or skipped); the enum lives with
# the other statuses since the planning_run_items column is typed with it.
ItemResult = PlanningItemStatus


async def create_run(s: AsyncSession, campaign: Campaign, *, contact_ids: list[str] | None, actor: str,
                     queue: bool = True) -> PlanningRun:
    """Queue planning for the campaign's plannable enrollments (or the given contacts').

    ``queue=False`` leaves the items for the caller to plan (``overture plan`` on the embedded defaults).
    """
    if CampaignStatus(campaign.status) not in CAMPAIGN_PLANNABLE:
        raise InvalidTransition(f"a {campaign.status} campaign cannot be planned; go live first"
                                if campaign.status == CampaignStatus.draft else
                                f"a {campaign.status} campaign cannot be planned",
                                current_status=campaign.status)
    q = select(Enrollment.id, Enrollment.contact_id).where(
        Enrollment.campaign_id == campaign.id, Enrollment.status.in_(ENROLLMENT_PLANNABLE))
    if contact_ids is not None:
        known = set((await s.execute(select(Enrollment.contact_id).where(
            Enrollment.campaign_id == campaign.id, Enrollment.contact_id.in_(contact_ids)))).scalars())
        missing = [c for c in contact_ids if c not in known]
        if missing:
            raise ValidationFailed(f"{len(missing)} contact(s) are not in this campaign",
                                   errors=[{"loc": ["body", "contact_ids", contact_ids.index(c)],
                                            "message": f"{c} is not in this campaign"} for c in missing])
        q = q.where(Enrollment.contact_id.in_(contact_ids))
    enrollment_ids = [r.id for r in await s.execute(q.order_by(priority_rank(Enrollment.contact_id), Enrollment.id))]
    now = utcnow()
    run = PlanningRun(id=new_id("run"), workspace_id=campaign.workspace_id, campaign_id=campaign.id,
                      status=(JobStatus.queued if enrollment_ids else JobStatus.succeeded).value,
                      total=len(enrollment_ids), requested_by=actor,
                      finished_at=None if enrollment_ids else now)
    s.add(run)
    await s.flush()
    await bulk.insert_rows(s, PlanningRunItem.__table__, [
        {"id": new_id("pri"), "run_id": run.id, "enrollment_id": e, "status": PlanningItemStatus.queued, "updated_at": now}
        for e in enrollment_ids])
    activity.record(s, workspace_id=campaign.workspace_id, actor=actor, kind="planning.run_queued",
                    campaign_id=campaign.id, payload={"run_id": run.id, "total": run.total})
    for enrollment_id in enrollment_ids if queue else ():
        enqueue(s, "planner.plan_enrollment", enrollment_id=enrollment_id, run_id=run.id)
    metrics.PLANNING_RUNS.inc()
    return run


async def record_item(s: AsyncSession, run_id: str, enrollment_id: str, result: ItemResult, error: str | None) -> None:
    """Count one enrollment's result once (a redelivered message finds the item already settled)."""
    moved = await s.execute(
        update(PlanningRunItem).where(PlanningRunItem.run_id == run_id, PlanningRunItem.enrollment_id == enrollment_id,
                                      PlanningRunItem.status == PlanningItemStatus.queued)
        .values(status=result.value, error=error, updated_at=utcnow()))
    if moved.rowcount != 1:
        return
    column = {ItemResult.planned: PlanningRun.planned, ItemResult.failed: PlanningRun.failed,
              ItemResult.skipped: PlanningRun.skipped}[result]
    now = utcnow()
    # One UPDATE: the count, queued -> running on the first item and -> succeeded on the last
    # (every SET expression reads the row as it was before this statement).
    live = PlanningRun.status.in_([JobStatus.queued, JobStatus.running])
    done = PlanningRun.planned + PlanningRun.failed + PlanningRun.skipped + 1 >= PlanningRun.total
    await s.execute(update(PlanningRun).where(PlanningRun.id == run_id).values({
        column: column + 1,
        PlanningRun.status: case((and_(live, done), JobStatus.succeeded.value),
                                 (live, JobStatus.running.value), else_=PlanningRun.status),
        PlanningRun.started_at: case((PlanningRun.status == JobStatus.queued, now), else_=PlanningRun.started_at),
        PlanningRun.finished_at: case((and_(live, done), now), else_=PlanningRun.finished_at),
    }))
