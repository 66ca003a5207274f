"""The manual task channel's work list: read by every role, completed by approvers and admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from agent.filters import parse_statuses
from agent.states import TaskStatus
from agent.tasks import service
from agent.tasks.schemas import TaskComplete, TaskOut, TaskPage
from api.deps import Approver, Reader, SessionDep
from api.errors import ERROR_RESPONSES
from api.idempotency import AnsweringRoute

router = APIRouter(tags=["tasks"], route_class=AnsweringRoute, responses=ERROR_RESPONSES)


@router.get("/v1/tasks", response_model=TaskPage, summary="The task list")
async def list_tasks(session: SessionDep, who: Reader,
                     status: Annotated[str | None, Query(description="`pending`, `completed`, or both "
                                                         "comma-separated; all when absent")] = None,
                     limit: Annotated[int, Query(ge=1, le=200)] = 50,
                     cursor: str | None = None) -> TaskPage:
    """The workspace's tasks, oldest first, each with its contact and campaign."""
    return await service.list_tasks(session, who.workspace_id, statuses=parse_statuses(status, TaskStatus),
                                    cursor=cursor, limit=limit)


@router.post("/v1/tasks/{task_id}/complete", response_model=TaskOut, summary="Complete a task")
async def complete_task(task_id: str, body: TaskComplete, session: SessionDep, who: Approver) -> TaskOut:
    """Once: a second call answers 409 ``invalid_transition``."""
    return await service.complete(session, who.workspace_id, task_id, body, who.key_id)
