"""API keys: generated once, stored as SHA-256 hashes, resolved to (workspace, role)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agent.db import utcnow
from agent.ids import new_id
from agent.models import ApiKey, Workspace
from agent.settings import get_settings
from agent.states import Role

KEY_PREFIX = "ovk_"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id (the actor in the activity log), workspace and role."""

    key_id: str
    workspace_id: str
    role: Role

    def may(self, *roles: Role) -> bool:
        return self.role in roles


def hash_key(raw: str) -> str:
    # Keys carry 256 bits of randomness, so a plain SHA-256 is enough (no slow KDF needed).
    return hashlib.sha256(raw.encode()).hexdigest()


async def get_or_create_workspace(session: AsyncSession, name: str) -> Workspace:
    ws = (await session.execute(select(Workspace).where(Workspace.name == name))).scalar_one_or_none()
    if ws is None:
        ws = Workspace(id=new_id("ws"), name=name, default_region=get_settings().default_region.upper())
        session.add(ws)
        await session.flush()
    return ws


async def create_key(session: AsyncSession, workspace_id: str, role: Role, name: str = "") -> tuple[ApiKey, str]:
    """A new key row and the raw key, which is never stored and never shown again."""
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(id=new_id("key"), workspace_id=workspace_id, role=Role(role).value, name=name,
                 prefix=raw[:12], key_hash=hash_key(raw))
    session.add(key)
    await session.flush()
    return key, raw


async def revoke_keys(session: AsyncSession, workspace_id: str, name: str) -> None:
    """Revoke the workspace's keys labelled ``name`` (never the unlabelled ones wholesale)."""
    if not name:
        raise ValueError("revoke_keys needs a key label")
    await session.execute(
        update(ApiKey)
        .where(ApiKey.workspace_id == workspace_id, ApiKey.name == name, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def resolve_key(session: AsyncSession, raw: str) -> Principal | None:
    if not raw.startswith(KEY_PREFIX):
        return None
    row = (
        await session.execute(
            select(ApiKey.id, ApiKey.workspace_id, ApiKey.role).where(
                ApiKey.key_hash == hash_key(raw), ApiKey.revoked_at.is_(None)
            )
        )
    ).first()
    if row is None:
        return None
    return Principal(key_id=row.id, workspace_id=row.workspace_id, role=Role(row.role))
