"""Reusable business-hours schedules: CRUD in the caller's workspace, each answer with its live status."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from agent.schedules import service as schedules
from agent.schedules.schemas import ScheduleIn, ScheduleOut, SchedulePage, ScheduleUpdate
from agent.validation import SafeDatetime
from api.deps import Admin, Reader, SessionDep
from api.errors import ERROR_RESPONSES
from api.idempotency import AnsweringRoute

router = APIRouter(prefix="/v1/schedules", tags=["schedules"], route_class=AnsweringRoute, responses=ERROR_RESPONSES)

At = Annotated[SafeDatetime | None, Query(description=(
    "Compute open_now and next_change_at as of this instant (ISO 8601 with an offset) instead of now"))]


@router.get("", response_model=SchedulePage)
async def list_schedules(session: SessionDep, who: Reader, at: At = None) -> SchedulePage:
    """The workspace's schedules by name, each with whether it is open now and when that next changes.
    Every role reads them."""
    return SchedulePage(items=await schedules.list_out(session, who.workspace_id, at))


@router.post("", status_code=201, response_model=ScheduleOut)
async def create_schedule(body: ScheduleIn, session: SessionDep, who: Admin) -> ScheduleOut:
    """A new schedule: a time zone, windows per weekday and holidays (closed all day). Campaigns link it
    with `schedule_id`. 409 `schedule_name_taken` when the name is used in the workspace; 422 names the
    field of a bad window (format, start not before end, spanning midnight, overlap), zone or date."""
    row = await schedules.create(session, who.workspace_id, body, who.key_id)
    return schedules.to_out(row, 0)


@router.get("/{schedule_id}", response_model=ScheduleOut)
async def get_schedule(schedule_id: str, session: SessionDep, who: Reader, at: At = None) -> ScheduleOut:
    """One schedule with `open_now` and `next_change_at` (as of `at` when given); another workspace's is 404."""
    return await schedules.get_out(session, who.workspace_id, schedule_id, at)


@router.patch("/{schedule_id}", response_model=ScheduleOut)
async def update_schedule(schedule_id: str, body: ScheduleUpdate, session: SessionDep, who: Admin) -> ScheduleOut:
    """Change the fields given (`business_hours` and `holidays` are replaced whole). Every campaign linked
    to the schedule follows the new hours from its next send and plan on."""
    await schedules.update(session, who.workspace_id, schedule_id, body, who.key_id)
    return await schedules.get_out(session, who.workspace_id, schedule_id)


@router.delete("/{schedule_id}", status_code=204, response_class=Response,
               responses={409: ERROR_RESPONSES[409] | {"description": (
                   "An active or paused campaign follows the schedule (code schedule_in_use; campaign_ids "
                   "lists them)")}})
async def delete_schedule(schedule_id: str, session: SessionDep, who: Admin) -> Response:
    """Delete a schedule. Refused with 409 `schedule_in_use` while an active or paused campaign follows it;
    draft, completed, cancelled and archived campaigns linked to it keep its hours as their own inline
    schedule, so their hours do not change."""
    await schedules.remove(session, who.workspace_id, schedule_id, who.key_id)
    return Response(status_code=204)
