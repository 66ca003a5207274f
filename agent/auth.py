"""API keys: generated once, stored as SHA-256 hashes, resolved to (workspace, role)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agent.db import session_scope, utcnow
from agent.ids import new_id
from agent.models import ApiKey, WebSession, Workspace
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
    key_cache.clear()


class KeyCache:
    """Keys this process resolved lately, so a request with a known key asks the database nothing
    (the live-call hook's every turn). Only keys found are kept, each for ``ttl`` seconds from
    its lookup: a revocation made in this process clears the cache at once; one made by another
    process (another ``serve`` worker, the CLI) is honoured there within ``ttl`` seconds."""

    def __init__(self, ttl: float = 5.0, size: int = 1024) -> None:
        self.ttl, self.size = ttl, size
        self._items: dict[str, tuple[float, Principal]] = {}

    def get(self, raw: str) -> Principal | None:
        item = self._items.get(hash_key(raw))
        if item is None or item[0] < time.monotonic():
            return None
        return item[1]

    def put(self, raw: str, principal: Principal) -> None:
        if len(self._items) >= self.size:
            self._items.clear()  # a burst of keys: start over rather than track recency
        self._items[hash_key(raw)] = (time.monotonic() + self.ttl, principal)

    def clear(self) -> None:
        self._items.clear()


key_cache = KeyCache()


async def resolve_key_cached(raw: str) -> Principal | None:
    """``resolve_key`` through ``key_cache``, in a session of its own only on a miss."""
    principal = key_cache.get(raw)
    if principal is None:
        async with session_scope() as session:
            principal = await resolve_key(session, raw)
        if principal is not None:
            key_cache.put(raw, principal)
    return principal


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


# --- inbox web sessions ------------------------------------------------------------------------

SESSION_TTL = dt.timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class WebLogin:
    """A signed-in browser: who it acts as and the CSRF token its forms must carry."""

    principal: Principal
    csrf_token: str


async def start_web_session(session: AsyncSession, principal: Principal) -> tuple[str, WebLogin]:
    """A new session for the key behind ``principal``; returns the cookie token (shown once)."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    session.add(WebSession(id=new_id("web"), token_hash=hash_key(token), key_id=principal.key_id, csrf_token=csrf,
                           expires_at=utcnow() + SESSION_TTL))
    # Expired sessions of the same key go now; nothing else needs to sweep them.
    await session.execute(delete(WebSession).where(WebSession.key_id == principal.key_id,
                                                   WebSession.expires_at < utcnow()))
    await session.flush()
    return token, WebLogin(principal, csrf)


async def resolve_web_session(session: AsyncSession, token: str) -> WebLogin | None:
    """The live session for a cookie token: unknown, expired and revoked-key sessions are None."""
    if not token:
        return None
    row = (await session.execute(
        select(ApiKey.id, ApiKey.workspace_id, ApiKey.role, WebSession.csrf_token)
        .join(ApiKey, ApiKey.id == WebSession.key_id)
        .where(WebSession.token_hash == hash_key(token), WebSession.expires_at > utcnow(),
               ApiKey.revoked_at.is_(None)))).first()
    if row is None:
        return None
    return WebLogin(Principal(key_id=row.id, workspace_id=row.workspace_id, role=Role(row.role)), row.csrf_token)


async def end_web_session(session: AsyncSession, token: str) -> None:
    await session.execute(delete(WebSession).where(WebSession.token_hash == hash_key(token)))
