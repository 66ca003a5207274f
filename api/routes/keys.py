"""The workspace's API keys (admin keys only): list without secrets, create (the key shown once), revoke."""

from __future__ import annotations

from fastapi import APIRouter

from agent.keys import service as keys
from agent.keys.schemas import KeyCreated, KeyIn, KeyOut, KeyPage
from api.deps import Admin, SessionDep
from api.errors import ERROR_RESPONSES
from api.idempotency import AnsweringRoute

router = APIRouter(prefix="/v1/keys", tags=["keys"], route_class=AnsweringRoute, responses=ERROR_RESPONSES)


@router.get("", response_model=KeyPage)
async def list_keys(session: SessionDep, who: Admin) -> KeyPage:
    """Every key of the caller's workspace, revoked ones included, oldest first; never the secret, only its prefix."""
    return KeyPage(items=await keys.list_keys(session, who.workspace_id))


@router.post("", status_code=201, response_model=KeyCreated)
async def create_key(body: KeyIn, session: SessionDep, who: Admin) -> KeyCreated:
    """A new key in the caller's workspace. The answer carries the secret this once; store it now."""
    return await keys.create(session, who.workspace_id, body, who.key_id)


@router.delete("/{key_id}", response_model=KeyOut)
async def revoke_key(key_id: str, session: SessionDep, who: Admin) -> KeyOut:
    """Revoke a key: every request with it answers 401 from now on, and its inbox sessions end.
    Answers the revoked key; revoking it again changes nothing."""
    return await keys.revoke(session, who.workspace_id, key_id, who.key_id)
