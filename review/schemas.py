"""Pydantic shapes of the review queue (inbox items, detail, actions and their answers)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class ContactBrief(BaseModel):
    id: str
    name: str
    email: str | None
    phone: str | None
    timezone: str | None


class CampaignBrief(BaseModel):
    id: str
    name: str
    brief: str
    manual_review: bool


class InboxItem(BaseModel):
    id: str
    status: str
    channel: str
    subject: str | None
    body: str
    scheduled_at: dt.datetime | None
    campaign_id: str
    enrollment_id: str
    model: str
    version: int
    contact: ContactBrief


class InboxPage(BaseModel):
    items: list[InboxItem]
    next_cursor: str | None
    counts: dict[str, int] = Field(description="Outreaches per status for the same filters, status aside")


class RevisionOut(BaseModel):
    number: int
    actor: str
    subject: str | None
    body: str
    scheduled_at: dt.datetime | None
    created_at: dt.datetime


class EventOut(BaseModel):
    kind: str
    actor: str
    payload: dict[str, Any]
    created_at: dt.datetime


class OutreachDetail(InboxItem):
    campaign: CampaignBrief
    rationale: str
    instruction: str | None
    approved_by: str | None
    approved_at: dt.datetime | None
    sent_at: dt.datetime | None
    provider_message_id: str | None
    error: str | None
    revisions: list[RevisionOut]
    history: list[EventOut]


class EditIn(BaseModel):
    subject: str | None = Field(None, max_length=1000)
    body: str | None = Field(None, max_length=20_000)
    scheduled_at: AwareDatetime | None = None
    version: int | None = Field(None, ge=1, description="The version edited; or send it as If-Match")


class RejectIn(BaseModel):
    reason: str = Field("", max_length=2000)
    regenerate: bool = False
    instruction: str | None = Field(None, max_length=2000, description="Guidance for the new draft")


class SettleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sent: bool = Field(description="Whether the provider shows the message as sent")
    note: str | None = Field(None, max_length=2000)


class BulkApproveIn(BaseModel):
    ids: list[str] = Field(min_length=1, max_length=500)
    versions: dict[str, int] = Field(default_factory=dict,
                                     description="Optional id -> version seen; a changed draft is not approved")


class BulkResult(BaseModel):
    id: str
    ok: bool
    status: str | None
    version: int | None
    code: str | None = None
    detail: str | None = None


class BulkApproveOut(BaseModel):
    approved: int
    results: list[BulkResult]


class ExecuteOut(BaseModel):
    queued: int
