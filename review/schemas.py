"""Pydantic shapes of the review queue (inbox items, detail, actions and their answers)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.validation import SafeDatetime


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
    created_at: dt.datetime | None = Field(None, description="When the draft was written")
    approval_age_s: int | None = Field(None, description="Seconds waited for review (awaiting_approval only)")
    approval_overdue: bool = Field(False, description="Waiting longer than the campaign's settings.approval_sla_hours")
    approval_sla_hours: int | None = Field(None, description="The campaign's approval SLA, in hours")
    waiting: str | None = Field(None, description="Queued ones: why it has not gone out yet (hours, caps, a pause)")
    sent_at: dt.datetime | None = Field(None, description="When the provider took it")
    sent_to: str | None = Field(None, description="The address or number it went to")
    provider: str | None = Field(None, description="The provider that sent it (sandbox, smtp, twilio...)")
    settings_version: int | None = Field(None, description=(
        "The campaign's settings_version it was planned under; a later edit of the campaign leaves it as it is "
        "(null: planned before versions were recorded)"))


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
    provider_message_id: str | None
    error: str | None
    revisions: list[RevisionOut]
    history: list[EventOut]


class EditIn(BaseModel):
    subject: str | None = Field(None, max_length=1000)
    body: str | None = Field(None, max_length=20_000)
    scheduled_at: SafeDatetime | None = None
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


class BulkMatchIn(BaseModel):
    """Approve or reject every draft awaiting approval that matches a filter, in bounded batches."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"action": "approve", "campaign_id": "cmp_01J...", "channel": "email", "dry_run": True},
        {"action": "approve", "campaign_id": "cmp_01J...", "channel": "email",
         "items": {"out_01J...": 1, "out_01K...": 2}},
        {"action": "reject", "q": "webinar", "regenerate": True, "instruction": "Shorter, mention the free trial"},
    ]})
    action: Literal["approve", "reject"]
    campaign_id: str | None = Field(None, max_length=40)
    channel: str | None = Field(None, max_length=10)
    q: str | None = Field(None, max_length=200, description="Text in the contact or the message")
    older_than_hours: int | None = Field(None, ge=0, le=8760, description="Only drafts waiting at least this long")
    dry_run: bool = Field(False, description="Count and list what would be acted on; change nothing")
    limit: int = Field(500, ge=1, le=500, description="At most this many drafts per call")
    items: dict[str, int] | None = Field(None, max_length=500, description=(
        "id -> version from a dry run's answer: act on exactly these (each skipped if it changed since), "
        "not on whatever matches now"))
    reason: str = Field("", max_length=2000, description="reject: kept in the history")
    regenerate: bool = Field(False, description="reject: supersede and have the planner draft again")
    instruction: str | None = Field(None, max_length=2000, description="reject: guidance for the new drafts")


class BulkItemResult(BaseModel):
    id: str
    outcome: Literal["approved", "rejected", "redrafting", "skipped"]
    status: str | None = Field(None, description="The outreach's status after the call")
    version: int | None = None
    code: str | None = Field(None, description="skipped: why, as a stable code")
    detail: str | None = Field(None, description="skipped: why, in words")


class BulkMatchOut(BaseModel):
    action: str
    dry_run: bool
    matched: int = Field(description="Drafts matching the filter now (all of them, beyond the limit too)")
    items: dict[str, int] = Field(description="id -> version of the drafts this call selected (at most limit)")
    done: int = Field(description="Approved or rejected by this call (0 on a dry run)")
    skipped: int
    remaining: int = Field(description="Matching drafts beyond this call's limit: call again for them")
    results: list[BulkItemResult]
