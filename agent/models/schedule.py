"""Reusable business-hours schedules: a workspace's named hours that campaigns link to."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from agent.models.base import Base, created_column, fk, id_column, updated_column


class Schedule(Base):
    """``business_hours`` is ``{"mon": [{"start": "09:00", "end": "17:00"}], ...}`` in ``timezone``
    (a missing day is closed); ``holidays`` is ``[{"date": "2026-12-25", "name": "Christmas"}]``,
    each closed all day in that zone."""

    __tablename__ = "schedules"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)
    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = fk("workspaces.id", index=False)  # the unique (workspace_id, name) indexes it
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    business_hours: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    holidays: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = created_column()
    updated_at: Mapped[dt.datetime] = updated_column()

    def hours(self) -> dict[str, Any]:
        """The hours as a campaign's inline ``schedule`` stores them (``agent.campaigns.schemas.Schedule``)."""
        return {"timezone": self.timezone, "business_hours": self.business_hours, "holidays": self.holidays}
