"""The review queue: the inbox, one outreach, and the reviewer's actions on drafts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Header, Query, Response

from agent.errors import ValidationFailed
from agent.filters import parse_statuses
from agent.states import OutreachStatus
from api.deps import Approver, Reader, SessionDep
from api.errors import ERROR_RESPONSES, documented
from api.idempotency import AnsweringRoute
from review import service
from review import settle as settle_service
from review.schemas import (BulkApproveIn, BulkApproveOut, BulkMatchIn, BulkMatchOut, EditIn, ExecuteOut, InboxItem,
                            InboxPage, OutreachDetail, RejectIn, SettleIn)
from review.thread import ContactThread, contact_thread

router = APIRouter(tags=["review"], route_class=AnsweringRoute, responses=ERROR_RESPONSES)
IfMatch = Annotated[str | None, Header(description="The outreach version you saw (its ETag)")]


def _version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    raw = if_match.strip().removeprefix("W/").strip('"')
    if not raw.isdigit():
        raise ValidationFailed("If-Match must be the outreach's version, e.g. \"3\"",
                               errors=[{"loc": ["header", "If-Match"], "message": "not a version"}])
    return int(raw)


def _etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'


@router.get("/v1/outreaches", response_model=InboxPage)
async def inbox(
    session: SessionDep, who: Reader,
    status: Annotated[str | None, Query(description="Comma-separated statuses (default awaiting_approval)")] = None,
    campaign_id: str | None = None,
    channel: str | None = None,
    q: Annotated[str | None, Query(max_length=200, description="Text in the contact or the message")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> InboxPage:
    statuses = parse_statuses(status, OutreachStatus, noun="outreach status")
    return await service.list_inbox(session, who.workspace_id,
                                    statuses=list(service.DEFAULT_STATUSES) if statuses is None else statuses,
                                    campaign_id=campaign_id, channel=channel, q=q, limit=limit, cursor=cursor)


@router.get("/v1/outreaches/{outreach_id}", response_model=OutreachDetail)
async def detail(outreach_id: str, session: SessionDep, who: Reader, response: Response) -> OutreachDetail:
    found = await service.get_detail(session, who.workspace_id, outreach_id)
    _etag(response, found.version)
    return found


@router.get("/v1/outreaches/{outreach_id}/thread", response_model=ContactThread)
async def thread(outreach_id: str, session: SessionDep, who: Reader) -> ContactThread:
    """The contact's story beside this draft: earlier outreaches and their outcome, replies,
    bounces and out-of-office notes, calls with transcripts, goal results, the contact's
    properties and the campaign's goals. ``fingerprint`` changes when any of it does."""
    return await contact_thread(session, who.workspace_id, outreach_id)


@router.post("/v1/outreaches/approve", response_model=BulkApproveOut)
async def approve_many(body: BulkApproveIn, session: SessionDep, who: Approver) -> BulkApproveOut:
    return await service.approve_many(session, who, body.ids, body.versions)


@router.post("/v1/outreaches/{outreach_id}/approve", response_model=InboxItem)
async def approve(outreach_id: str, session: SessionDep, who: Approver, response: Response,
                  if_match: IfMatch = None) -> InboxItem:
    item = await service.approve(session, who, outreach_id, version=_version(if_match))
    _etag(response, item.version)
    return item


@router.patch("/v1/outreaches/{outreach_id}", response_model=InboxItem,
              responses=documented(428, "Neither If-Match nor a version in the body (code version_required)"))
async def edit(outreach_id: str, body: EditIn, session: SessionDep, who: Approver, response: Response,
               if_match: IfMatch = None) -> InboxItem:
    version = _version(if_match) if if_match is not None else body.version
    changes = body.model_dump(include={"subject", "body", "scheduled_at"}, exclude_unset=True)
    item = await service.edit(session, who, outreach_id, version=version, changes=changes)
    _etag(response, item.version)
    return item


@router.post("/v1/outreaches/{outreach_id}/reject", response_model=InboxItem)
async def reject(outreach_id: str, session: SessionDep, who: Approver, response: Response,
                 body: Annotated[RejectIn | None, Body()] = None, if_match: IfMatch = None) -> InboxItem:
    body = body or RejectIn()
    item = await service.reject(session, who, outreach_id, reason=body.reason, regenerate=body.regenerate,
                                instruction=body.instruction, version=_version(if_match))
    _etag(response, item.version)
    return item


@router.post("/v1/outreaches/{outreach_id}/settle", response_model=InboxItem)
async def settle(outreach_id: str, body: SettleIn, session: SessionDep, who: Approver) -> InboxItem:
    """A person's answer for an ``unknown`` send, after checking the provider: it went out or not."""
    return await settle_service.settle(session, who, outreach_id, sent=body.sent, note=body.note)


@router.post("/v1/campaigns/{campaign_id}/execute-approved", status_code=202, response_model=ExecuteOut)
async def execute_approved(campaign_id: str, session: SessionDep, who: Approver) -> ExecuteOut:
    return ExecuteOut(queued=await service.execute_approved(session, who, campaign_id))


@router.post("/v1/outreaches/bulk", response_model=BulkMatchOut)
async def act_on_matching(body: BulkMatchIn, session: SessionDep, who: Approver) -> BulkMatchOut:
    """Approve or reject every draft awaiting approval that matches the filter (``campaign_id``,
    ``channel``, ``q``, ``older_than_hours``), at most ``limit`` per call, oldest first.

    Send ``dry_run: true`` first: the answer counts the matches (``matched``) and lists the ids and
    versions this call would act on (``items``). Send those ``items`` back to act on exactly what
    was counted: a draft approved, rejected or edited since is skipped with its reason
    (``already_approved``, ``invalid_transition``, ``stale``), never approved twice. Without
    ``items`` the call acts on what matches when it runs. ``remaining`` says how many matching
    drafts were beyond the limit."""
    return await service.act_on_matching(session, who, body)
