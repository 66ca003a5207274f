"""Per-contact roll-up of goal results over all of a contact's conversations in a campaign.

A goal's result for an enrollment is the best any of its conversations reached (achieved >
partially achieved > not achieved > unknown) and its score the highest; a person's correction
counts instead of the model's answer it corrects. Only each conversation's current evaluation
counts (re-evaluations replace, they do not add up).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.models import Conversation, Evaluation, Goal, GoalResult
from agent.states import GoalResultValue
from evaluators.answers import OUTCOME_RANK


@dataclass(frozen=True, slots=True)
class GoalRollup:
    goal_id: str
    result: GoalResultValue
    score: int | None
    conversations: int  # evaluated conversations that answered this goal


async def rollup(session: AsyncSession, enrollment_ids: Sequence[str]) -> dict[str, dict[str, GoalRollup]]:
    """enrollment id -> goal id -> its roll-up (enrollments with no evaluated conversation absent)."""
    ids = [i for i in enrollment_ids if i]
    if not ids:
        return {}
    result = func.coalesce(GoalResult.corrected_result, GoalResult.result)
    score = func.coalesce(GoalResult.corrected_score, GoalResult.score)
    rows = (await session.execute(
        select(Conversation.enrollment_id, GoalResult.goal_id, result, score)
        .join(Evaluation, Evaluation.id == GoalResult.evaluation_id)
        .join(Conversation, Conversation.id == GoalResult.conversation_id)
        .where(Conversation.enrollment_id.in_(ids), Evaluation.is_current.is_(True)))).all()
    out: dict[str, dict[str, GoalRollup]] = {}
    for enrollment_id, goal_id, value, points in rows:
        word = GoalResultValue(value)
        seen = out.setdefault(enrollment_id, {}).get(goal_id)
        if seen is None:
            out[enrollment_id][goal_id] = GoalRollup(goal_id, word, points, 1)
            continue
        best = word if OUTCOME_RANK[word] > OUTCOME_RANK[seen.result] else seen.result
        top = max((p for p in (points, seen.score) if p is not None), default=None)
        out[enrollment_id][goal_id] = GoalRollup(goal_id, best, top, seen.conversations + 1)
    return out


@dataclass(frozen=True, slots=True)
class PrimaryGoal:
    goal_id: str
    name: str
    result: GoalResultValue  # unknown until a conversation has been evaluated
    score: int | None


async def primary_results(session: AsyncSession, campaign_id: str,
                          enrollment_ids: Sequence[str]) -> dict[str, PrimaryGoal]:
    """The contact table's column: each enrollment's primary goal result and score."""
    goal = (await session.execute(select(Goal.id, Goal.name).where(
        Goal.campaign_id == campaign_id, Goal.is_primary.is_(True), Goal.archived_at.is_(None)))).first()
    if goal is None:
        return {}
    rolled = await rollup(session, enrollment_ids)
    out = {}
    for enrollment_id in enrollment_ids:
        r = rolled.get(enrollment_id, {}).get(goal.id)
        out[enrollment_id] = PrimaryGoal(goal.id, goal.name, r.result if r else GoalResultValue.unknown,
                                         r.score if r else None)
    return out
