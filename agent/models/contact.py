"""Workspace contacts, suppressions and campaign enrollments."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from agent.models.base import Base, StrEnumType, created_column, enum_check, fk, id_column, updated_column
from agent.states import EnrollmentStatus, Priority, Substatus


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        # Dedup keys: phone first, then case-folded email, per workspace.
        UniqueConstraint("workspace_id", "phone"),
        UniqueConstraint("workspace_id", "email_key"),
        enum_check("priority", Priority),
    )
    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = fk("workspaces.id", index=False)
    first_name: Mapped[str] = mapped_column(String(200), default="")
    last_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320))
    email_key: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(20))
    timezone: Mapped[str | None] = mapped_column(String(64))
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    priority: Mapped[Priority] = mapped_column(StrEnumType(Priority, 10), default=Priority.normal)
    crm_id: Mapped[str | None] = mapped_column(String(200))
    owner_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = created_column()
    updated_at: Mapped[dt.datetime] = updated_column()


class Suppression(Base):
    """An address Overture must never contact again (opt-out, do-not-call, hard bounce)."""

    __tablename__ = "suppressions"
    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = fk("workspaces.id")
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    email_key: Mapped[str | None] = mapped_column(String(320), index=True)
    # ``all`` or one channel kind: a STOP by text need not silence email (the reason says why).
    channel: Mapped[str] = mapped_column(String(10), default="all", server_default="all")
    reason: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = created_column()


class Enrollment(Base):
    __tablename__ = "enrollments"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id"),
        Index("ix_enrollments_campaign_status", "campaign_id", "status"),
        enum_check("status", EnrollmentStatus),
        enum_check("substatus", Substatus, nullable=True),
    )
    id: Mapped[str] = id_column()
    # No index of its own: reads go through the campaign; an index here only slows bulk enrollment.
    workspace_id: Mapped[str] = fk("workspaces.id", index=False)
    campaign_id: Mapped[str] = fk("campaigns.id", index=False)
    contact_id: Mapped[str] = fk("contacts.id")
    status: Mapped[EnrollmentStatus] = mapped_column(StrEnumType(EnrollmentStatus, 30))
    substatus: Mapped[Substatus | None] = mapped_column(StrEnumType(Substatus, 40))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None]
    last_attempt_at: Mapped[dt.datetime | None]
    lease_until: Mapped[dt.datetime | None]
    source: Mapped[str] = mapped_column(String(20), default="api")  # api, csv, manual, inbound
    version: Mapped[int] = mapped_column(Integer, default=1)
    removed_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = created_column()
    updated_at: Mapped[dt.datetime] = updated_column()
