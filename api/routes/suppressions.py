"""The workspace's suppression list: list, add and remove (admin keys only).

Adding an entry that exists (same phone/email and channel) answers it with 200 instead of 201.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from agent.models import Suppression
from agent.suppressions import service as suppressions
from agent.suppressions.schemas import SuppressionChannel, SuppressionIn, SuppressionOut, SuppressionPage
from api.deps import Admin, SessionDep
from api.errors import ERROR_RESPONSES
from api.idempotency import AnsweringRoute

router = APIRouter(prefix="/v1/suppressions", tags=["suppressions"], route_class=AnsweringRoute, responses=ERROR_RESPONSES)


def _out(row: Suppression) -> SuppressionOut:
    return SuppressionOut(id=row.id, phone=row.phone, email=row.email_key, channel=row.channel, reason=row.reason,
                          source=row.source, created_at=row.created_at)


@router.get("", response_model=SuppressionPage)
async def list_suppressions(
    session: SessionDep, who: Admin,
    channel: SuppressionChannel | None = None,
    q: Annotated[str | None, Query(max_length=320, description="Part of a phone or email, or a phone in any format")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: str | None = None,
) -> SuppressionPage:
    """Newest first; ``?channel=`` lists the entries of exactly that channel (``all`` included only when named)."""
    rows, next_cursor = await suppressions.list_page(session, who.workspace_id, channel=channel, q=q, limit=limit,
                                                     cursor=cursor)
    return SuppressionPage(items=[_out(r) for r in rows], next_cursor=next_cursor)


@router.post("", status_code=201, response_model=SuppressionOut,
             responses={200: {"model": SuppressionOut, "description": "The entry already existed"}})
async def add_suppression(body: SuppressionIn, session: SessionDep, who: Admin, response: Response) -> SuppressionOut:
    """``phone`` or ``email`` (or both, one entry matching either). 422 names each address that does not read as one."""
    row, created = await suppressions.add(session, who.workspace_id, body, who.key_id)
    if not created:
        response.status_code = 200
    return _out(row)


@router.delete("/{suppression_id}", status_code=204, response_class=Response)
async def remove_suppression(suppression_id: str, session: SessionDep, who: Admin) -> Response:
    await suppressions.remove(session, who.workspace_id, suppression_id, who.key_id)
    return Response(status_code=204)
