"""Campaigns, their channels, goals, analyses and caller numbers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from agent.models.base import Base, StrEnumType, created_column, enum_check, fk, id_column, updated_column
from agent.models.schedule import Schedule
from agent.states import CallerNumberStatus, CampaignStatus, CampaignType, ChannelStatus, ExecutionMode


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (enum_check("type", CampaignType), enum_check("status", CampaignStatus),
                      enum_check("execution_mode", ExecutionMode))
    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = fk("workspaces.id")
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[CampaignType] = mapped_column(StrEnumType(CampaignType, 20))
    status: Mapped[CampaignStatus] = mapped_column(StrEnumType(CampaignStatus, 20), index=True)
    execution_mode: Mapped[ExecutionMode] = mapped_column(StrEnumType(ExecutionMode, 20))
    manual_review: Mapped[bool] = mapped_column(Boolean, default=True)
    brief: Mapped[str] = mapped_column(Text, default="")
    start_at: Mapped[dt.datetime | None]
    end_at: Mapped[dt.datetime | None]
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    schedule: Mapped[dict[str, Any] | None]  # inline hours; at most one of this and schedule_id is set
    schedule_id: Mapped[str | None] = fk("schedules.id", ondelete="SET NULL", nullable=True)
    # Loaded with every campaign (one batched query, none when no campaign in the batch links one):
    # every reader of the hours must see a linked schedule, and a forgotten explicit load would
    # silently fall back to the inline hours. View-only: a relationship that writes would take part
    # in the flush's ordering and change the order other rows are inserted in (channels before
    # their campaign); ``link_schedule`` writes the column and keeps this in step.
    linked_schedule: Mapped[Schedule | None] = relationship(lazy="selectin", viewonly=True)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ai_variables: Mapped[dict[str, Any]] = mapped_column(default=dict)
    notes: Mapped[str] = mapped_column(Text, default="")
    add_inbound_contacts: Mapped[bool] = mapped_column(Boolean, default=False)
    inbound_rules: Mapped[dict[str, Any] | None]
    inbound_prompt: Mapped[str] = mapped_column(Text, default="")
    duplicated_from_id: Mapped[str | None] = mapped_column(String(40))
    went_live_at: Mapped[dt.datetime | None]
    last_call_at: Mapped[dt.datetime | None]  # the call interval's compare-and-set (agent/numbers/pacing.py)
    # Bumped by every edit of the live campaign (a CampaignVersion row each); 1 as it went live.
    settings_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[dt.datetime] = created_column()
    updated_at: Mapped[dt.datetime] = updated_column()

    def link_schedule(self, schedule: Schedule | None) -> None:
        """Follow ``schedule`` (None: no linked schedule)."""
        self.schedule_id = schedule.id if schedule is not None else None
        self.linked_schedule = schedule

    @property
    def hours(self) -> dict[str, Any] | None:
        """The business hours in force: the linked schedule's (edits to it apply at once), else the
        inline ``schedule``; None means no business-hours limit."""
        linked = self.linked_schedule
        return linked.hours() if linked is not None else self.schedule


class CampaignVersion(Base):
    """One edit of a live campaign: who, when, and each changed field with its old and new value."""

    __tablename__ = "campaign_versions"
    __table_args__ = (UniqueConstraint("campaign_id", "number"),)
    id: Mapped[str] = id_column()
    campaign_id: Mapped[str] = fk("campaigns.id", index=False)
    number: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(40))
    # [{"field": "settings.retry_interval", "old": ..., "new": ...}], in field order.
    changes: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime] = created_column()


class Channel(Base):
    __tablename__ = "channels"
    __table_args__ = (enum_check("status", ChannelStatus),)
    id: Mapped[str] = id_column()
    campaign_id: Mapped[str] = fk("campaigns.id")
    kind: Mapped[str] = mapped_column(String(10))
    position: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[ChannelStatus] = mapped_column(StrEnumType(ChannelStatus, 20))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = created_column()
    updated_at: Mapped[dt.datetime] = updated_column()


class ChannelAudience(Base):
    """The contacts a remarketing channel is for (a channel with no rows here is for everyone)."""

    __tablename__ = "channel_audiences"
    __table_args__ = (UniqueConstraint("channel_id", "enrollment_id"),)
    id: Mapped[str] = id_column()
    channel_id: Mapped[str] = fk("channels.id", index=False)
    enrollment_id: Mapped[str] = fk("enrollments.id")


class CallerNumber(Base):
    """An outbound number of a campaign, for rotation and daily caps."""

    __tablename__ = "caller_numbers"
    __table_args__ = (enum_check("status", CallerNumberStatus), UniqueConstraint("campaign_id", "number"))
    id: Mapped[str] = id_column()
    campaign_id: Mapped[str] = fk("campaigns.id")
    number: Mapped[str] = mapped_column(String(20))
    friendly_name: Mapped[str] = mapped_column(String(100), default="")
    # The voice provider's id of this number where it dials by id (Vapi's phoneNumberId).
    provider_number_id: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[CallerNumberStatus] = mapped_column(StrEnumType(CallerNumberStatus, 20),
                                                       default=CallerNumberStatus.active)
    spam_score: Mapped[float] = mapped_column(Float, default=0)
    weight: Mapped[int] = mapped_column(Integer, default=1)
    calls_today: Mapped[int] = mapped_column(Integer, default=0)
    calls_total: Mapped[int] = mapped_column(Integer, default=0)
    calls_day: Mapped[dt.date | None]  # the campaign-zone day calls_today counts; another day resets it
    last_called_at: Mapped[dt.datetime | None]  # round robin: the number idle longest goes next
    created_at: Mapped[dt.datetime] = created_column()


class Goal(Base):
    __tablename__ = "goals"
    id: Mapped[str] = id_column()
    campaign_id: Mapped[str] = fk("campaigns.id")
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    archived_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = created_column()
    updated_at: Mapped[dt.datetime] = updated_column()


class Analysis(Base):
    __tablename__ = "analyses"
    id: Mapped[str] = id_column()
    campaign_id: Mapped[str] = fk("campaigns.id")
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(20))
    options: Mapped[list[Any] | None]
    scale_min: Mapped[int | None] = mapped_column(Integer)
    scale_max: Mapped[int | None] = mapped_column(Integer)
    data_type: Mapped[str | None] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    archived_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = created_column()
    updated_at: Mapped[dt.datetime] = updated_column()
