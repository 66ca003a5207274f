"""What people say about the evaluators' answers: corrections kept beside the model's answer, the
answers of a conversation as the API shows them, and how often the model agreed with people.

A correction never overwrites the model's answer: the row keeps both, the API shows the corrected
one as ``result`` / ``value`` with the model's beside it, and the roll-up counts the correction.
Agreement per goal and question is the share of corrected answers where the person confirmed
what the model said (same result word; same value, a multiple choice compared as a set).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity
from agent.db import utcnow
from agent.errors import ValidationFailed
from agent.models import Analysis, AnalysisAnswer, Evaluation, Goal, GoalResult
from agent.states import AnalysisType, GoalResultValue
from agent.voice.conversations import ConversationSummary, get_conversation
from agent.voice.repository import get_conversation as get_conversation_row
from evaluators.answers import QuestionDef, answer_model, jsonable
from evaluators.repository import current_answer


class GoalResultOut(BaseModel):
    id: str
    goal_id: str
    name: str
    is_primary: bool
    result: GoalResultValue = Field(description="The person's correction when there is one, else the model's")
    score: int | None
    reason: str
    evidence: str | None
    supported: bool = Field(description="False when the model's quote was not in the transcript (dropped)")
    model_result: GoalResultValue
    model_score: int | None
    corrected: bool
    corrected_by: str | None
    corrected_at: Any | None


class AnalysisAnswerOut(BaseModel):
    id: str
    analysis_id: str
    name: str
    type: AnalysisType
    value: Any = Field(description="Typed by the analysis type; null when unknown; the correction if any")
    reason: str
    evidence: str | None
    supported: bool
    model_value: Any
    corrected: bool
    corrected_by: str | None
    corrected_at: Any | None


class ConversationDetail(ConversationSummary):
    """A conversation with its transcript and its current evaluation's answers (empty before one)."""

    goal_results: list[GoalResultOut]
    analysis_answers: list[AnalysisAnswerOut]


async def conversation_detail(session: AsyncSession, workspace_id: str, conversation_id: str) -> ConversationDetail:
    summary = await get_conversation(session, workspace_id, conversation_id)
    goals, answers = await answers_of(session, summary.id)
    return ConversationDetail(**summary.model_dump(), goal_results=goals, analysis_answers=answers)


async def answers_of(session: AsyncSession, conversation_id: str) -> tuple[list[GoalResultOut], list[AnalysisAnswerOut]]:
    """The current evaluation's answers (primary goal first); empty lists before any."""
    current = select(Evaluation.id).where(Evaluation.conversation_id == conversation_id,
                                          Evaluation.is_current.is_(True)).scalar_subquery()
    goals = (await session.execute(select(GoalResult, Goal.name, Goal.is_primary)
                                   .join(Goal, Goal.id == GoalResult.goal_id)
                                   .where(GoalResult.evaluation_id == current)
                                   .order_by(Goal.is_primary.desc(), Goal.created_at))).all()
    answers = (await session.execute(select(AnalysisAnswer, Analysis.name, Analysis.type)
                                     .join(Analysis, Analysis.id == AnalysisAnswer.analysis_id)
                                     .where(AnalysisAnswer.evaluation_id == current)
                                     .order_by(Analysis.created_at))).all()
    return ([_goal_out(r, name, primary) for r, name, primary in goals],
            [_answer_out(r, name, kind) for r, name, kind in answers])


def _goal_out(r: GoalResult, name: str, primary: bool) -> GoalResultOut:
    corrected = r.corrected_result is not None
    return GoalResultOut(
        id=r.id, goal_id=r.goal_id, name=name, is_primary=primary,
        result=r.corrected_result if corrected else r.result,
        score=r.corrected_score if corrected and r.corrected_score is not None else r.score,
        reason=r.reason, evidence=r.evidence, supported=r.supported, model_result=r.result, model_score=r.score,
        corrected=corrected, corrected_by=r.corrected_by, corrected_at=r.corrected_at)


def _answer_out(r: AnalysisAnswer, name: str, kind: str) -> AnalysisAnswerOut:
    return AnalysisAnswerOut(
        id=r.id, analysis_id=r.analysis_id, name=name, type=kind, value=r.corrected_value if r.corrected else r.value,
        reason=r.reason, evidence=r.evidence, supported=r.supported, model_value=r.value, corrected=r.corrected,
        corrected_by=r.corrected_by, corrected_at=r.corrected_at)


async def correct_goal(session: AsyncSession, workspace_id: str, actor: str, conversation_id: str, goal_id: str, *,
                       result: GoalResultValue, score: int | None) -> GoalResultOut:
    conv = await get_conversation_row(session, workspace_id, conversation_id)
    row: GoalResult = await current_answer(session, GoalResult, conv.id, GoalResult.goal_id, goal_id)
    before = {"result": row.corrected_result or row.result, "score": row.corrected_score or row.score}
    row.corrected_result, row.corrected_score = result.value, score
    row.corrected_by, row.corrected_at = actor, utcnow()
    goal = (await session.execute(select(Goal.name, Goal.is_primary).where(Goal.id == goal_id))).one()
    activity.record(session, workspace_id=workspace_id, actor=actor, kind="evaluation.corrected",
                    campaign_id=conv.campaign_id, contact_id=conv.contact_id, enrollment_id=conv.enrollment_id,
                    payload={"conversation_id": conv.id, "goal_id": goal_id, "before": before,
                             "after": {"result": result.value, "score": score}, "model": row.result})
    await session.flush()
    return _goal_out(row, goal.name, goal.is_primary)


async def correct_answer(session: AsyncSession, workspace_id: str, actor: str, conversation_id: str,
                         analysis_id: str, *, value: Any) -> AnalysisAnswerOut:
    conv = await get_conversation_row(session, workspace_id, conversation_id)
    row: AnalysisAnswer = await current_answer(session, AnalysisAnswer, conv.id, AnalysisAnswer.analysis_id, analysis_id)
    a = (await session.execute(select(Analysis).where(Analysis.id == analysis_id))).scalar_one()
    q = QuestionDef(a.id, a.name, a.description or "", a.type, tuple(a.options or ()), a.scale_min, a.scale_max,
                    a.data_type)
    try:
        typed = answer_model(q, "Correction").model_validate_json(json.dumps({"value": value, "reason": ""})).value
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        raise ValidationFailed(f"not a valid answer for a {a.type} question: {first['msg']}",
                               errors=[{"loc": ["body", "value", *first["loc"][1:]], "message": first["msg"]}])
    before = row.corrected_value if row.corrected else row.value
    row.corrected, row.corrected_value = True, jsonable(typed)
    row.corrected_by, row.corrected_at = actor, utcnow()
    activity.record(session, workspace_id=workspace_id, actor=actor, kind="evaluation.corrected",
                    campaign_id=conv.campaign_id, contact_id=conv.contact_id, enrollment_id=conv.enrollment_id,
                    payload={"conversation_id": conv.id, "analysis_id": analysis_id, "before": before,
                             "after": row.corrected_value, "model": row.value})
    await session.flush()
    return _answer_out(row, a.name, a.type)


class Agreement(BaseModel):
    id: str
    name: str
    kind: str = Field(description="`goal` or the analysis type")
    evaluated: int = Field(description="Conversations whose current evaluation answered it")
    corrected: int = Field(description="Of those, answers a person corrected")
    agreed: int = Field(description="Corrections that kept the model's answer")
    agreement: float | None = Field(description="agreed / corrected; null before any correction")


class EvaluationQuality(BaseModel):
    campaign_id: str
    goals: list[Agreement]
    analyses: list[Agreement]


def _same(kind: str, model: Any, person: Any) -> bool:
    if kind == AnalysisType.multiple_choice and isinstance(model, list) and isinstance(person, list):
        return set(model) == set(person)
    return model == person


async def quality(session: AsyncSession, campaign_id: str) -> EvaluationQuality:
    """How often the model agreed with people, per goal and question of the campaign."""
    current = Evaluation.is_current.is_(True)
    goals = (await session.execute(select(Goal.id, Goal.name).where(Goal.campaign_id == campaign_id)
                                   .order_by(Goal.created_at))).all()
    goal_counts = {gid: (n, fixed, agreed) for gid, n, fixed, agreed in (await session.execute(
        select(GoalResult.goal_id, func.count(), func.count(GoalResult.corrected_result),
               func.count().filter(GoalResult.corrected_result == GoalResult.result))
        .join(Evaluation, Evaluation.id == GoalResult.evaluation_id)
        .join(Goal, Goal.id == GoalResult.goal_id)
        .where(Goal.campaign_id == campaign_id, current).group_by(GoalResult.goal_id))).all()}
    analyses = (await session.execute(select(Analysis).where(Analysis.campaign_id == campaign_id)
                                      .order_by(Analysis.created_at))).scalars().all()
    answered = dict((await session.execute(
        select(AnalysisAnswer.analysis_id, func.count()).join(Evaluation, Evaluation.id == AnalysisAnswer.evaluation_id)
        .join(Analysis, Analysis.id == AnalysisAnswer.analysis_id)
        .where(Analysis.campaign_id == campaign_id, current).group_by(AnalysisAnswer.analysis_id))).all())
    corrected = (await session.execute(
        select(AnalysisAnswer.analysis_id, AnalysisAnswer.value, AnalysisAnswer.corrected_value)
        .join(Evaluation, Evaluation.id == AnalysisAnswer.evaluation_id)
        .join(Analysis, Analysis.id == AnalysisAnswer.analysis_id)
        .where(Analysis.campaign_id == campaign_id, current, AnalysisAnswer.corrected.is_(True)))).all()
    kinds = {a.id: a.type for a in analyses}
    tally: dict[str, list[int]] = {}
    for analysis_id, model, person in corrected:
        counts = tally.setdefault(analysis_id, [0, 0])
        counts[0] += 1
        counts[1] += _same(kinds[analysis_id], model, person)
    return EvaluationQuality(
        campaign_id=campaign_id,
        goals=[_agreement(gid, name, "goal", *goal_counts.get(gid, (0, 0, 0))) for gid, name in goals],
        analyses=[_agreement(a.id, a.name, a.type, answered.get(a.id, 0), *tally.get(a.id, [0, 0]))
                  for a in analyses])


def _agreement(id_: str, name: str, kind: str, evaluated: int, corrected: int, agreed: int) -> Agreement:
    return Agreement(id=id_, name=name, kind=kind, evaluated=evaluated, corrected=corrected, agreed=agreed,
                     agreement=round(agreed / corrected, 4) if corrected else None)


class EvaluationOut(BaseModel):
    id: str
    status: str = Field(description="queued, running, succeeded or failed")
    is_current: bool = Field(description="The run whose answers the conversation shows")
    model: str
    prompt_version: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    error: str | None = Field(description="Why it failed, or why some answers were recorded as unknown")
    created_at: Any
    goal_results: list[dict[str, Any]] = Field(description="What the model answered in this run")
    analysis_answers: list[dict[str, Any]]


async def history(session: AsyncSession, workspace_id: str, conversation_id: str) -> list[EvaluationOut]:
    """Every evaluation of a conversation, newest first, with the model's own answers in each."""
    conv = await get_conversation_row(session, workspace_id, conversation_id)
    runs = (await session.execute(select(Evaluation).where(Evaluation.conversation_id == conv.id)
                                  .order_by(Evaluation.created_at.desc(), Evaluation.id.desc()))).scalars().all()
    ids = [r.id for r in runs]
    goals: dict[str, list[dict[str, Any]]] = {}
    for g in (await session.execute(select(GoalResult).where(GoalResult.evaluation_id.in_(ids)))).scalars():
        goals.setdefault(g.evaluation_id, []).append(
            {"goal_id": g.goal_id, "result": g.result, "score": g.score, "reason": g.reason, "evidence": g.evidence,
             "supported": g.supported})
    answers: dict[str, list[dict[str, Any]]] = {}
    for a in (await session.execute(select(AnalysisAnswer).where(AnalysisAnswer.evaluation_id.in_(ids)))).scalars():
        answers.setdefault(a.evaluation_id, []).append(
            {"analysis_id": a.analysis_id, "value": a.value, "reason": a.reason, "evidence": a.evidence,
             "supported": a.supported})
    return [EvaluationOut(id=r.id, status=r.status, is_current=r.is_current, model=r.model,
                          prompt_version=r.prompt_version, input_tokens=r.input_tokens, output_tokens=r.output_tokens,
                          cost_usd=r.cost_usd, error=r.error, created_at=r.created_at,
                          goal_results=goals.get(r.id, []), analysis_answers=answers.get(r.id, [])) for r in runs]
