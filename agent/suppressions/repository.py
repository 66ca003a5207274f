"""Suppression queries: one entry by id in a workspace, the entry an add would repeat, and the list."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.lookup import get_in_workspace
from agent.models import Suppression
from agent.pagination import keyset, page
from agent.suppressions.schemas import SuppressionChannel


async def get_suppression(session: AsyncSession, workspace_id: str, suppression_id: str) -> Suppression:
    return await get_in_workspace(session, Suppression, workspace_id, suppression_id,
                                  missing=f"no suppression {suppression_id}")


async def find_same(session: AsyncSession, workspace_id: str, *, phone: str | None, email_key: str | None,
                    channel: SuppressionChannel) -> Suppression | None:
    """The entry with exactly these keys on this channel, if the workspace has one."""
    q = select(Suppression).where(
        Suppression.workspace_id == workspace_id, Suppression.channel == channel,
        Suppression.phone == phone if phone else Suppression.phone.is_(None),
        Suppression.email_key == email_key if email_key else Suppression.email_key.is_(None))
    return (await session.execute(q.order_by(Suppression.id).limit(1))).scalar_one_or_none()


async def list_suppressions(session: AsyncSession, workspace_id: str, *, channel: SuppressionChannel | None,
                            text: str | None, phone: str | None, limit: int,
                            cursor: str | None) -> tuple[list[Suppression], str | None]:
    """Newest first. ``text`` is a substring of the phone or email; ``phone`` (its E.164 reading) matches exactly."""
    q = select(Suppression).where(Suppression.workspace_id == workspace_id)
    if channel is not None:
        q = q.where(Suppression.channel == channel)
    if text:
        # Escape LIKE wildcards so "_" and "%" in the text match themselves.
        like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        clauses = [Suppression.phone.ilike(like, escape="\\"), Suppression.email_key.ilike(like, escape="\\")]
        if phone:
            clauses.append(Suppression.phone == phone)
        q = q.where(or_(*clauses))
    q = keyset(q, sort_col=None, id_col=Suppression.id, cursor=cursor, descending=True, limit=limit)
    rows = list((await session.execute(q)).scalars())
    return page(rows, limit, lambda r: (None, r.id))
