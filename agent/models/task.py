"""Manual tasks: the work list the ``tasks`` channel provider fills and people complete."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from agent.models.base import Base, StrEnumType, created_column, enum_check, fk, id_column, updated_column
from agent.states import TaskStatus


class Task(Base):
    __tablename__ = "tasks"
    # The work list reads one workspace's tasks of one status in id order.
    __table_args__ = (Index("ix_tasks_ws_status_id", "workspace_id", "status", "id"),
                      enum_check("status", TaskStatus))
    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = fk("workspaces.id", index=False)
    campaign_id: Mapped[str] = fk("campaigns.id")
    contact_id: Mapped[str] = fk("contacts.id")
    enrollment_id: Mapped[str | None] = fk("enrollments.id", ondelete="SET NULL", nullable=True)
    outreach_id: Mapped[str | None] = fk("outreaches.id", ondelete="SET NULL", nullable=True)
    # The outreach's idempotency key: a second send of the same outreach finds this row.
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[TaskStatus] = mapped_column(StrEnumType(TaskStatus, 20), default=TaskStatus.pending)
    outcome: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    completed_by: Mapped[str | None] = mapped_column(String(40))
    completed_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = created_column()
    updated_at: Mapped[dt.datetime] = updated_column()
