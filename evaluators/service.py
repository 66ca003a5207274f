"""Evaluation runs: asked for (by the scheduler once a conversation's completion timeout has
passed, or by a person), claimed by a worker, judged in ONE model call, stored as the current
answers of the conversation with the earlier runs kept as history.

An ``Evaluation`` row is the unit of work: ``queued`` -> ``running`` -> ``succeeded`` | ``failed``,
each move a compare-and-set, so a redelivered message judges nothing twice. The model call runs
outside any transaction. A run that succeeds becomes the conversation's current evaluation;
corrections people made to the previous current answers carry over (they judge the
conversation, not the model run). When the rolled-up primary goal of a contact that is waiting
on this evaluation is achieved, the contact is completed: nothing more is sent to them.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity, llm
from agent.db import session_scope, utcnow
from agent.errors import InvalidTransition
from agent.ids import new_id
from agent.lifecycle.enrollments import move_enrollment
from agent.models import AnalysisAnswer, Campaign, Conversation, ConversationTurn, Evaluation, GoalResult
from agent.queue import enqueue
from agent.voice.repository import get_conversation
from agent.states import JOB_LIVE, ConversationStatus, EnrollmentAction, GoalResultValue, JobStatus
from evaluators.analyses import active_analyses
from evaluators.answers import Definitions, GoalDef, QuestionDef
from evaluators.goals import active_goals
from evaluators.judge import ConversationFacts, Verdict, judge
from evaluators.rollup import rollup

log = logging.getLogger(__name__)
J = JobStatus
ACTOR = "evaluators.evaluate"
# A queued or running evaluation older than this is taken for lost (its worker or message died):
# it is failed and the conversation asked for again; this is also the wait between two attempts
# for a conversation whose evaluations keep failing (a model that is down).
LEASE = dt.timedelta(minutes=10)
LOST = "the evaluation was not finished within its lease (a worker or message was lost)"


async def definitions(session: AsyncSession, campaign_id: str) -> Definitions:
    goals = await active_goals(session, campaign_id)
    questions = await active_analyses(session, campaign_id)
    return Definitions(
        goals=tuple(GoalDef(g.id, g.name, g.description or "", bool(g.is_primary)) for g in goals),
        questions=tuple(QuestionDef(a.id, a.name, a.description or "", a.type, tuple(a.options or ()),
                                    a.scale_min, a.scale_max, a.data_type) for a in questions))


async def request(session: AsyncSession, conversation: Conversation, *, actor: str, reason: str) -> Evaluation:
    """Queue an evaluation of ``conversation`` (sent once the caller's transaction commits)."""
    row = Evaluation(id=new_id("eval"), conversation_id=conversation.id, status=J.queued, is_current=False)
    session.add(row)
    await session.flush()
    activity.record(session, workspace_id=conversation.workspace_id, actor=actor, kind="conversation.evaluation_queued",
                    campaign_id=conversation.campaign_id, contact_id=conversation.contact_id,
                    enrollment_id=conversation.enrollment_id,
                    payload={"conversation_id": conversation.id, "evaluation_id": row.id, "reason": reason})
    enqueue(session, ACTOR, evaluation_id=row.id)
    return row


async def reevaluate(session: AsyncSession, workspace_id: str, conversation_id: str, actor: str) -> Evaluation:
    """A person asks for a new evaluation; one already queued or running is answered instead."""
    conv = await get_conversation(session, workspace_id, conversation_id)
    if conv.status != ConversationStatus.closed:
        raise InvalidTransition("the conversation is still open; it is evaluated once it has ended")
    pending = (await session.execute(select(Evaluation).where(
        Evaluation.conversation_id == conv.id, Evaluation.status.in_(JOB_LIVE),
        Evaluation.created_at > utcnow() - LEASE).order_by(Evaluation.created_at.desc()).limit(1))).scalar_one_or_none()
    return pending or await request(session, conv, actor=actor, reason="requested")


async def dispatch_due(now: dt.datetime | None = None, *, limit: int = 500) -> int:
    """The scheduler's duty: fail lost evaluations and queue the conversations whose completion
    timeout has passed and that have no current evaluation; how many were queued."""
    now = now or utcnow()
    async with session_scope() as s:
        await s.execute(update(Evaluation).where(
            Evaluation.status.in_(JOB_LIVE), Evaluation.created_at < now - LEASE)
            .values(status=J.failed, error=LOST).execution_options(synchronize_session=False))
        recent = exists().where(Evaluation.conversation_id == Conversation.id, Evaluation.created_at >= now - LEASE)
        current = exists().where(Evaluation.conversation_id == Conversation.id, Evaluation.is_current.is_(True))
        due = (await s.execute(select(Conversation).where(
            Conversation.status == ConversationStatus.closed, Conversation.evaluate_after <= now,
            Conversation.evaluated_at.is_(None), ~recent, ~current)
            .order_by(Conversation.evaluate_after).limit(limit))).scalars().all()
        for conv in due:
            await request(s, conv, actor=activity.SYSTEM, reason="completion_timeout")
    return len(due)


async def _claim(evaluation_id: str) -> tuple[Conversation, dict[str, str], Definitions, list[tuple[str, str]]] | None:
    async with session_scope() as s:
        claimed = await s.execute(update(Evaluation).where(
            Evaluation.id == evaluation_id, Evaluation.status == J.queued)
            .values(status=J.running).execution_options(synchronize_session=False))
        if claimed.rowcount != 1:
            return None
        conv = (await s.execute(select(Conversation).join(Evaluation, Evaluation.conversation_id == Conversation.id)
                                .where(Evaluation.id == evaluation_id))).scalar_one()
        campaign = (await s.execute(select(Campaign.name, Campaign.brief).where(
            Campaign.id == conv.campaign_id))).first() if conv.campaign_id else None
        defs = await definitions(s, conv.campaign_id) if conv.campaign_id else Definitions((), ())
        turns = [(t.role, t.content) for t in (await s.execute(
            select(ConversationTurn).where(ConversationTurn.conversation_id == conv.id)
            .order_by(ConversationTurn.seq))).scalars()]
    about = {"name": campaign.name if campaign else "", "brief": (campaign.brief or "") if campaign else ""}
    return conv, about, defs, turns


async def run(evaluation_id: str) -> JobStatus | None:
    """Judge and store one queued evaluation; its final status, or None if it was not queued."""
    claimed = await _claim(evaluation_id)
    if claimed is None:
        return None
    conv, about, defs, turns = claimed
    facts = ConversationFacts(conv.channel, conv.direction, conv.answer_status, conv.duration_s, conv.ended_reason)
    try:
        verdict = (await judge(defs, about, facts, turns) if not defs.empty
                   else Verdict((), (), "", "", 0, 0, 0.0, None))
    except llm.LLMError as exc:  # unavailable or refused: try again after the lease, never guess
        log.warning("evaluation %s of conversation %s failed: %s", evaluation_id, conv.id, exc)
        async with session_scope() as s:
            await s.execute(update(Evaluation).where(
                Evaluation.id == evaluation_id, Evaluation.status == J.running)
                .values(status=J.failed, error=f"{type(exc).__name__}: {exc}"[:2000])
                .execution_options(synchronize_session=False))
        return J.failed
    async with session_scope() as s:
        if not await _store(s, evaluation_id, conv, defs, verdict):
            return None
    return J.succeeded


async def _store(s: AsyncSession, evaluation_id: str, conv: Conversation, defs: Definitions,
                 verdict: Verdict) -> bool:
    now = utcnow()
    done = await s.execute(update(Evaluation).where(
        Evaluation.id == evaluation_id, Evaluation.status == J.running)
        .values(status=J.succeeded, model=verdict.model, prompt_version=verdict.prompt_version,
                input_tokens=verdict.input_tokens, output_tokens=verdict.output_tokens, cost_usd=verdict.cost_usd,
                error=verdict.error, is_current=True).execution_options(synchronize_session=False))
    if done.rowcount != 1:
        return False  # failed as lost meanwhile; a newer evaluation takes over
    previous = [e for (e,) in (await s.execute(select(Evaluation.id).where(
        Evaluation.conversation_id == conv.id, Evaluation.is_current.is_(True), Evaluation.id != evaluation_id)))]
    kept_goals, kept_answers = await _corrections(s, previous)
    await s.execute(update(Evaluation).where(Evaluation.id.in_(previous)).values(is_current=False)
                    .execution_options(synchronize_session=False))
    for g in verdict.goals:
        s.add(GoalResult(id=new_id("gres"), evaluation_id=evaluation_id, conversation_id=conv.id, goal_id=g.goal_id,
                         result=g.result.value, score=g.score, reason=g.reason, evidence=g.evidence,
                         supported=g.supported, **kept_goals.get(g.goal_id, {})))
    for a in verdict.answers:
        s.add(AnalysisAnswer(id=new_id("ans"), evaluation_id=evaluation_id, conversation_id=conv.id,
                             analysis_id=a.analysis_id, value=a.value, reason=a.reason, evidence=a.evidence,
                             supported=a.supported, **kept_answers.get(a.analysis_id, {})))
    await s.execute(update(Conversation).where(Conversation.id == conv.id).values(evaluated_at=now)
                    .execution_options(synchronize_session=False))
    primary = next((g for g, d in zip(verdict.goals, defs.goals) if d.is_primary), None)
    activity.record(s, workspace_id=conv.workspace_id, actor=activity.SYSTEM, kind="conversation.evaluated",
                    campaign_id=conv.campaign_id, contact_id=conv.contact_id, enrollment_id=conv.enrollment_id,
                    payload={"conversation_id": conv.id, "evaluation_id": evaluation_id, "model": verdict.model,
                             "primary_goal": primary.result.value if primary else None,
                             "invalid": verdict.error is not None})
    await s.flush()
    if conv.enrollment_id and primary is not None:
        await _complete_if_achieved(s, conv, primary.goal_id, now)
    return True


async def _corrections(s: AsyncSession, evaluation_ids: list[str]) -> tuple[dict[str, dict[str, Any]],
                                                                           dict[str, dict[str, Any]]]:
    if not evaluation_ids:
        return {}, {}
    goals = {r.goal_id: {"corrected_result": r.corrected_result, "corrected_score": r.corrected_score,
                         "corrected_by": r.corrected_by, "corrected_at": r.corrected_at}
             for r in (await s.execute(select(GoalResult).where(
                 GoalResult.evaluation_id.in_(evaluation_ids), GoalResult.corrected_result.is_not(None)))).scalars()}
    answers = {r.analysis_id: {"corrected": True, "corrected_value": r.corrected_value,
                               "corrected_by": r.corrected_by, "corrected_at": r.corrected_at}
               for r in (await s.execute(select(AnalysisAnswer).where(
                   AnalysisAnswer.evaluation_id.in_(evaluation_ids), AnalysisAnswer.corrected.is_(True)))).scalars()}
    return goals, answers


async def _complete_if_achieved(s: AsyncSession, conv: Conversation, goal_id: str, now: dt.datetime) -> None:
    rolled = (await rollup(s, [conv.enrollment_id])).get(conv.enrollment_id, {}).get(goal_id)
    if rolled is None or rolled.result != GoalResultValue.achieved:
        return
    moved = await move_enrollment(s, conv.enrollment_id, EnrollmentAction.complete, now=now,
                                  values={"next_attempt_at": None},
                                  payload={"reason": "primary_goal_achieved", "conversation_id": conv.id})
    if moved is not None:
        activity.record(s, workspace_id=conv.workspace_id, actor=activity.SYSTEM, kind="enrollment.completed",
                        campaign_id=conv.campaign_id, contact_id=conv.contact_id, enrollment_id=conv.enrollment_id,
                        payload={"reason": "primary_goal_achieved", "conversation_id": conv.id})
