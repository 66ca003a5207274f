"""The task list's behaviour: open a task once per outreach, list a workspace's tasks, complete one
once. Functions take the session first and never commit: the caller owns the transaction."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity
from agent.db import utcnow
from agent.errors import InvalidTransition, NotFound
from agent.ids import new_id
from agent.models import Campaign, Contact, Task
from agent.pagination import page
from agent.states import TaskStatus
from agent.tasks import repository
from agent.tasks.schemas import NewTask, TaskCampaign, TaskComplete, TaskContact, TaskOut, TaskPage


async def open_task(session: AsyncSession, data: NewTask) -> Task:
    """The task for ``data.idempotency_key``: the one already there, else a new ``pending`` one.

    Two concurrent first calls for one key both insert; the unique key makes the second commit
    fail, and its caller's retry finds the first's row here.
    """
    existing = await repository.find_by_key(session, data.idempotency_key)
    if existing is not None:
        return existing
    workspace_id = await repository.campaign_workspace(session, data.campaign_id)
    if workspace_id is None:
        raise NotFound(f"no campaign {data.campaign_id}")
    task = Task(id=new_id("tsk"), workspace_id=workspace_id, campaign_id=data.campaign_id, contact_id=data.contact_id,
                enrollment_id=data.enrollment_id, outreach_id=data.outreach_id,
                idempotency_key=data.idempotency_key, title=data.title, body=data.body, status=TaskStatus.pending)
    session.add(task)
    await session.flush()
    return task


async def list_tasks(session: AsyncSession, workspace_id: str, *, statuses: list[TaskStatus] | None = None,
                     cursor: str | None = None, limit: int = 50) -> TaskPage:
    rows = await repository.list_tasks(session, workspace_id, statuses=statuses, cursor=cursor, limit=limit)
    kept, next_cursor = page(rows, limit, lambda r: (None, r[0].id))
    return TaskPage(items=[to_out(*r) for r in kept], next_cursor=next_cursor)


async def complete(session: AsyncSession, workspace_id: str, task_id: str, data: TaskComplete, actor: str) -> TaskOut:
    """Complete a pending task, once: who and when are recorded with a ``task.completed`` event.
    A task already completed is ``invalid_transition``, however the two calls interleave."""
    task, _, _ = await repository.get_task(session, workspace_id, task_id)
    now = utcnow()
    # Compare-and-set on the status: of two concurrent completions exactly one matches a row.
    moved = await session.execute(
        update(Task).where(Task.id == task.id, Task.status == TaskStatus.pending)
        .values(status=TaskStatus.completed, outcome=data.outcome, note=data.note, completed_by=actor,
                completed_at=now, updated_at=now)
        .execution_options(synchronize_session=False))
    if moved.rowcount != 1:
        raise InvalidTransition(f"task {task_id} is already completed")
    activity.record(session, workspace_id=workspace_id, actor=actor, kind="task.completed",
                    campaign_id=task.campaign_id, contact_id=task.contact_id, enrollment_id=task.enrollment_id,
                    outreach_id=task.outreach_id,
                    payload={"task_id": task.id, "outcome": data.outcome, "note": data.note})
    return to_out(*await repository.get_task(session, workspace_id, task_id))


def to_out(task: Task, contact: Contact, campaign: Campaign) -> TaskOut:
    return TaskOut(
        id=task.id, status=task.status, title=task.title, body=task.body,
        contact=TaskContact(id=contact.id, name=" ".join(p for p in (contact.first_name, contact.last_name) if p),
                            email=contact.email, phone=contact.phone),
        campaign=TaskCampaign(id=campaign.id, name=campaign.name), enrollment_id=task.enrollment_id,
        outreach_id=task.outreach_id, outcome=task.outcome, note=task.note, completed_by=task.completed_by,
        completed_at=task.completed_at, created_at=task.created_at)
