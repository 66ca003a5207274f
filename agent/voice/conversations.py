"""Read models of conversations for the API: one conversation with its transcript, and a
campaign's conversations newest first (keyset pages). Every read is scoped to the workspace."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.campaigns import service as campaigns
from agent.models import Conversation, ConversationTurn
from agent.pagination import keyset, page
from agent.states import AnswerStatus, ConversationStatus
from agent.voice import repository


class TurnOut(BaseModel):
    seq: int
    role: str = Field(description="`user` (the contact) or `assistant` (Overture)")
    content: str
    created_at: dt.datetime


class ConversationSummary(BaseModel):
    id: str
    campaign_id: str | None
    contact_id: str | None
    enrollment_id: str | None
    outreach_id: str | None
    call_id: str | None = Field(description="The voice platform's call id")
    channel: str
    direction: str = Field(description="`outbound` or `inbound`")
    status: ConversationStatus
    from_number: str | None
    to_number: str | None
    answer_status: AnswerStatus | None = Field(description="Null until the end-of-call report arrives")
    ended_reason: str | None
    duration_s: float | None
    recording_url: str | None
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    evaluate_after: dt.datetime | None = Field(description="When the evaluators may judge it (the contact "
                                               "completion timeout after the end)")
    evaluated_at: dt.datetime | None
    created_at: dt.datetime
    transcript: list[TurnOut] = Field(description="In the order spoken")


class ConversationPage(BaseModel):
    items: list[ConversationSummary]
    next_cursor: str | None


async def _transcripts(session: AsyncSession, ids: list[str]) -> dict[str, list[TurnOut]]:
    out: dict[str, list[TurnOut]] = defaultdict(list)
    if not ids:
        return out
    turns = (await session.execute(select(ConversationTurn).where(ConversationTurn.conversation_id.in_(ids))
                                   .order_by(ConversationTurn.conversation_id, ConversationTurn.seq))).scalars()
    for t in turns:
        out[t.conversation_id].append(TurnOut(seq=t.seq, role=t.role, content=t.content, created_at=t.created_at))
    return out


def _summary(c: Conversation, transcript: list[TurnOut]) -> dict[str, Any]:
    return dict(
        id=c.id, campaign_id=c.campaign_id, contact_id=c.contact_id, enrollment_id=c.enrollment_id,
        outreach_id=c.outreach_id, call_id=c.external_id, channel=c.channel, direction=c.direction, status=c.status,
        from_number=c.from_number, to_number=c.to_number, answer_status=c.answer_status, ended_reason=c.ended_reason,
        duration_s=c.duration_s, recording_url=c.recording_url, started_at=c.started_at, ended_at=c.ended_at,
        evaluate_after=c.evaluate_after, evaluated_at=c.evaluated_at, created_at=c.created_at, transcript=transcript)


async def get_conversation(session: AsyncSession, workspace_id: str, conversation_id: str) -> ConversationSummary:
    """One conversation of the workspace with its whole transcript; NotFound for any other."""
    c = await repository.get_conversation(session, workspace_id, conversation_id)
    turns = await _transcripts(session, [c.id])
    return ConversationSummary(**_summary(c, turns.get(c.id, [])))


async def list_conversations(session: AsyncSession, workspace_id: str, campaign_id: str, *,
                             answer_status: AnswerStatus | None = None, contact_id: str | None = None,
                             cursor: str | None = None, limit: int = 50) -> ConversationPage:
    """A campaign's conversations, newest first (ids are time-ordered), with their transcripts."""
    await campaigns.get(session, workspace_id, campaign_id)  # NotFound outside the workspace
    q = select(Conversation).where(Conversation.workspace_id == workspace_id, Conversation.campaign_id == campaign_id)
    if answer_status is not None:
        q = q.where(Conversation.answer_status == answer_status.value)
    if contact_id is not None:
        q = q.where(Conversation.contact_id == contact_id)
    q = keyset(q, sort_col=None, id_col=Conversation.id, cursor=cursor, descending=True, limit=limit)
    rows, next_cursor = page(list((await session.execute(q)).scalars()), limit, lambda c: (None, c.id))
    turns = await _transcripts(session, [c.id for c in rows])
    return ConversationPage(items=[ConversationSummary(**_summary(c, turns.get(c.id, []))) for c in rows],
                            next_cursor=next_cursor)
