"""The ``tasks`` provider: a send becomes a task on the work list a person completes through the
API (``GET /v1/tasks``), one task per outreach however often the send is tried."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from agent.channels.base import OutboundMessage, PermanentFailure, SendResult, TransientFailure
from agent.channels.rules import TASK_SUBJECT_MAX
from agent.db import session_scope
from agent.errors import NotFound
from agent.states import Substatus
from agent.tasks import service
from agent.tasks.schemas import NewTask


def task_title(subject: str | None, body: str) -> str:
    """The subject, else the body's first non-blank line, cut to a subject's length."""
    if subject and subject.strip():
        return subject.strip()[:TASK_SUBJECT_MAX]
    first = next((line.strip() for line in body.splitlines() if line.strip()), "")
    return first[:TASK_SUBJECT_MAX]


class TaskChannel:
    name = "tasks"

    async def send(self, message: OutboundMessage) -> SendResult:
        meta = message.metadata
        if not meta.get("campaign_id") or not meta.get("contact_id"):
            raise PermanentFailure("a task needs the campaign and contact ids in the message's metadata",
                                   substatus=Substatus.system_error)
        data = NewTask(idempotency_key=message.idempotency_key, campaign_id=meta["campaign_id"],
                       contact_id=meta["contact_id"], enrollment_id=meta.get("enrollment_id"),
                       outreach_id=meta.get("outreach_id") or message.outreach_id,
                       title=task_title(message.subject, message.body), body=message.body)
        # Any database error is safe to retry: the next try finds the task by its key if this one
        # committed after all, so nothing is ever ambiguous here.
        for attempt in (1, 2):
            try:
                async with session_scope() as session:
                    task = await service.open_task(session, data)
                return SendResult(provider=self.name, provider_message_id=task.id)
            except NotFound as exc:
                raise PermanentFailure(exc.detail, substatus=Substatus.system_error) from exc
            except IntegrityError as exc:
                if attempt == 1:
                    continue  # a concurrent send of the same key won; the retry reads its task
                # Not the key (the retry would have found it): a contact or enrollment that is gone.
                raise PermanentFailure("the task's campaign, contact or enrollment no longer exists",
                                       substatus=Substatus.system_error) from exc
            except SQLAlchemyError as exc:
                raise TransientFailure(f"the task list could not be written ({type(exc).__name__})") from exc
        raise AssertionError("unreachable")


TASKS = TaskChannel()
