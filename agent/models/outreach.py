"""Planned touches (outreaches) and their edit history."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from agent.models.base import Base, StrEnumType, created_column, enum_check, fk, id_column, updated_column
from agent.states import OutreachStatus


class Outreach(Base):
    __tablename__ = "outreaches"
    # campaign/status/created_at: the stats' count of drafts waiting past the approval SLA.
    __table_args__ = (Index("ix_outreaches_ws_status_id", "workspace_id", "status", "id"),
                      Index("ix_outreaches_campaign_status_created", "campaign_id", "status", "created_at"),
                      enum_check("status", OutreachStatus))
    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = fk("workspaces.id", index=False)
    campaign_id: Mapped[str] = fk("campaigns.id")
    enrollment_id: Mapped[str] = fk("enrollments.id")
    channel_id: Mapped[str | None] = fk("channels.id", ondelete="SET NULL", nullable=True)
    planning_run_id: Mapped[str | None] = fk("planning_runs.id", ondelete="SET NULL", nullable=True)
    supersedes_id: Mapped[str | None] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(10))
    step: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[OutreachStatus] = mapped_column(StrEnumType(OutreachStatus, 30))
    scheduled_at: Mapped[dt.datetime | None]
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text, default="")
    rationale: Mapped[str] = mapped_column(Text, default="")
    instruction: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(200), default="")
    prompt_version: Mapped[str] = mapped_column(String(64), default="")
    # The campaign brief and AI variables it was drafted under (agent.campaigns.brief_hash): an
    # approval covers that brief, so a send after the brief changed goes back to review.
    brief_hash: Mapped[str | None] = mapped_column(String(64))
    # The campaign's settings_version when it was planned: an edit applies to later plans only.
    settings_version: Mapped[int | None] = mapped_column(Integer)
    # Sends tried and refused for now (transient provider errors); bounded by the executor.
    send_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0)
    idempotency_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    # What the recipient's opt-out link carries (random, so a link names no id of ours).
    unsubscribe_token: Mapped[str | None] = mapped_column(String(40), unique=True)
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    approved_by: Mapped[str | None] = mapped_column(String(40))
    approved_at: Mapped[dt.datetime | None]
    sent_at: Mapped[dt.datetime | None]
    caller_number_id: Mapped[str | None] = mapped_column(String(40))  # the number a call went out on
    lease_until: Mapped[dt.datetime | None]  # a placed call stays executing until its report, up to this
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = created_column()
    updated_at: Mapped[dt.datetime] = updated_column()


class OutreachRevision(Base):
    __tablename__ = "outreach_revisions"
    id: Mapped[str] = id_column()
    outreach_id: Mapped[str] = fk("outreaches.id")
    number: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    scheduled_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = created_column()
