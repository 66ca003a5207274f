"""Inbound email: one raw RFC 5322 message posted by a relay (signed, no API key), and the admin's
read of what was kept."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, EmailStr, Field

from agent.campaigns import service as campaigns
from agent.contacts import repository as contact_repo
from agent.errors import NotFound
from agent.inbound.email import imports as email_imports
from agent.inbound.email.ingest import MAX_BYTES, ingest_email
from agent.inbound.store import get_message
from api.deps import Admin, Reader, SessionDep
from api.errors import ERROR_RESPONSES, PROBLEM, Problem, problem
from api.routes.contacts import ImportOut
from api.routes.conversations import SignedRoute
from api.idempotency import AnsweringRoute


class SignedMail(SignedRoute):
    max_body = MAX_BYTES


router = APIRouter(tags=["inbound"], route_class=AnsweringRoute, responses=ERROR_RESPONSES)
signed = APIRouter(tags=["inbound"], route_class=SignedMail,
                   responses={**ERROR_RESPONSES,
                              413: {"model": Problem, "content": {PROBLEM: {}}, "description": "Over 10 MB"},
                              503: {"model": Problem, "content": {PROBLEM: {}},
                                    "description": "No webhook secret is configured (`webhooks_disabled`)"}})


class InboundAccepted(BaseModel):
    id: str


class InboundMessageOut(BaseModel):
    id: str
    status: str
    kind: str
    bounce_type: str | None
    intent: str | None
    outreach_id: str | None
    enrollment_id: str | None
    contact_id: str | None
    from_address: str | None
    subject: str | None
    text: str | None


@signed.post("/v1/inbound/email", status_code=202, response_model=InboundAccepted,
             openapi_extra={"requestBody": {"content": {"message/rfc822": {
                 "schema": {"type": "string"},
                 "example": "From: ann@example.com\r\nTo: sales@clinic.example\r\nSubject: Re: Webinar\r\n"
                            "In-Reply-To: <out_1@clinic.example>\r\n\r\nYes, count me in.\r\n"}}}},
             summary="One raw inbound email (signed webhook)")
async def inbound_email(request: Request):
    """``Content-Type: message/rfc822``, signed like ``/v1/voice/events`` over the raw bytes. The
    same message delivered again answers the same id and changes nothing."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "message/rfc822":
        return problem(415, "unsupported_media_type", "send the raw message as Content-Type: message/rfc822",
                       field="content-type")
    body = await request.body()
    if not body.strip():
        return problem(422, "empty_message", "the body holds no message", field="body")
    message = await ingest_email(body, provider="api")
    return InboundAccepted(id=message.id)


@router.get("/v1/inbound-messages/{message_id}", response_model=InboundMessageOut)
async def inbound_message(message_id: str, session: SessionDep, who: Admin) -> InboundMessageOut:
    """What was kept of one inbound message: its kind, status, the outreach, enrollment and contact it
    was matched to, and a reply's new text without the quoted history. 404 for another workspace's
    message and for an unmatched one (it belongs to no workspace)."""
    row = await get_message(session, who.workspace_id, message_id)
    if row is None:
        raise NotFound("no such inbound message", code="inbound_message_not_found")
    return InboundMessageOut(id=row.id, status=row.status.value, kind=row.kind.value,
                             bounce_type=row.bounce_type.value if row.bounce_type else None,
                             intent=row.intent.value if row.intent else None, outreach_id=row.outreach_id,
                             enrollment_id=row.enrollment_id, contact_id=row.contact_id,
                             from_address=row.from_address, subject=row.subject, text=row.text)


class EmailImportIn(BaseModel):
    model_config = {"json_schema_extra": {"examples": [
        {"mapping": {"Full name": "name", "E-mail": "email"}, "authorized_sender": "ops@clinic.example"}]}}
    mapping: dict[str, str] = Field(default_factory=dict, max_length=200,
                                    description='CSV column -> contact field, e.g. {"Mobile": "phone"}')
    authorized_sender: EmailStr


class EmailImportOut(BaseModel):
    address: str
    mapping: dict[str, str]
    authorized_sender: str


class ImportList(BaseModel):
    items: list[ImportOut]


@router.put("/v1/campaigns/{campaign_id}/email-import", response_model=EmailImportOut)
async def put_email_import(campaign_id: str, body: EmailImportIn, session: SessionDep, who: Admin) -> EmailImportOut:
    """The campaign's import address (kept across updates), its mapping and its one sender. 409
    ``inbound_domain_not_set`` without ``OVERTURE_INBOUND_DOMAIN``."""
    campaign = await campaigns.get(session, who.workspace_id, campaign_id)
    row = await email_imports.configure(session, campaign, mapping=body.mapping,
                                        authorized_sender=str(body.authorized_sender))
    return EmailImportOut(address=email_imports.address_of(row), mapping=row.mapping,
                          authorized_sender=row.authorized_sender)


@router.get("/v1/campaigns/{campaign_id}/imports", response_model=ImportList)
async def campaign_imports(campaign_id: str, session: SessionDep, who: Reader) -> ImportList:
    """Every import of the campaign, newest first: uploads, API and email, a refused email as a failed job."""
    campaign = await campaigns.get(session, who.workspace_id, campaign_id)
    jobs = await contact_repo.list_import_jobs(session, who.workspace_id, campaign.id)
    return ImportList(items=[ImportOut.model_validate(j, from_attributes=True) for j in jobs])


router.include_router(signed)
