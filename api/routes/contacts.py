"""Contacts of a campaign: batch add, CSV import jobs, listing, detail and permanent removal; a
contact's edit and the per-contact disable, enable and retry actions."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from agent import activity
from agent.campaigns import service as campaigns
from agent.campaigns.schemas import CampaignSettings
from agent.contacts import fix, imports
from agent.contacts import repository as contact_repo
from agent.contacts import service as contacts
from agent.contacts.csvfile import MAX_BYTES
from agent.contacts.normalize import ContactInput
from agent.errors import OvertureError, ValidationFailed
from agent.filters import parse_statuses
from agent.models import Contact, Enrollment
from agent.states import ContactAction, EnrollmentStatus, GoalResultValue, OutreachStatus, Priority
from agent.validation import ANY_CONTROL, InputRefused, SafeStr, SafeText, loads_checked
from api.deps import Admin, Reader, SessionDep
from api.errors import ERROR_RESPONSES
from api.idempotency import AnsweringRoute
from evaluators import rollup
from evaluators.rollup import PrimaryGoal

router = APIRouter(tags=["contacts"], route_class=AnsweringRoute, responses=ERROR_RESPONSES)


class ContactIn(BaseModel):
    first_name: SafeStr = Field("", max_length=200)
    last_name: SafeStr = Field("", max_length=200)
    name: SafeStr = Field("", max_length=400, description="A full name, split when first/last are empty")
    email: SafeStr = Field("", max_length=320)
    phone: SafeStr = Field("", max_length=40)
    timezone: SafeStr = Field("", max_length=64)
    properties: dict[SafeStr, SafeText] = Field(default_factory=dict)
    tags: list[Annotated[SafeStr, Field(max_length=64)]] = Field(default_factory=list, max_length=50)
    priority: Priority | None = Field(None, description="high, normal or low; new contacts default to normal")


class ContactPatch(BaseModel):
    """Only the fields sent change; each is validated like an added contact's."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"email": "ann.lee@example.com", "tags": ["vip", "spring"], "priority": "high"},
        {"phone": "+1 212 555 0100", "properties": {"clinic": "Loop", "old_key": None}}]})
    first_name: SafeStr | None = Field(None, max_length=200)
    last_name: SafeStr | None = Field(None, max_length=200)
    name: SafeStr | None = Field(None, max_length=400, description="A full name, split into first and last")
    email: SafeStr | None = Field(None, max_length=320, description="null or \"\" clears it (a phone must remain)")
    phone: SafeStr | None = Field(None, max_length=40, description="Any usual format; stored as E.164. null clears it")
    timezone: SafeStr | None = Field(None, max_length=64, description="An IANA name; null clears it")
    properties: dict[SafeStr, SafeText | None] | None = Field(
        None, description="Merged into the contact's properties; a key set to null is removed")
    tags: list[Annotated[SafeStr, Field(max_length=64)]] | None = Field(
        None, max_length=50, description="Replaces the tags: trimmed, blanks dropped, each once")
    priority: Priority | None = None


class ContactsIn(BaseModel):
    contacts: list[ContactIn] = Field(min_length=1, max_length=1000)


class RowIssue(BaseModel):
    row: int
    loc: list[str | int]
    code: str
    message: str


class AddOut(BaseModel):
    added: int
    updated: int
    duplicates: int
    errors: list[RowIssue]
    warnings: list[RowIssue]


class ImportQueued(BaseModel):
    job_id: str
    status: str
    total: int


class ImportOut(BaseModel):
    id: str
    campaign_id: str
    status: str
    filename: str
    total: int
    processed: int
    added: int
    updated: int
    duplicates: int
    errors: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    error_code: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class ContactOut(BaseModel):
    id: str
    first_name: str
    last_name: str
    name: str
    email: str | None
    phone: str | None
    timezone: str | None
    properties: dict[str, Any]
    tags: list[Any]
    priority: str


class PrimaryGoalOut(BaseModel):
    goal_id: str
    name: str
    result: GoalResultValue = Field(description="Best over the contact's evaluated conversations; unknown before one")
    score: int | None = Field(description="Highest over them, 0-100")


class GoalRollupOut(BaseModel):
    goal_id: str
    result: GoalResultValue
    score: int | None
    conversations: int = Field(description="Evaluated conversations that answered the goal")


class EnrollmentOut(BaseModel):
    id: str
    contact: ContactOut
    primary_goal: PrimaryGoalOut | None = Field(description="Null while the campaign has no primary goal")
    status: str
    substatus: str | None
    attempts: int
    max_attempts: int
    source: str
    next_attempt_at: dt.datetime | None
    last_attempt_at: dt.datetime | None
    created_at: dt.datetime


class EnrollmentPage(BaseModel):
    items: list[EnrollmentOut]
    next_cursor: str | None


class OutreachBrief(BaseModel):
    id: str
    channel: str
    status: str
    scheduled_at: dt.datetime | None
    subject: str | None
    body: str
    sent_at: dt.datetime | None
    settings_version: int | None = Field(None, description="The campaign's settings_version it was planned under")


class EnrollmentDetail(EnrollmentOut):
    goals: list[GoalRollupOut] = Field(description="Every goal's roll-up over the contact's conversations")
    next_outreach: OutreachBrief | None
    history: list[OutreachBrief]
    activity: list[dict[str, Any]]


def _contact_out(c: Contact) -> ContactOut:
    return ContactOut(id=c.id, first_name=c.first_name, last_name=c.last_name,
                      name=" ".join(p for p in (c.first_name, c.last_name) if p), email=c.email, phone=c.phone,
                      timezone=c.timezone, properties=c.properties, tags=c.tags, priority=c.priority)


def _enrollment_out(e: Enrollment, c: Contact, max_attempts: int, primary: PrimaryGoal | None) -> dict[str, Any]:
    return dict(id=e.id, contact=_contact_out(c), primary_goal=PrimaryGoalOut(**asdict(primary)) if primary else None,
                status=e.status, substatus=e.substatus, attempts=e.attempts,
                max_attempts=max_attempts, source=e.source, next_attempt_at=e.next_attempt_at,
                last_attempt_at=e.last_attempt_at, created_at=e.created_at)


@router.post("/v1/campaigns/{campaign_id}/contacts", response_model=AddOut)
async def add_contacts(campaign_id: str, body: ContactsIn, session: SessionDep, who: Admin) -> AddOut:
    campaign = await campaigns.get(session, who.workspace_id, campaign_id, for_update=True)
    inputs = [ContactInput(**c.model_dump(exclude={"tags", "priority"}), tags=tuple(c.tags),
                           priority=c.priority or "") for c in body.contacts]
    result = await contacts.add_contacts(session, campaign, inputs, actor=who.key_id)
    return AddOut(added=result.added, updated=result.updated, duplicates=result.duplicates,
                  errors=result.errors, warnings=result.warnings)


@router.post("/v1/campaigns/{campaign_id}/contacts/import", status_code=202, response_model=ImportQueued,
             responses={413: ERROR_RESPONSES[422] | {"description": "File over 5 MB"}})
async def import_contacts(
    campaign_id: str, session: SessionDep, who: Admin,
    file: Annotated[UploadFile, File(description="CSV with a header row; at most 10,000 rows and 5 MB")],
    mapping: Annotated[str | None, Form(description='JSON object: column -> field, e.g. {"Mobile": "phone"}')] = None,
) -> ImportQueued:
    campaign = await campaigns.get(session, who.workspace_id, campaign_id)
    data = await file.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise OvertureError(f"the file is over the {MAX_BYTES} byte limit", code="csv_too_large", status=413,
                            errors=[{"loc": ["body", "file"], "message": "over 5 MB"}])
    parsed_mapping = None
    if mapping:
        try:
            parsed_mapping = loads_checked(mapping, ["body", "mapping"])
            if not isinstance(parsed_mapping, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in parsed_mapping.items()):
                raise ValueError
        except InputRefused as exc:  # too deep for the parser, or a control character
            raise ValidationFailed(f"mapping: {exc.message}", code=exc.code,
                                   errors=[{"loc": exc.loc, "message": exc.message, "code": exc.code}]) from None
        except ValueError:
            raise ValidationFailed("mapping must be a JSON object of column name -> field",
                                   errors=[{"loc": ["body", "mapping"], "message": "not a JSON object of strings"}])
    job = await imports.create_job(session, campaign, data, filename=ANY_CONTROL.sub("", file.filename or ""),
                                   mapping=parsed_mapping, actor=who.key_id)
    return ImportQueued(job_id=job.id, status=job.status, total=job.total)


@router.get("/v1/imports/{job_id}", response_model=ImportOut)
async def get_import(job_id: str, session: SessionDep, who: Reader) -> ImportOut:
    job = await contact_repo.get_import_job(session, who.workspace_id, job_id)
    return ImportOut.model_validate(job, from_attributes=True)


@router.get("/v1/campaigns/{campaign_id}/contacts", response_model=EnrollmentPage)
async def list_contacts(
    campaign_id: str, session: SessionDep, who: Reader,
    status: Annotated[str | None, Query(description="Comma-separated enrollment statuses; removed only when named")] = None,
    substatus: str | None = None,
    q: Annotated[str | None, Query(max_length=200, description="Text in the name, email or phone")] = None,
    tag: Annotated[str | None, Query(max_length=64, description="Contacts carrying this tag (exact)")] = None,
    priority: Annotated[str | None, Query(description="Comma-separated priorities: high, normal, low")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: str | None = None,
) -> EnrollmentPage:
    campaign = await campaigns.get(session, who.workspace_id, campaign_id)
    kept, next_cursor = await contact_repo.list_enrollments(
        session, who.workspace_id, campaign.id, statuses=parse_statuses(status, EnrollmentStatus),
        substatus=substatus, q=q, limit=limit, cursor=cursor, tag=tag.strip() if tag else None,
        priorities=parse_statuses(priority, Priority, noun="priority", param="priority"))
    max_attempts = CampaignSettings.model_validate(campaign.settings).max_attempts
    primaries = await rollup.primary_results(session, campaign.id, [e.id for e, _ in kept])
    return EnrollmentPage(items=[_enrollment_out(e, c, max_attempts, primaries.get(e.id)) for e, c in kept],
                          next_cursor=next_cursor)


@router.get("/v1/campaigns/{campaign_id}/contacts/{contact_id}", response_model=EnrollmentDetail)
async def get_contact(campaign_id: str, contact_id: str, session: SessionDep, who: Reader) -> EnrollmentDetail:
    campaign = await campaigns.get(session, who.workspace_id, campaign_id)
    enrollment, contact = await contact_repo.get_enrollment(session, campaign.id, contact_id)
    outreaches = await contact_repo.enrollment_outreaches(session, enrollment.id)
    pending = {OutreachStatus.awaiting_approval, OutreachStatus.approved, OutreachStatus.awaiting_execution}
    upcoming = [o for o in outreaches if o.status in pending]
    events, _ = await activity.list_events(session, workspace_id=who.workspace_id, campaign_id=campaign.id,
                                           contact_id=contact_id, limit=100)
    brief = lambda o: OutreachBrief.model_validate(o, from_attributes=True)  # noqa: E731
    max_attempts = CampaignSettings.model_validate(campaign.settings).max_attempts
    primary = (await rollup.primary_results(session, campaign.id, [enrollment.id])).get(enrollment.id)
    goals = (await rollup.rollup(session, [enrollment.id])).get(enrollment.id, {})
    return EnrollmentDetail(
        **_enrollment_out(enrollment, contact, max_attempts, primary),
        goals=[GoalRollupOut(**asdict(g)) for g in goals.values()],
        next_outreach=brief(upcoming[-1]) if upcoming else None,
        history=[brief(o) for o in outreaches if o.status not in pending],
        activity=[{"kind": e.kind, "actor": e.actor, "payload": e.payload, "created_at": e.created_at.isoformat()}
                  for e in events],
    )


@router.delete("/v1/campaigns/{campaign_id}/contacts/{contact_id}", status_code=204, response_class=Response)
async def remove_contact(campaign_id: str, contact_id: str, session: SessionDep, who: Admin) -> Response:
    campaign = await campaigns.get(session, who.workspace_id, campaign_id)
    await contacts.remove_contact(session, campaign, contact_id, who.key_id)
    return Response(status_code=204)


@router.patch("/v1/contacts/{contact_id}", response_model=ContactOut,
              responses={409: ERROR_RESPONSES[422] | {
                  "description": "The new phone or email is another contact's (`duplicate_contact`)"}})
async def update_contact(contact_id: str, body: ContactPatch, session: SessionDep, who: Admin) -> ContactOut:
    """Edit a workspace contact: names, email, phone, time zone, properties, tags, priority.

    Only the fields sent change, validated like an added contact (422 `validation_error` with the
    field, e.g. an invalid email or phone). A new email or phone that another contact of the
    workspace has is refused (409 `duplicate_contact`). Every enrollment of the contact resting in
    the error the change fixes (`error/missing_email`, `error/invalid_email` for an email,
    `error/missing_phone` for a phone) plans again at once.
    """
    edited = await fix.update_contact(session, who.workspace_id, contact_id,
                                      fix.ContactChanges(body.model_dump(exclude_unset=True)), actor=who.key_id)
    return _contact_out(edited.contact)


@router.post("/v1/campaigns/{campaign_id}/contacts/{contact_id}/{action}", response_model=EnrollmentOut,
             responses={409: ERROR_RESPONSES[422] | {
                 "description": "Not allowed from the contact's status (`invalid_transition`), the status changed "
                                "meanwhile (`stale`) or the campaign is archived (`campaign_archived`)"}})
async def contact_action(campaign_id: str, contact_id: str, action: ContactAction, session: SessionDep,
                         who: Admin) -> EnrollmentOut:
    """A person's action on one contact of the campaign.

    `disable` switches the contact off here (status `disabled`; its pending drafts are cancelled;
    not while a send or call is in flight). `enable` switches it back on: it plans again
    (`not_started` if nothing was attempted yet, else `waiting`). `retry` plans another attempt
    now for a contact in `error`, in `waiting/retry`, or `finished` (not after an opt-out or a
    bounce), granting one more attempt when the maximum is used up.
    """
    campaign = await campaigns.writable_campaign(session, who.workspace_id, campaign_id)
    enrollment = await fix.act(session, campaign, contact_id, action, actor=who.key_id)
    _, contact = await contact_repo.get_enrollment(session, campaign.id, contact_id)
    max_attempts = CampaignSettings.model_validate(campaign.settings).max_attempts
    primary = (await rollup.primary_results(session, campaign.id, [enrollment.id])).get(enrollment.id)
    return EnrollmentOut(**_enrollment_out(enrollment, contact, max_attempts, primary))
