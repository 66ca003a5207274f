"""Background jobs with progress: planning runs, imports and exports, and the activity log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from agent.models.base import Base, StrEnumType, created_column, enum_check, fk, id_column
from agent.states import JobStatus, PlanningItemStatus


class PlanningRun(Base):
    __tablename__ = "planning_runs"
    __table_args__ = (enum_check("status", JobStatus),)
    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = fk("workspaces.id")
    campaign_id: Mapped[str] = fk("campaigns.id")
    status: Mapped[JobStatus] = mapped_column(StrEnumType(JobStatus, 20))
    total: Mapped[int] = mapped_column(Integer, default=0)
    planned: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    requested_by: Mapped[str | None] = mapped_column(String(40))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_column()
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]


class PlanningRunItem(Base):
    __tablename__ = "planning_run_items"
    __table_args__ = (UniqueConstraint("run_id", "enrollment_id"), enum_check("status", PlanningItemStatus))
    id: Mapped[str] = id_column()
    run_id: Mapped[str] = fk("planning_runs.id", index=False)
    enrollment_id: Mapped[str] = fk("enrollments.id")
    status: Mapped[PlanningItemStatus] = mapped_column(StrEnumType(PlanningItemStatus, 20))
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = created_column()


class ImportJob(Base):
    __tablename__ = "import_jobs"
    __table_args__ = (enum_check("status", JobStatus),)
    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = fk("workspaces.id")
    campaign_id: Mapped[str] = fk("campaigns.id")
    status: Mapped[JobStatus] = mapped_column(StrEnumType(JobStatus, 20))
    filename: Mapped[str] = mapped_column(String(255), default="")
    content: Mapped[bytes | None] = mapped_column(LargeBinary)  # dropped once the job ends
    mapping: Mapped[dict[str, Any] | None]
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    added: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[Any]] = mapped_column(default=list)
    warnings: Mapped[list[Any]] = mapped_column(default=list)
    error_code: Mapped[str | None] = mapped_column(String(60))
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = created_column()
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    # Renewed on every progress write; past it the worker is taken for dead (agent/recovery.py).
    lease_until: Mapped[dt.datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ExportJob(Base):
    __tablename__ = "export_jobs"
    __table_args__ = (enum_check("status", JobStatus),)
    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = fk("workspaces.id")
    campaign_id: Mapped[str] = fk("campaigns.id")
    format: Mapped[str] = mapped_column(String(20))  # csv, csv_semicolon, xlsx, json
    status: Mapped[JobStatus] = mapped_column(StrEnumType(JobStatus, 20))
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    content: Mapped[bytes | None] = mapped_column(LargeBinary)  # unused: the file lives in export_chunks
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = created_column()
    finished_at: Mapped[dt.datetime | None]
    started_at: Mapped[dt.datetime | None]
    size_bytes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error_code: Mapped[str | None] = mapped_column(String(60))
    # Renewed on every batch written; past it the worker is taken for dead (agent/recovery.py).
    lease_until: Mapped[dt.datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ExportChunk(Base):
    """One piece (up to 1 MB) of an export's file, in order: the file is never held whole in memory,
    and any API process can serve it (no shared disk between workers and servers)."""

    __tablename__ = "export_chunks"
    __table_args__ = (UniqueConstraint("export_id", "seq"),)
    id: Mapped[str] = id_column()
    export_id: Mapped[str] = fk("export_jobs.id", index=False)
    seq: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ActivityEvent(Base):
    """Append-only audit: every transition and every human action."""

    __tablename__ = "activity_events"
    __table_args__ = (Index("ix_activity_campaign_id", "campaign_id", "id"),)
    id: Mapped[str] = id_column()
    # Reads filter by campaign (the composite index) and then kind/contact inside it; fewer
    # indexes keep the per-contact events of a 10,000-row import cheap.
    workspace_id: Mapped[str] = fk("workspaces.id", index=False)
    campaign_id: Mapped[str | None] = fk("campaigns.id", ondelete="SET NULL", nullable=True, index=False)
    contact_id: Mapped[str | None] = fk("contacts.id", ondelete="SET NULL", nullable=True)
    enrollment_id: Mapped[str | None] = mapped_column(String(40))
    outreach_id: Mapped[str | None] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(40))  # an api key id, or "system"
    kind: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = created_column()
