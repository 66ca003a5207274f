"""What a reviewer needs beside a draft: the contact's whole story in this campaign.

Earlier outreaches with their outcome, the contact's replies (and bounces, out-of-office notes),
calls and message threads with their transcripts and goal results, the contact's properties and
the campaign's goals, oldest first. ``fingerprint`` changes whenever anything here does, so the
inbox can poll cheaply and redraw only when a reply has come in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.models import (Conversation, ConversationTurn, Enrollment, Evaluation, Goal, GoalResult,
                          InboundMessage, Outreach)
from agent.states import InboundKind
from review.service import get_item_rows

TURNS_MAX = 200  # per conversation shown beside a draft; the conversation's own page has them all
_SHOWN_KINDS = (InboundKind.reply, InboundKind.auto_reply, InboundKind.bounce, InboundKind.unsubscribe)


class ThreadGoal(BaseModel):
    name: str
    description: str
    is_primary: bool


class ThreadResult(BaseModel):
    goal: str
    is_primary: bool
    result: str = Field(description="A person's correction when there is one, else the evaluator's answer")
    reason: str


class ThreadEntry(BaseModel):
    """One thing that happened, oldest first."""

    kind: Literal["outreach", "inbound", "conversation"]
    at: dt.datetime
    channel: str
    id: str
    status: str = Field(description="Outreach status, inbound kind, or conversation answer status")
    subject: str | None = None
    text: str = ""
    intent: str | None = None
    error: str | None = None
    is_this_draft: bool = False
    transcript: list[tuple[str, str]] = []
    results: list[ThreadResult] = []


class ContactThread(BaseModel):
    outreach_id: str
    outreach_status: str
    enrollment_status: str
    enrollment_substatus: str | None
    contact_timezone: str | None
    contact_properties: dict[str, Any]
    goals: list[ThreadGoal]
    entries: list[ThreadEntry]
    fingerprint: str = Field(description="Changes whenever the thread does (poll and compare)")


async def contact_thread(session: AsyncSession, workspace_id: str, outreach_id: str) -> ContactThread:
    """The story beside one draft of the workspace (404 for another workspace's)."""
    o, campaign, contact = await get_item_rows(session, workspace_id, outreach_id)
    enrollment = await session.get(Enrollment, o.enrollment_id)
    goals = (await session.execute(select(Goal).where(Goal.campaign_id == campaign.id, Goal.archived_at.is_(None))
                                   .order_by(Goal.is_primary.desc(), Goal.id))).scalars().all()
    entries = [*await _outreaches(session, o), *await _inbound(session, o.enrollment_id),
               *await _conversations(session, o.enrollment_id)]
    entries.sort(key=lambda e: (e.at, e.kind != "outreach", e.id))
    thread = ContactThread(
        outreach_id=o.id, outreach_status=o.status, enrollment_status=enrollment.status if enrollment else "",
        enrollment_substatus=enrollment.substatus if enrollment else None,
        contact_timezone=contact.timezone, contact_properties=dict(contact.properties or {}),
        goals=[ThreadGoal(name=g.name, description=g.description, is_primary=g.is_primary) for g in goals],
        entries=entries, fingerprint="")
    thread.fingerprint = hashlib.sha256(thread.model_dump_json().encode()).hexdigest()[:16]
    return thread


async def _outreaches(session: AsyncSession, this: Outreach) -> list[ThreadEntry]:
    rows = (await session.execute(select(Outreach).where(Outreach.enrollment_id == this.enrollment_id)
                                  .order_by(Outreach.id))).scalars().all()
    return [ThreadEntry(kind="outreach", at=r.sent_at or r.created_at, channel=r.channel, id=r.id, status=r.status,
                        subject=r.subject, text=r.body, error=r.error, is_this_draft=r.id == this.id) for r in rows]


async def _inbound(session: AsyncSession, enrollment_id: str) -> list[ThreadEntry]:
    rows = (await session.execute(select(InboundMessage).where(
        InboundMessage.enrollment_id == enrollment_id, InboundMessage.kind.in_(_SHOWN_KINDS))
        .order_by(InboundMessage.received_at))).scalars().all()
    return [ThreadEntry(kind="inbound", at=r.received_at, channel=r.channel, id=r.id, status=r.kind,
                        subject=r.subject, text=r.text or "", intent=r.intent,
                        error=r.bounce_type and f"{r.bounce_type} bounce") for r in rows]


async def _conversations(session: AsyncSession, enrollment_id: str) -> list[ThreadEntry]:
    convs = (await session.execute(select(Conversation).where(Conversation.enrollment_id == enrollment_id)
                                   .order_by(Conversation.created_at))).scalars().all()
    if not convs:
        return []
    ids = [c.id for c in convs]
    turns: dict[str, list[tuple[str, str]]] = {}
    for cid, role, content in (await session.execute(
            select(ConversationTurn.conversation_id, ConversationTurn.role, ConversationTurn.content)
            .where(ConversationTurn.conversation_id.in_(ids)).order_by(ConversationTurn.seq))).all():
        if len(turns.setdefault(cid, [])) < TURNS_MAX:
            turns[cid].append((role, content))
    results: dict[str, list[ThreadResult]] = {}
    for cid, name, primary, value, reason in (await session.execute(
            select(GoalResult.conversation_id, Goal.name, Goal.is_primary,
                   func.coalesce(GoalResult.corrected_result, GoalResult.result), GoalResult.reason)
            .join(Evaluation, Evaluation.id == GoalResult.evaluation_id).join(Goal, Goal.id == GoalResult.goal_id)
            .where(GoalResult.conversation_id.in_(ids), Evaluation.is_current.is_(True))
            .order_by(Goal.is_primary.desc(), Goal.id))).all():
        results.setdefault(cid, []).append(ThreadResult(goal=name, is_primary=primary, result=value, reason=reason))
    # A message thread's turns are the outreaches and replies already listed: show its results only.
    return [ThreadEntry(kind="conversation", at=c.started_at or c.created_at, channel=c.channel, id=c.id,
                        status=c.answer_status or c.status,
                        transcript=[] if c.channel != "voice" else turns.get(c.id, []),
                        results=results.get(c.id, [])) for c in convs]


async def enrollment_entries(session: AsyncSession, enrollment_id: str) -> list[ThreadEntry]:
    """A contact's whole story in one campaign, oldest first: every outreach, reply and conversation
    (with transcript and goal results), as the inbox shows it beside a draft."""
    rows = (await session.execute(select(Outreach).where(Outreach.enrollment_id == enrollment_id)
                                  .order_by(Outreach.id))).scalars().all()
    entries = [ThreadEntry(kind="outreach", at=r.sent_at or r.created_at, channel=r.channel, id=r.id, status=r.status,
                           subject=r.subject, text=r.body, error=r.error) for r in rows]
    entries += [*await _inbound(session, enrollment_id), *await _conversations(session, enrollment_id)]
    entries.sort(key=lambda e: (e.at, e.kind != "outreach", e.id))
    return entries
