"""The ``tasks`` provider called directly, the way the executor calls it: a send becomes one task
per outreach, however often (or however concurrently) it is tried."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from sqlalchemy import select

from agent.channels import PROVIDERS, PermanentFailure, channel_for
from agent.channels.tasks import TASKS, task_title
from agent.db import session_scope
from agent.models import Task
from agent.states import Substatus
from agent.tasks import service
from tests.builders import count, enrollments_of, task_message, workspace_id
from tests.flows import live_campaign, people


@pytest.fixture
async def enrollment(client, admin):
    cid = await live_campaign(client, admin, channels=({"kind": "task", "provider": "tasks"},), contacts=people(1))
    [row] = await enrollments_of(cid)
    return row


async def _task(task_id: str) -> Task:
    async with session_scope() as s:
        return (await s.execute(select(Task).where(Task.id == task_id))).scalar_one()


def test_a_task_channel_naming_tasks_gets_the_task_list() -> None:
    assert channel_for("task", {"provider": "tasks"}) is TASKS is PROVIDERS["tasks"]()


async def test_the_same_outreach_sent_twice_makes_one_task(enrollment) -> None:
    message = await task_message(enrollment)
    first = await TASKS.send(message)
    again = await TASKS.send(message)
    assert first.provider == "tasks" and again.provider_message_id == first.provider_message_id
    assert await count(Task) == 1
    task = await _task(first.provider_message_id)
    assert task.status == "pending" and task.idempotency_key == message.idempotency_key
    assert (task.workspace_id, task.campaign_id, task.contact_id, task.enrollment_id, task.outreach_id) == (
        await workspace_id(), enrollment.campaign_id, enrollment.contact_id, enrollment.id, message.outreach_id)
    assert task.title == "Call about the webinar" and task.body == message.body and task.created_at is not None


async def test_another_outreach_makes_another_task(enrollment) -> None:
    one = await TASKS.send(await task_message(enrollment))
    other = await TASKS.send(await task_message(enrollment))
    assert one.provider_message_id != other.provider_message_id
    assert await count(Task) == 2


async def test_concurrent_sends_of_one_outreach_make_one_task(enrollment) -> None:
    message = await task_message(enrollment)
    results = await asyncio.gather(*(TASKS.send(message) for _ in range(4)))
    assert len({r.provider_message_id for r in results}) == 1
    assert await count(Task) == 1


async def test_a_send_that_lost_the_race_answers_the_winners_task(enrollment, monkeypatch) -> None:
    """The interleaving concurrency may or may not produce, made certain: the other send commits
    between this one's look-up and its insert, so the insert meets the unique key."""
    message = await task_message(enrollment)
    winner = await TASKS.send(message)
    real, missed = service.repository.find_by_key, []

    async def misses_once(session, key):  # noqa: ANN001, ANN202
        if not missed:
            missed.append(key)
            return None
        return await real(session, key)

    monkeypatch.setattr(service.repository, "find_by_key", misses_once)
    assert (await TASKS.send(message)).provider_message_id == winner.provider_message_id
    assert missed == [message.idempotency_key] and await count(Task) == 1


async def test_without_a_subject_the_title_is_the_first_line_of_the_body(enrollment) -> None:
    message = await task_message(enrollment, subject=None, body="\n  Call Ann back  \nShe asked about parking.")
    task = await _task((await TASKS.send(message)).provider_message_id)
    assert task.title == "Call Ann back"
    assert task_title("", "x" * 400) == "x" * 150


async def test_a_message_without_its_ids_is_refused_for_good(enrollment) -> None:
    message = dataclasses.replace(await task_message(enrollment), metadata={})
    with pytest.raises(PermanentFailure) as refused:
        await TASKS.send(message)
    assert refused.value.substatus == Substatus.system_error
    assert await count(Task) == 0


async def test_a_contact_that_is_gone_is_refused_for_good(enrollment) -> None:
    message = await task_message(enrollment)
    message = dataclasses.replace(message, metadata={**message.metadata, "contact_id": "ct_gone"})
    with pytest.raises(PermanentFailure, match="no longer exists"):
        await TASKS.send(message)
    assert await count(Task) == 0
