"""Task queries: by idempotency key, by id within a workspace, and the work list's page."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.errors import NotFound
from agent.models import Campaign, Contact, Task
from agent.pagination import keyset
from agent.states import TaskStatus


async def find_by_key(session: AsyncSession, idempotency_key: str) -> Task | None:
    return (await session.execute(select(Task).where(Task.idempotency_key == idempotency_key))).scalar_one_or_none()


async def campaign_workspace(session: AsyncSession, campaign_id: str) -> str | None:
    return (await session.execute(select(Campaign.workspace_id).where(Campaign.id == campaign_id))).scalar_one_or_none()


async def get_task(session: AsyncSession, workspace_id: str, task_id: str) -> tuple[Task, Contact, Campaign]:
    """The workspace's task with its contact and campaign, read fresh; NotFound for any other."""
    row = (await session.execute(
        _with_context().where(Task.id == task_id, Task.workspace_id == workspace_id)
        .execution_options(populate_existing=True))).first()
    if row is None:
        raise NotFound(f"no task {task_id}")
    return row[0], row[1], row[2]


async def list_tasks(session: AsyncSession, workspace_id: str, *, statuses: list[TaskStatus] | None,
                     cursor: str | None, limit: int) -> list[tuple[Task, Contact, Campaign]]:
    """Oldest first (a work list), ``limit + 1`` rows so the caller knows whether more follow."""
    q = _with_context().where(Task.workspace_id == workspace_id)
    if statuses is not None:
        q = q.where(Task.status.in_(statuses))
    q = keyset(q, sort_col=None, id_col=Task.id, cursor=cursor, descending=False, limit=limit)
    return [(r[0], r[1], r[2]) for r in (await session.execute(q)).all()]


def _with_context():  # noqa: ANN202 - a Select of three entities
    return (select(Task, Contact, Campaign)
            .join(Contact, Contact.id == Task.contact_id)
            .join(Campaign, Campaign.id == Task.campaign_id))
