"""Database-level builders for tests, and readers of what the app stored.

Each builder is one line at the call site with keyword overrides, and opens its own session the way
the app's actors do. Rows go through the real services where there is one (keys, calls); the rest
are written as the code that owns them leaves them (caller numbers and goals the way the demo seeds
them, a finished call the way the end-of-call report closes it). HTTP journeys live in
``tests/flows.py``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update

from agent.auth import create_key, get_or_create_workspace, hash_key
from agent.channels.base import OutboundMessage
from agent.db import session_scope
from agent.ids import new_id
from agent.models import (ActivityEvent, ApiKey, CallerNumber, Campaign, Contact, Conversation, ConversationTurn,
                          Enrollment, Evaluation, Goal, Outreach, Workspace)
from agent.states import Role

GOALS = [("Secondary: details confirmed", "The patient confirmed their contact details.", False),
         ("Appointment booked", "The patient agreed to a date and time for a check-up.", True)]


# -- workspaces and keys ---------------------------------------------------------------------

async def make_key(role: Role | str = Role.admin, workspace: str = "acme") -> str:
    """A new API key (raw) with ``role`` in ``workspace``, created if need be."""
    async with session_scope() as session:
        ws = await get_or_create_workspace(session, workspace)
        _, raw = await create_key(session, ws.id, Role(role))
    return raw


async def workspace_id(name: str = "acme") -> str:
    async with session_scope() as s:
        return (await s.execute(select(Workspace.id).where(Workspace.name == name))).scalar_one()


async def workspace_of(campaign_id: str) -> str:
    async with session_scope() as s:
        return (await s.execute(select(Campaign.workspace_id).where(Campaign.id == campaign_id))).scalar_one()


async def key_id(headers: dict[str, str]) -> str:
    """The id of the API key behind bearer ``headers``."""
    raw = headers["Authorization"].removeprefix("Bearer ")
    async with session_scope() as s:
        return (await s.execute(select(ApiKey.id).where(ApiKey.key_hash == hash_key(raw)))).scalar_one()


# -- what campaigns carry beyond the API -----------------------------------------------------

async def add_caller_number(campaign_id: str, number: str) -> str:
    async with session_scope() as s:
        row = CallerNumber(id=new_id("num"), campaign_id=campaign_id, number=number, friendly_name="Main line")
        s.add(row)
    return row.id


async def add_goals(campaign_id: str, goals=GOALS) -> list[str]:
    """Goals as ``(name, description, is_primary)``, written the way the demo seeds them."""
    ids = []
    async with session_scope() as s:
        for name, description, primary in goals:
            ids.append(new_id("goal"))
            s.add(Goal(id=ids[-1], campaign_id=campaign_id, name=name, description=description, is_primary=primary))
    return ids


# -- enrollments, outreaches and conversations in a given state ------------------------------

async def set_enrollments(*where: Any, **values: Any) -> None:
    """Put the enrollments matching ``where`` in a state (``status=``, ``lease_until=``, ...), the
    way a worker that claimed them, or died holding them, leaves them."""
    async with session_scope() as s:
        await s.execute(update(Enrollment).where(*where).values(**values))


async def add_outreach(campaign_id: str, enrollment_id: str, *, status: str, channel: str = "voice",
                       body: str = "Call", **values: Any) -> str:
    """An outreach row in ``status`` as the executor leaves it (its id is its idempotency key)."""
    outreach_id = new_id("out")
    ws = await workspace_of(campaign_id)
    async with session_scope() as s:
        s.add(Outreach(id=outreach_id, workspace_id=ws, campaign_id=campaign_id, enrollment_id=enrollment_id,
                       channel=channel, status=status, body=body, idempotency_key=outreach_id, **values))
    return outreach_id


async def add_conversation(campaign_id: str, *, enrollment: dict | None = None, answer_status: str | None = "human",
                           turns: Sequence[tuple[int, str, str]] = (), status: str = "closed",
                           direction: str = "outbound", call_id: str | None = None, **values: Any) -> str:
    """A conversation row as the voice hook and the end-of-call report leave it (turns: seq, role,
    text); ``enrollment`` is an enrollment as the API lists it, or pass ``enrollment_id`` and
    ``contact_id``. A closed call lasted 42 s from ``started_at`` unless told otherwise."""
    ws = await workspace_of(campaign_id)
    started = values.pop("started_at", dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC))
    closed = status == "closed"
    row = {"enrollment_id": enrollment["id"] if enrollment else None,
           "contact_id": enrollment["contact"]["id"] if enrollment else None,
           "ended_at": started + dt.timedelta(seconds=42) if closed else None,
           "duration_s": 42.0 if closed else None, **values}
    async with session_scope() as s:
        c = Conversation(id=new_id("cnv"), workspace_id=ws, campaign_id=campaign_id,
                         external_id=call_id or new_id("call"), channel="voice", direction=direction, status=status,
                         answer_status=answer_status, started_at=started, **row)
        s.add(c)
        await s.flush()
        for seq, role, content in turns:
            s.add(ConversationTurn(id=new_id("turn"), conversation_id=c.id, seq=seq, role=role, content=content))
    return c.id


# -- reading what was stored -----------------------------------------------------------------

async def count(model: Any, *where: Any, **filters: Any) -> int:
    """Rows of ``model`` matching the SQL ``where`` clauses and ``column=value`` ``filters``."""
    async with session_scope() as s:
        q = select(func.count()).select_from(model).where(*where).filter_by(**filters)
        return (await s.execute(q)).scalar_one()


async def outreaches(campaign_id: str) -> list[Outreach]:
    async with session_scope() as s:
        return list((await s.execute(select(Outreach).where(Outreach.campaign_id == campaign_id)
                                     .order_by(Outreach.id))).scalars())


async def nothing_left_planning() -> bool:
    async with session_scope() as s:
        return (await s.execute(select(func.count()).select_from(Enrollment)
                                .where(Enrollment.status == "planning"))).scalar_one() == 0


async def outreach_row(outreach_id: str) -> Outreach:
    async with session_scope() as s:
        return (await s.execute(select(Outreach).where(Outreach.id == outreach_id))).scalar_one()


async def enrollment_row(enrollment_id: str) -> Enrollment:
    async with session_scope() as s:
        return (await s.execute(select(Enrollment).where(Enrollment.id == enrollment_id))).scalar_one()


async def enrollments_of(campaign_id: str) -> list[Enrollment]:
    async with session_scope() as s:
        return list((await s.execute(select(Enrollment).where(Enrollment.campaign_id == campaign_id)
                                     .order_by(Enrollment.id))).scalars())


async def events(outreach_id: str, kind: str | None = None) -> list[ActivityEvent]:
    """The activity rows of one outreach, oldest first (``tests.flows.events`` reads a campaign's log
    over HTTP)."""
    async with session_scope() as s:
        q = select(ActivityEvent).where(ActivityEvent.outreach_id == outreach_id)
        if kind:
            q = q.where(ActivityEvent.kind == kind)
        return list((await s.execute(q.order_by(ActivityEvent.id))).scalars())


async def conversation(call: str) -> Conversation | None:
    """The conversation of the voice platform's call id ``call``."""
    async with session_scope() as s:
        return (await s.execute(select(Conversation).where(Conversation.external_id == call))).scalar_one_or_none()


async def conversations(campaign_id: str | None = None) -> list[Conversation]:
    async with session_scope() as s:
        q = select(Conversation).order_by(Conversation.id)
        if campaign_id:
            q = q.where(Conversation.campaign_id == campaign_id)
        return list((await s.execute(q)).scalars())


async def turns(conversation_id: str) -> list[tuple[str, str]]:
    async with session_scope() as s:
        rows = (await s.execute(select(ConversationTurn).where(ConversationTurn.conversation_id == conversation_id)
                                .order_by(ConversationTurn.seq))).scalars()
        return [(t.role, t.content) for t in rows]


async def contact_by_phone(phone: str) -> Contact | None:
    async with session_scope() as s:
        return (await s.execute(select(Contact).where(Contact.phone == phone))).scalar_one_or_none()


async def evaluations_of(conversation_id: str) -> list[Evaluation]:
    async with session_scope() as s:
        return list((await s.execute(select(Evaluation).where(Evaluation.conversation_id == conversation_id)
                                     .order_by(Evaluation.created_at))).scalars())


# -- manual tasks ----------------------------------------------------------------------------

async def task_message(enrollment: Enrollment, *, subject: str | None = "Call about the webinar",
                       body: str = "Ring them and offer a seat on May 4.") -> OutboundMessage:
    """The message the executor hands the ``tasks`` provider for a new outreach of ``enrollment``
    (claimed, as the executor leaves it while sending)."""
    outreach_id = await add_outreach(enrollment.campaign_id, enrollment.id, status="executing", channel="task",
                                     subject=subject, body=body)
    return OutboundMessage(outreach_id=outreach_id, idempotency_key=outreach_id, channel="task", to=None,
                           subject=subject, body=body, config={"provider": "tasks"},
                           metadata={"outreach_id": outreach_id, "campaign_id": enrollment.campaign_id,
                                     "contact_id": enrollment.contact_id, "enrollment_id": enrollment.id})
