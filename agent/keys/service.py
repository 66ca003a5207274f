"""Listing, creating and revoking keys, and listing workspaces.

A revoked key stops working at once: ``agent.auth.resolve_key`` reads the table on every request
(there is no key cache to invalidate), and the inbox's web sessions join the key and check
``revoked_at`` too.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity
from agent.auth import create_key, key_cache
from agent.db import utcnow
from agent.errors import NotFound
from agent.keys.schemas import KeyCreated, KeyIn, KeyOut, WorkspaceOut
from agent.models import ApiKey, Workspace


def _out(row: ApiKey) -> KeyOut:
    return KeyOut(id=row.id, role=row.role, name=row.name, prefix=row.prefix, created_at=row.created_at,
                  last_used_at=row.last_used_at, revoked_at=row.revoked_at)


async def list_keys(session: AsyncSession, workspace_id: str, *, include_revoked: bool = True) -> list[KeyOut]:
    query = select(ApiKey).where(ApiKey.workspace_id == workspace_id).order_by(ApiKey.created_at, ApiKey.id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return [_out(r) for r in (await session.execute(query)).scalars()]


async def create(session: AsyncSession, workspace_id: str, data: KeyIn, actor: str) -> KeyCreated:
    row, raw = await create_key(session, workspace_id, data.role, name=data.name)
    activity.record(session, workspace_id=workspace_id, actor=actor, kind="key.created",
                    payload={"key_id": row.id, "role": row.role, "name": row.name})
    return KeyCreated(id=row.id, key=raw, role=row.role, name=row.name)


async def revoke(session: AsyncSession, workspace_id: str, key_id: str, actor: str) -> KeyOut:
    """Revoke one key of the workspace (404 for another workspace's); revoking twice keeps the first time."""
    row = (await session.execute(select(ApiKey).where(ApiKey.id == key_id, ApiKey.workspace_id == workspace_id)
                                 .with_for_update())).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no key {key_id} in this workspace")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        await session.flush()
        key_cache.clear()  # this process at once; the others within agent.auth.KeyCache's ttl
        activity.record(session, workspace_id=workspace_id, actor=actor, kind="key.revoked",
                        payload={"key_id": row.id, "name": row.name})
    return _out(row)


async def find_workspace(session: AsyncSession, name: str) -> Workspace | None:
    return (await session.execute(select(Workspace).where(Workspace.name == name))).scalar_one_or_none()


async def key_workspace(session: AsyncSession, key_id: str) -> str | None:
    """The workspace a key belongs to (the CLI revokes by id alone)."""
    return (await session.execute(select(ApiKey.workspace_id).where(ApiKey.id == key_id))).scalar_one_or_none()


async def list_workspaces(session: AsyncSession) -> list[WorkspaceOut]:
    live = (select(ApiKey.workspace_id, func.count().label("n")).where(ApiKey.revoked_at.is_(None))
            .group_by(ApiKey.workspace_id).subquery())
    rows = await session.execute(select(Workspace, func.coalesce(live.c.n, 0))
                                 .outerjoin(live, live.c.workspace_id == Workspace.id).order_by(Workspace.name))
    return [WorkspaceOut(id=w.id, name=w.name, default_region=w.default_region, created_at=w.created_at, keys=n)
            for w, n in rows]


async def key_names(session: AsyncSession, key_ids: list[str]) -> dict[str, str]:
    """Key id -> the key's name (for showing an actor as a person, not a key prefix); unnamed keys are left out."""
    if not key_ids:
        return {}
    rows = await session.execute(select(ApiKey.id, ApiKey.name).where(ApiKey.id.in_(set(key_ids)), ApiKey.name != ""))
    return dict(rows.all())
