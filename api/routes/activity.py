"""The campaign activity log."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from agent import activity
from agent.campaigns import service as campaigns
from agent.validation import SafeDatetime
from api.deps import Reader, SessionDep
from api.errors import ERROR_RESPONSES
from api.idempotency import AnsweringRoute

router = APIRouter(prefix="/v1/campaigns", tags=["activity"], route_class=AnsweringRoute, responses=ERROR_RESPONSES)


class EventOut(BaseModel):
    id: str
    kind: str
    actor: str
    campaign_id: str | None
    contact_id: str | None
    enrollment_id: str | None
    outreach_id: str | None
    payload: dict[str, Any]
    created_at: dt.datetime


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None


@router.get("/{campaign_id}/activity", response_model=EventPage)
async def campaign_activity(
    campaign_id: str, session: SessionDep, who: Reader,
    kind: Annotated[list[str] | None, Query(description="Event kinds, e.g. campaign.pause; repeat or comma-separate")] = None,
    contact_id: str | None = None,
    # Aware and in range only: a naive time is ambiguous, one at the calendar's edge overflows in UTC.
    since: Annotated[SafeDatetime | None, Query(description="Events at or after this time (with offset)")] = None,
    until: Annotated[SafeDatetime | None, Query(description="Events before this time (with offset)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: str | None = None,
) -> EventPage:
    await campaigns.get(session, who.workspace_id, campaign_id)
    kinds = [k.strip() for item in kind or [] for k in item.split(",") if k.strip()]
    rows, next_cursor = await activity.list_events(session, workspace_id=who.workspace_id, campaign_id=campaign_id,
                                                   kinds=kinds, contact_id=contact_id, since=since, until=until,
                                                   cursor=cursor, limit=limit)
    return EventPage(items=[EventOut.model_validate(r, from_attributes=True) for r in rows], next_cursor=next_cursor)
