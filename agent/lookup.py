"""Get-or-404 scoped to a workspace: the one query every domain's ``get_<thing>`` is made of."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.errors import NotFound

M = TypeVar("M")


async def get_in_workspace(session: AsyncSession, model: type[M], workspace_id: str, row_id: str, *,
                           missing: str, code: str | None = None, for_update: bool = False) -> M:
    """The row of ``model`` with this id in the workspace; NotFound(``missing``, ``code``) otherwise.

    Another workspace's row is answered exactly like a missing one, so ids do not leak across.
    """
    table: Any = model
    q = select(model).where(table.id == row_id, table.workspace_id == workspace_id)
    if for_update:
        q = q.with_for_update()
    row = (await session.execute(q)).scalar_one_or_none()
    if row is None:
        raise NotFound(missing, code=code)
    return row
