"""The scheduler and reconciler: due campaigns plan themselves, lost work is found again, and
nothing is ever planned twice."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update

from agent.db import session_scope, utcnow
from agent.models import Campaign, Enrollment, Outreach, PlanningRun, PlanningRunItem
from planner import runs, scheduler
from tests.builders import outreaches, set_enrollments
from tests.conftest import drain_queue
from tests.flows import enrollments, live_campaign

ANN = {"name": "Ann Lee", "email": "ann@example.com"}
BO = {"name": "Bo Chen", "email": "bo@example.com"}


async def _runs(cid: str) -> list[PlanningRun]:
    async with session_scope() as s:
        return list((await s.execute(select(PlanningRun).where(PlanningRun.campaign_id == cid)
                                     .order_by(PlanningRun.id))).scalars())


async def test_expired_lease_of_a_dead_worker_is_planned_again_once(client, admin):
    cid = await live_campaign(client, admin, execution_mode="manual", contacts=[ANN])
    async with session_scope() as s:
        campaign = await s.get(Campaign, cid)
        run = await runs.create_run(s, campaign, contact_ids=None, actor="t", queue=False)
        # A worker claimed the enrollment, then died: planning, lease already over, item still queued.
        await s.execute(update(Enrollment).where(Enrollment.campaign_id == cid)
                        .values(status="planning", lease_until=utcnow() - dt.timedelta(seconds=1)))
    assert await scheduler.reconcile() == 1
    await drain_queue()
    row = (await enrollments(client, admin, cid))["Ann"]
    assert row["status"] == "awaiting_approval" and len(await outreaches(cid)) == 1
    done = (await client.get(f"/v1/planning-runs/{run.id}", headers=admin)).json()
    assert (done["status"], done["planned"]) == ("succeeded", 1)
    assert await scheduler.reconcile() == 0  # nothing left to find


async def test_a_live_lease_is_left_to_its_worker(client, admin):
    cid = await live_campaign(client, admin, execution_mode="manual", contacts=[ANN])
    await set_enrollments(Enrollment.campaign_id == cid, status="planning",
                          lease_until=utcnow() + dt.timedelta(minutes=1))
    assert await scheduler.reconcile() == 0
    assert (await enrollments(client, admin, cid))["Ann"]["status"] == "planning"


async def test_queued_items_whose_message_was_lost_are_sent_again(client, admin):
    cid = await live_campaign(client, admin, execution_mode="manual", contacts=[ANN, BO])
    async with session_scope() as s:
        run = await runs.create_run(s, await s.get(Campaign, cid), contact_ids=None, actor="t", queue=False)
    assert await scheduler.reconcile() == 0  # a run that just started has not stalled
    later = utcnow() + scheduler.STALL + dt.timedelta(seconds=1)
    assert await scheduler.reconcile(later) == 2
    await drain_queue()
    done = (await client.get(f"/v1/planning-runs/{run.id}", headers=admin)).json()
    assert (done["status"], done["planned"]) == ("succeeded", 2) and len(await outreaches(cid)) == 2
    # Re-sending again (a duplicate message) changes nothing.
    async with session_scope() as s:
        await s.execute(update(PlanningRunItem).values(status="queued", updated_at=utcnow() - dt.timedelta(hours=1)))
        await s.execute(update(PlanningRun).values(status="running"))
    await scheduler.reconcile()
    await drain_queue()
    assert len(await outreaches(cid)) == 2


async def test_scheduled_campaign_plans_itself_once_its_start_time_comes(client, admin):
    start = utcnow() + dt.timedelta(hours=2)
    cid = await live_campaign(client, admin, contacts=[ANN], start_at=start.isoformat())
    assert await scheduler.start_due_runs() == []
    started = await scheduler.start_due_runs(start + dt.timedelta(seconds=1))
    assert len(started) == 1
    await drain_queue()
    drafts = await outreaches(cid)
    assert len(drafts) == 1 and drafts[0].scheduled_at >= start  # never before the start time
    assert await scheduler.start_due_runs(start + dt.timedelta(seconds=2)) == []  # nobody left to plan


async def test_on_contact_added_campaign_plans_new_contacts_as_they_arrive(client, admin):
    cid = await live_campaign(client, admin, contacts=[ANN], execution_mode="on_contact_added")
    await scheduler.tick()
    await drain_queue()
    assert len(await outreaches(cid)) == 1
    await client.post(f"/v1/campaigns/{cid}/contacts", json={"contacts": [BO]}, headers=admin)
    await scheduler.tick()
    await drain_queue()
    assert {e["status"] for e in (await enrollments(client, admin, cid)).values()} == {"awaiting_approval"}
    assert len(await outreaches(cid)) == 2 and len(await _runs(cid)) == 2


async def test_manual_campaigns_wait_for_start_outreaches(client, admin):
    cid = await live_campaign(client, admin, contacts=[ANN], execution_mode="manual")
    await scheduler.tick()
    await drain_queue()
    assert await _runs(cid) == [] and await outreaches(cid) == []


async def test_follow_up_waits_for_its_next_attempt(client, admin):
    cid = await live_campaign(client, admin, contacts=[ANN], execution_mode="on_contact_added")
    due = utcnow() + dt.timedelta(days=1)
    await set_enrollments(Enrollment.campaign_id == cid, status="waiting", substatus="retry", attempts=1,
                          next_attempt_at=due, last_attempt_at=utcnow())
    assert await scheduler.start_due_runs() == []
    assert len(await scheduler.start_due_runs(due + dt.timedelta(seconds=1))) == 1


async def test_no_second_run_while_one_is_in_progress(client, admin):
    cid = await live_campaign(client, admin, contacts=[ANN], execution_mode="on_contact_added")
    async with session_scope() as s:
        await runs.create_run(s, await s.get(Campaign, cid), contact_ids=None, actor="t", queue=False)
    assert await scheduler.start_due_runs() == []
    async with session_scope() as s:
        assert (await s.execute(select(func.count()).select_from(PlanningRun))).scalar_one() == 1
        assert (await s.execute(select(func.count()).select_from(Outreach))).scalar_one() == 0


async def test_a_slow_run_that_keeps_moving_is_not_flooded(client, admin):
    cid = await live_campaign(client, admin, execution_mode="manual", contacts=[ANN, BO])
    async with session_scope() as s:
        run = await runs.create_run(s, await s.get(Campaign, cid), contact_ids=None, actor="t", queue=False)
        # One item settled just now; the other still waits in the queue behind it.
        await s.execute(update(PlanningRunItem).where(PlanningRunItem.run_id == run.id)
                        .where(PlanningRunItem.id == select(func.min(PlanningRunItem.id)).scalar_subquery())
                        .values(status="planned", updated_at=utcnow()))
    assert await scheduler.reconcile(utcnow() + scheduler.STALL / 2) == 0
    # A worker holding a live lease on one of the run's contacts also means "not stalled".
    await set_enrollments(Enrollment.campaign_id == cid, status="planning",
                          lease_until=utcnow() + dt.timedelta(minutes=5))
    assert await scheduler.reconcile(utcnow() + scheduler.STALL * 2) == 0


async def test_drafts_awaiting_execution_are_sent_when_due_and_only_once(client, admin):
    # Manual Review off: the planner's drafts await execution; the scheduler hands them over.
    cid = await live_campaign(client, admin, execution_mode="manual", manual_review=False, contacts=[ANN],
                              schedule=None)
    await client.post(f"/v1/campaigns/{cid}/start-outreaches", headers=admin)
    await drain_queue()
    [draft] = await outreaches(cid)
    assert draft.status == "awaiting_execution"
    assert await scheduler.dispatch_due(draft.scheduled_at - dt.timedelta(seconds=1)) == 0  # not yet due
    now = max(utcnow(), draft.scheduled_at)
    sent = await scheduler.dispatch_due(now)
    await drain_queue()
    [after] = await outreaches(cid)
    # The planner scheduled it inside the contact's hours, so it goes out now; and only once.
    from agent.scheduling import Window, is_allowed
    inside = is_allowed(utcnow(), Window.for_campaign(contact_tz=None, campaign_timezone="America/New_York",
                                                      schedule=None))
    assert sent == 1 and after.status == ("sent" if inside else "awaiting_execution")
    assert (await enrollments(client, admin, cid))["Ann"]["attempts"] == (1 if inside else 0)
    assert await scheduler.dispatch_due(now) == (0 if inside else 1)


async def _the_enrollment(cid: str) -> str:
    async with session_scope() as s:
        return (await s.execute(select(Enrollment.id).where(Enrollment.campaign_id == cid))).scalar_one()


async def test_a_lease_renewed_after_the_read_keeps_the_enrollment_with_its_worker(client, admin, monkeypatch):
    """A lapsed lease read by a second planner, renewed by its worker before the claim: a renewal
    leaves the version as it was, so only the lease in the claim's condition keeps the row."""
    from planner import context, service

    cid = await live_campaign(client, admin, execution_mode="manual", contacts=[ANN])
    await set_enrollments(Enrollment.campaign_id == cid, status="planning",
                          lease_until=utcnow() - dt.timedelta(seconds=1))
    eid = await _the_enrollment(cid)
    real = context.load

    async def read_then_renewed(s, enrollment_id, now):  # noqa: ANN001, ANN202
        loaded = await real(s, enrollment_id, now)
        # As another worker's renewal would: the row changes, the row this planner read does not.
        await s.execute(update(Enrollment).where(Enrollment.id == enrollment_id)
                        .values(lease_until=utcnow() + dt.timedelta(minutes=1))
                        .execution_options(synchronize_session=False))
        return loaded

    monkeypatch.setattr(context, "load", read_then_renewed)
    await service.plan_enrollment(eid)
    assert (await enrollments(client, admin, cid))["Ann"]["status"] == "planning"
    assert await outreaches(cid) == []


async def test_a_plan_whose_enrollment_moved_while_drafting_is_dropped(client, admin, monkeypatch):
    """Another writer moved the enrollment during the model call (its version went up): the
    plan's route finds the row changed and writes nothing."""
    from planner import service

    cid = await live_campaign(client, admin, execution_mode="manual", contacts=[ANN])
    eid = await _the_enrollment(cid)
    real = service.draft_with_model

    async def moved_meanwhile(*args):  # noqa: ANN002, ANN202
        async with session_scope() as s:
            await s.execute(update(Enrollment).where(Enrollment.id == eid)
                            .values(version=Enrollment.version + 1))
        return await real(*args)

    monkeypatch.setattr(service, "draft_with_model", moved_meanwhile)
    await service.plan_enrollment(eid)
    assert await outreaches(cid) == []
    async with session_scope() as s:
        row = await s.get(Enrollment, eid)
        assert row.status == "planning"  # left as the other writer left it, for the reconciler
