"""Conversations (calls and message threads), their turns, and evaluator results."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from agent.models.base import Base, StrEnumType, created_column, enum_check, fk, id_column
from agent.states import AnswerStatus, ConversationStatus, JobStatus


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("workspace_id", "external_id"), enum_check("status", ConversationStatus),
                      enum_check("answer_status", AnswerStatus, nullable=True))
    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = fk("workspaces.id", index=False)
    campaign_id: Mapped[str | None] = fk("campaigns.id", nullable=True)
    enrollment_id: Mapped[str | None] = fk("enrollments.id", nullable=True)
    contact_id: Mapped[str | None] = fk("contacts.id", ondelete="SET NULL", nullable=True)
    outreach_id: Mapped[str | None] = fk("outreaches.id", ondelete="SET NULL", nullable=True)
    external_id: Mapped[str | None] = mapped_column(String(200))  # the voice platform's call id
    channel: Mapped[str] = mapped_column(String(10))
    direction: Mapped[str] = mapped_column(String(10))  # outbound, inbound
    status: Mapped[ConversationStatus] = mapped_column(StrEnumType(ConversationStatus, 20),
                                                       default=ConversationStatus.open)
    from_number: Mapped[str | None] = mapped_column(String(40))
    to_number: Mapped[str | None] = mapped_column(String(40))
    answer_status: Mapped[AnswerStatus | None] = mapped_column(StrEnumType(AnswerStatus, 20))
    ended_reason: Mapped[str | None] = mapped_column(String(100))
    duration_s: Mapped[float | None] = mapped_column(Float)
    recording_url: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None]
    evaluate_after: Mapped[dt.datetime | None]
    evaluated_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = created_column()


class ConversationTurn(Base):
    __tablename__ = "conversation_turns"
    __table_args__ = (UniqueConstraint("conversation_id", "seq"),)
    id: Mapped[str] = id_column()
    conversation_id: Mapped[str] = fk("conversations.id", index=False)
    seq: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(20))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_column()


class Evaluation(Base):
    """One evaluator run over one conversation; re-evaluation adds a new one (history kept)."""

    __tablename__ = "evaluations"
    __table_args__ = (enum_check("status", JobStatus),)
    id: Mapped[str] = id_column()
    conversation_id: Mapped[str] = fk("conversations.id")
    status: Mapped[JobStatus] = mapped_column(StrEnumType(JobStatus, 20))
    model: Mapped[str] = mapped_column(String(200), default="")
    prompt_version: Mapped[str] = mapped_column(String(64), default="")
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = created_column()


class GoalResult(Base):
    __tablename__ = "goal_results"
    id: Mapped[str] = id_column()
    evaluation_id: Mapped[str] = fk("evaluations.id")
    conversation_id: Mapped[str] = fk("conversations.id")
    goal_id: Mapped[str] = fk("goals.id")
    result: Mapped[str] = mapped_column(String(30))
    score: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[str | None] = mapped_column(Text)
    supported: Mapped[bool] = mapped_column(Boolean, default=True)
    corrected_result: Mapped[str | None] = mapped_column(String(30))
    corrected_score: Mapped[int | None] = mapped_column(Integer)
    corrected_by: Mapped[str | None] = mapped_column(String(40))
    corrected_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = created_column()


class AnalysisAnswer(Base):
    __tablename__ = "analysis_answers"
    id: Mapped[str] = id_column()
    evaluation_id: Mapped[str] = fk("evaluations.id")
    conversation_id: Mapped[str] = fk("conversations.id")
    analysis_id: Mapped[str] = fk("analyses.id")
    value: Mapped[Any | None] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[str | None] = mapped_column(Text)
    supported: Mapped[bool] = mapped_column(Boolean, default=True)
    corrected_value: Mapped[Any | None] = mapped_column(JSON)
    corrected: Mapped[bool] = mapped_column(Boolean, default=False)
    corrected_by: Mapped[str | None] = mapped_column(String(40))
    corrected_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = created_column()
