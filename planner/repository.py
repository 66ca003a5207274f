"""Planner lookups: planning runs by id within a workspace, the enrollments a run covers, and
what the contact has said and achieved so far (the context of a follow-up)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import Exists

from agent.lookup import get_in_workspace
from agent.voice.calls import OUTBOUND
from agent.models import (Conversation, Evaluation, Goal, GoalResult, InboundMessage, Outreach, PlanningRun,
                          PlanningRunItem)
from agent.states import OUTREACH_SENT, AnswerStatus, ChannelKind, ConversationStatus, GoalResultValue, InboundKind
from planner.state import GoalOutcome, PastReply

# A conversation whose evaluation has not come this long after it was due no longer holds the
# contact back (the evaluators retry on their own; planning does not wait for them forever).
EVALUATION_GRACE = dt.timedelta(hours=1)
REPLIES_MAX = 10


async def get_run(session: AsyncSession, workspace_id: str, run_id: str) -> PlanningRun:
    return await get_in_workspace(session, PlanningRun, workspace_id, run_id, missing=f"no planning run {run_id}")


async def run_enrollment_ids(session: AsyncSession, run_id: str) -> list[str]:
    """The enrollments the run was asked to plan, in no particular order."""
    return list((await session.execute(select(PlanningRunItem.enrollment_id)
                                       .where(PlanningRunItem.run_id == run_id))).scalars())


async def replies_of(session: AsyncSession, enrollment_id: str) -> list[PastReply]:
    """The contact's replies in this campaign, oldest first (the newest ``REPLIES_MAX``)."""
    rows = (await session.execute(
        select(InboundMessage.channel, InboundMessage.received_at, InboundMessage.text, InboundMessage.intent)
        .where(InboundMessage.enrollment_id == enrollment_id, InboundMessage.kind == InboundKind.reply)
        .order_by(InboundMessage.received_at.desc()).limit(REPLIES_MAX))).all()
    return [PastReply(r.channel, r.received_at, r.text or "", r.intent.value if r.intent else None)
            for r in reversed(rows)]


async def goal_outcomes(session: AsyncSession, enrollment_id: str) -> list[GoalOutcome]:
    """Each goal's result in each evaluated conversation of the enrollment (a person's correction
    counts instead of the model's answer), primary goal first."""
    result = func.coalesce(GoalResult.corrected_result, GoalResult.result)
    rows = (await session.execute(
        select(Goal.name, Goal.is_primary, result, GoalResult.reason)
        .join(Evaluation, Evaluation.id == GoalResult.evaluation_id)
        .join(Conversation, Conversation.id == GoalResult.conversation_id)
        .join(Goal, Goal.id == GoalResult.goal_id)
        .where(Conversation.enrollment_id == enrollment_id, Evaluation.is_current.is_(True))
        .order_by(Goal.is_primary.desc(), Conversation.created_at))).all()
    return [GoalOutcome(name, bool(primary), GoalResultValue(value), reason or "") for name, primary, value, reason in rows]


def awaiting_evaluation(enrollment_id: Any, since: Any) -> Exists:
    """A finished conversation of the enrollment is due to be judged and has not been yet: its
    result decides whether the contact gets another outreach at all. An EXISTS, for an id or a
    column of the enclosing query (the planner asks it beside the enrollment's own row);
    ``since`` is ``now - EVALUATION_GRACE``, a value or a bound parameter."""
    current = exists().where(Evaluation.conversation_id == Conversation.id, Evaluation.is_current.is_(True))
    return exists().where(
        Conversation.enrollment_id == enrollment_id, Conversation.status == ConversationStatus.closed,
        Conversation.evaluate_after.is_not(None), Conversation.evaluated_at.is_(None),
        Conversation.evaluate_after > since, ~current)


def touch_of(enrollment_id: Any, channel_ids: list[str] | None = None) -> tuple[Exists, Exists]:
    """A one-time campaign's one touch, as two EXISTS (called, messaged) for an id or a column of
    the enclosing query; :func:`touch_word` reads their answers. ``channel_ids`` counts only those
    channels' touches: a remarketing run's contact has its own one touch."""
    call = exists().where(Conversation.enrollment_id == enrollment_id, Conversation.direction == OUTBOUND,
                          Conversation.answer_status == AnswerStatus.human)
    message = exists().where(Outreach.enrollment_id == enrollment_id, Outreach.channel != ChannelKind.voice,
                             Outreach.status.in_(OUTREACH_SENT))
    if channel_ids is not None:
        call = call.where(Conversation.outreach_id.in_(select(Outreach.id).where(Outreach.channel_id.in_(channel_ids))))
        message = message.where(Outreach.channel_id.in_(channel_ids))
    return call, message


def touch_word(called: bool, messaged: bool) -> str | None:
    """``"call"`` when an outbound call of the enrollment reached a person, ``"message"`` when a message
    (email, text, task) was taken by its provider and not failed since (a bounce after the send
    undoes it), None when neither happened yet (a failed send, a voicemail, no answer or a
    declined call leave the retries open)."""
    return "call" if called else "message" if messaged else None
