"""Evaluations of conversations: re-evaluate, the run history, human corrections, and how often
the model agreed with people (per goal and question of a campaign)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from agent.campaigns import service as campaigns
from agent.states import GoalResultValue
from api.deps import Approver, Reader, SessionDep
from api.errors import ERROR_RESPONSES
from api.idempotency import AnsweringRoute
from evaluators import corrections, service
from evaluators.corrections import AnalysisAnswerOut, EvaluationOut, EvaluationQuality, GoalResultOut

router = APIRouter(tags=["evaluations"], route_class=AnsweringRoute, responses=ERROR_RESPONSES)


class EvaluationQueued(BaseModel):
    evaluation_id: str
    status: str


class GoalCorrection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    result: GoalResultValue
    score: int | None = Field(None, ge=0, le=100, description="Optional; the model's score is kept when omitted")


class AnswerCorrection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: Any = Field(description="Typed like the question's answers; null: the conversation does not tell")


@router.post("/v1/conversations/{conversation_id}/evaluate", status_code=202, response_model=EvaluationQueued)
async def evaluate(conversation_id: str, session: SessionDep, who: Approver) -> EvaluationQueued:
    """Queue a new evaluation (the current answers stay until it succeeds; earlier runs are kept).
    409 ``invalid_transition`` while the conversation is still open."""
    row = await service.reevaluate(session, who.workspace_id, conversation_id, who.key_id)
    return EvaluationQueued(evaluation_id=row.id, status=row.status)


@router.get("/v1/conversations/{conversation_id}/evaluations", response_model=list[EvaluationOut])
async def evaluations(conversation_id: str, session: SessionDep, who: Reader) -> list[EvaluationOut]:
    return await corrections.history(session, who.workspace_id, conversation_id)


@router.put("/v1/conversations/{conversation_id}/goal-results/{goal_id}", response_model=GoalResultOut)
async def correct_goal(conversation_id: str, goal_id: str, body: GoalCorrection, session: SessionDep,
                       who: Approver) -> GoalResultOut:
    """A person's answer for a goal, kept beside the model's (and counted by the roll-up)."""
    return await corrections.correct_goal(session, who.workspace_id, who.key_id, conversation_id, goal_id,
                                          result=body.result, score=body.score)


@router.put("/v1/conversations/{conversation_id}/analysis-answers/{analysis_id}", response_model=AnalysisAnswerOut)
async def correct_answer(conversation_id: str, analysis_id: str, body: AnswerCorrection, session: SessionDep,
                         who: Approver) -> AnalysisAnswerOut:
    """A person's answer for a question, validated like the model's (422 naming the value)."""
    return await corrections.correct_answer(session, who.workspace_id, who.key_id, conversation_id, analysis_id,
                                            value=body.value)


@router.get("/v1/campaigns/{campaign_id}/evaluation-quality", response_model=EvaluationQuality)
async def evaluation_quality(campaign_id: str, session: SessionDep, who: Reader) -> EvaluationQuality:
    await campaigns.get(session, who.workspace_id, campaign_id)  # 404 outside the workspace
    return await corrections.quality(session, campaign_id)
