"""A campaign's outbound phone numbers: list (any role), add, edit and remove (admin).

Another workspace's campaign answers 404; an archived campaign's numbers are read-only (409).
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from agent.numbers import service as numbers
from agent.numbers.schemas import PhoneNumberIn, PhoneNumberList, PhoneNumberOut, PhoneNumberUpdate
from api.deps import Admin, Reader, SessionDep
from api.errors import ERROR_RESPONSES
from api.idempotency import AnsweringRoute

router = APIRouter(prefix="/v1/campaigns/{campaign_id}/phone-numbers", tags=["phone numbers"],
                   route_class=AnsweringRoute, responses=ERROR_RESPONSES)


@router.get("", response_model=PhoneNumberList)
async def list_numbers(campaign_id: str, session: SessionDep, who: Reader) -> PhoneNumberList:
    """In the order they were added."""
    rows = await numbers.list_numbers(session, who.workspace_id, campaign_id)
    return PhoneNumberList(items=[PhoneNumberOut.model_validate(r) for r in rows])


@router.post("", status_code=201, response_model=PhoneNumberOut)
async def add_number(campaign_id: str, body: PhoneNumberIn, session: SessionDep, who: Admin) -> PhoneNumberOut:
    """409 ``duplicate_number`` when the campaign already has the number (any formatting)."""
    return PhoneNumberOut.model_validate(await numbers.add(session, who.workspace_id, campaign_id, body, who.key_id))


@router.patch("/{number_id}", response_model=PhoneNumberOut)
async def update_number(campaign_id: str, number_id: str, body: PhoneNumberUpdate, session: SessionDep,
                        who: Admin) -> PhoneNumberOut:
    """Changes only the fields sent; ``calls_today`` and ``calls_total`` are not among them (422)."""
    return PhoneNumberOut.model_validate(await numbers.update(session, who.workspace_id, campaign_id, number_id, body,
                                                              who.key_id))


@router.delete("/{number_id}", status_code=204, response_class=Response)
async def remove_number(campaign_id: str, number_id: str, session: SessionDep, who: Admin) -> Response:
    await numbers.remove(session, who.workspace_id, campaign_id, number_id, who.key_id)
    return Response(status_code=204)
