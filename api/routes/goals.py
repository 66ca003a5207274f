"""Goals and analyses of a campaign: list, create, edit, archive and restore.

Reads take any role, writes an admin key; another workspace's rows answer 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Admin, Reader, SessionDep
from api.errors import ERROR_RESPONSES
from api.idempotency import AnsweringRoute
from evaluators import analyses, goals
from evaluators.schemas import (
    AnalysisCreate,
    AnalysisList,
    AnalysisOut,
    AnalysisUpdate,
    GoalCreate,
    GoalList,
    GoalOut,
    GoalUpdate,
)

router = APIRouter(prefix="/v1", route_class=AnsweringRoute, responses=ERROR_RESPONSES)
Archived = Annotated[bool, Query(description="true lists the archived ones instead of the others")]


# --- goals --------------------------------------------------------------------------


@router.get("/campaigns/{campaign_id}/goals", response_model=GoalList, tags=["goals"])
async def list_goals(campaign_id: str, session: SessionDep, who: Reader, archived: Archived = False) -> GoalList:
    """The active goals, primary first (or the archived ones with ``?archived=true``)."""
    rows = await goals.list_goals(session, who.workspace_id, campaign_id, archived=archived)
    return GoalList(items=[GoalOut.model_validate(g) for g in rows])


@router.post("/campaigns/{campaign_id}/goals", status_code=201, response_model=GoalOut, tags=["goals"])
async def create_goal(campaign_id: str, body: GoalCreate, session: SessionDep, who: Admin) -> GoalOut:
    """The campaign's first goal is primary; ``is_primary: true`` takes it over from the old one.
    409 ``conflict`` when an active goal has the name, ``campaign_archived`` on an archived campaign."""
    return GoalOut.model_validate(await goals.create(session, who.workspace_id, campaign_id, body, who.key_id))


@router.patch("/goals/{goal_id}", response_model=GoalOut, tags=["goals"])
async def update_goal(goal_id: str, body: GoalUpdate, session: SessionDep, who: Admin) -> GoalOut:
    """409 ``primary_goal_required`` for ``is_primary: false`` on the primary, ``goal_archived`` on
    an archived goal, ``conflict`` for a name another active goal has."""
    return GoalOut.model_validate(await goals.update(session, who.workspace_id, goal_id, body, who.key_id))


@router.post("/goals/{goal_id}/archive", response_model=GoalOut, tags=["goals"])
async def archive_goal(goal_id: str, session: SessionDep, who: Admin) -> GoalOut:
    """Archiving the primary promotes the oldest remaining goal. Archiving twice changes nothing."""
    return GoalOut.model_validate(await goals.archive(session, who.workspace_id, goal_id, who.key_id))


@router.post("/goals/{goal_id}/restore", response_model=GoalOut, tags=["goals"])
async def restore_goal(goal_id: str, session: SessionDep, who: Admin) -> GoalOut:
    """The restored goal is primary only when no active goal is. Restoring twice changes nothing."""
    return GoalOut.model_validate(await goals.restore(session, who.workspace_id, goal_id, who.key_id))


# --- analyses -----------------------------------------------------------------------


@router.get("/campaigns/{campaign_id}/analyses", response_model=AnalysisList, tags=["analyses"])
async def list_analyses(campaign_id: str, session: SessionDep, who: Reader,
                        archived: Archived = False) -> AnalysisList:
    """The analyses not archived, switched-off ones included (or the archived ones)."""
    rows = await analyses.list_analyses(session, who.workspace_id, campaign_id, archived=archived)
    return AnalysisList(items=[AnalysisOut.model_validate(a) for a in rows])


@router.post("/campaigns/{campaign_id}/analyses", status_code=201, response_model=AnalysisOut, tags=["analyses"])
async def create_analysis(campaign_id: str, body: AnalysisCreate, session: SessionDep, who: Admin) -> AnalysisOut:
    """422 ``validation_error`` naming each field that does not fit the type (``options`` for the
    choice types, ``scale_min``/``scale_max`` for rating, ``data_type`` for data_point)."""
    return AnalysisOut.model_validate(await analyses.create(session, who.workspace_id, campaign_id, body,
                                                            who.key_id))


@router.patch("/analyses/{analysis_id}", response_model=AnalysisOut, tags=["analyses"])
async def update_analysis(analysis_id: str, body: AnalysisUpdate, session: SessionDep, who: Admin) -> AnalysisOut:
    """The definition after the change must fit its type (422); a type change drops the old
    type's fields the request does not name. 409 ``analysis_archived`` on an archived one."""
    return AnalysisOut.model_validate(await analyses.update(session, who.workspace_id, analysis_id, body,
                                                            who.key_id))


@router.post("/analyses/{analysis_id}/archive", response_model=AnalysisOut, tags=["analyses"])
async def archive_analysis(analysis_id: str, session: SessionDep, who: Admin) -> AnalysisOut:
    return AnalysisOut.model_validate(await analyses.archive(session, who.workspace_id, analysis_id, who.key_id))


@router.post("/analyses/{analysis_id}/restore", response_model=AnalysisOut, tags=["analyses"])
async def restore_analysis(analysis_id: str, session: SessionDep, who: Admin) -> AnalysisOut:
    return AnalysisOut.model_validate(await analyses.restore(session, who.workspace_id, analysis_id, who.key_id))
