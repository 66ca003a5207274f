"""A campaign's goals: what a conversation should achieve, exactly one of them primary.

Every write locks the campaign row first, so two requests never both decide which goal is
primary (PostgreSQL; SQLite runs one writer at a time anyway), and the goals are read after it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity
from agent.campaigns import service as campaigns
from agent.campaigns.service import writable_campaign
from agent.db import utcnow
from agent.errors import Conflict
from agent.ids import new_id
from agent.models import Campaign, Goal
from evaluators.repository import owning_campaign_id
from evaluators.schemas import GoalCreate, GoalUpdate


async def active_goals(session: AsyncSession, campaign_id: str) -> list[Goal]:
    """The goals the judge scores: primary first, then in the order they were made."""
    q = (select(Goal).where(Goal.campaign_id == campaign_id, Goal.archived_at.is_(None))
         .order_by(Goal.is_primary.desc(), Goal.created_at, Goal.id))
    return list((await session.execute(q)).scalars())


async def list_goals(session: AsyncSession, workspace_id: str, campaign_id: str, *, archived: bool) -> list[Goal]:
    await campaigns.get(session, workspace_id, campaign_id)
    if not archived:
        return await active_goals(session, campaign_id)
    q = (select(Goal).where(Goal.campaign_id == campaign_id, Goal.archived_at.is_not(None))
         .order_by(Goal.created_at, Goal.id))
    return list((await session.execute(q)).scalars())


def _refuse_taken_name(others: list[Goal], name: str, goal_id: str | None = None) -> None:
    # Case-insensitive: "Booked" and "booked" would read as one goal in every report.
    if any(g.name.casefold() == name.casefold() and g.id != goal_id for g in others):
        raise Conflict(f"the campaign already has an active goal named {name!r}",
                       errors=[{"loc": ["body", "name"], "message": "already used by an active goal"}])


def _demote(goals: list[Goal], keep: Goal) -> str | None:
    demoted = None
    for g in goals:
        if g.is_primary and g.id != keep.id:
            g.is_primary, g.updated_at, demoted = False, utcnow(), g.id
    return demoted


def _record(session: AsyncSession, campaign: Campaign, actor: str, kind: str, goal: Goal, **payload: Any) -> None:
    activity.record(session, workspace_id=campaign.workspace_id, actor=actor, kind=kind, campaign_id=campaign.id,
                    payload={"goal_id": goal.id, "name": goal.name, **payload})


async def create(session: AsyncSession, workspace_id: str, campaign_id: str, data: GoalCreate, actor: str) -> Goal:
    campaign = await writable_campaign(session, workspace_id, campaign_id)
    others = await active_goals(session, campaign.id)
    _refuse_taken_name(others, data.name)
    goal = Goal(id=new_id("goal"), campaign_id=campaign.id, name=data.name, description=data.description,
                is_primary=data.is_primary or not others)
    demoted = _demote(others, goal) if goal.is_primary else None
    session.add(goal)
    await session.flush()
    _record(session, campaign, actor, "goal.created", goal, is_primary=goal.is_primary, demoted_goal_id=demoted)
    return goal


async def _load_for_write(session: AsyncSession, workspace_id: str, goal_id: str) -> tuple[Campaign, Goal, list[Goal]]:
    campaign_id = await owning_campaign_id(session, workspace_id, Goal, goal_id, "goal")
    campaign = await writable_campaign(session, workspace_id, campaign_id)
    goal = (await session.execute(select(Goal).where(Goal.id == goal_id)
                                  .execution_options(populate_existing=True))).scalar_one()
    return campaign, goal, await active_goals(session, campaign.id)


async def update(session: AsyncSession, workspace_id: str, goal_id: str, data: GoalUpdate, actor: str) -> Goal:
    campaign, goal, others = await _load_for_write(session, workspace_id, goal_id)
    if goal.archived_at is not None:
        raise Conflict("an archived goal cannot be edited; restore it first", code="goal_archived")
    if data.is_primary is False and goal.is_primary:
        raise Conflict("a campaign with goals always has a primary one; make another goal primary instead",
                       code="primary_goal_required",
                       errors=[{"loc": ["body", "is_primary"], "message": "the primary goal cannot be unset"}])
    if data.name is not None:
        _refuse_taken_name(others, data.name, goal.id)
        goal.name = data.name
    if data.description is not None:
        goal.description = data.description
    demoted = None
    if data.is_primary:
        goal.is_primary = True
        demoted = _demote(others, goal)
    goal.updated_at = utcnow()
    await session.flush()
    _record(session, campaign, actor, "goal.updated", goal, fields=sorted(data.model_fields_set),
            demoted_goal_id=demoted)
    return goal


async def archive(session: AsyncSession, workspace_id: str, goal_id: str, actor: str) -> Goal:
    """Hide the goal from the judge; the oldest remaining goal takes over as primary. Idempotent."""
    campaign, goal, others = await _load_for_write(session, workspace_id, goal_id)
    if goal.archived_at is not None:
        return goal
    promoted = None
    # An archived goal is never primary: restoring it must not make two.
    was_primary, goal.is_primary = goal.is_primary, False
    goal.archived_at = goal.updated_at = utcnow()
    remaining = sorted((g for g in others if g.id != goal.id), key=lambda g: (g.created_at, g.id))
    if was_primary and remaining:
        heir = remaining[0]
        heir.is_primary, heir.updated_at, promoted = True, utcnow(), heir.id
    await session.flush()
    _record(session, campaign, actor, "goal.archived", goal, promoted_goal_id=promoted)
    return goal


async def restore(session: AsyncSession, workspace_id: str, goal_id: str, actor: str) -> Goal:
    """Bring an archived goal back, primary only if no active goal is. Idempotent."""
    campaign, goal, others = await _load_for_write(session, workspace_id, goal_id)
    if goal.archived_at is None:
        return goal
    if any(g.name.casefold() == goal.name.casefold() for g in others):
        raise Conflict(f"an active goal is already named {goal.name!r}; rename or archive it first",
                       errors=[{"loc": ["name"], "message": "already used by an active goal"}])
    goal.archived_at = None
    goal.is_primary = not any(g.is_primary for g in others)
    goal.updated_at = utcnow()
    await session.flush()
    _record(session, campaign, actor, "goal.restored", goal, is_primary=goal.is_primary)
    return goal
