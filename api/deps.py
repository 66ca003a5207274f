"""Request dependencies: the database session (committed before the answer leaves) and the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncSession

from agent.auth import Principal, resolve_key
from agent.db import session_scope
from agent.errors import Forbidden, Unauthorized
from agent.states import Role
from api import ratelimit
from api.guard import PRINCIPAL


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with session_scope() as session:
        request.state.session = session  # api.idempotency stores a POST's answer in this transaction
        yield session


# scope="function": the commit happens before the response is sent, so a 2xx means it landed.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_principal(request: Request, session: SessionDep,
                        authorization: Annotated[str | None, Header(include_in_schema=False)] = None) -> Principal:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
    checked = getattr(request.state, PRINCIPAL, None)
    if checked is not None:  # api.guard.RequireBearer resolved this request's key already
        return checked
    await ratelimit.check(request)
    principal = await resolve_key(session, authorization[7:].strip())
    if principal is None:
        await ratelimit.failed(request)
        raise Unauthorized("the API key is unknown or revoked")
    return principal


def require(*roles: Role):
    """A dependency admitting only the given roles (403 for the others)."""

    async def check(principal: Annotated[Principal, Depends(get_principal, scope="function")]) -> Principal:
        if principal.role not in roles:
            raise Forbidden(f"the {principal.role.value} role may not do this; it needs "
                            + " or ".join(r.value for r in roles))
        return principal

    return check


Reader = Annotated[Principal, Depends(require(Role.admin, Role.approver, Role.viewer), scope="function")]
Approver = Annotated[Principal, Depends(require(Role.admin, Role.approver), scope="function")]
Admin = Annotated[Principal, Depends(require(Role.admin), scope="function")]
