"""Outreach moves: ``OUTREACH_TRANSITIONS`` applied by compare-and-set.

Review (approve, edit, reject, queue), the executor (claim, send, fail) and the reconciler
(lose) all move outreaches here. The caller records the activity event: its payload (what was
edited, what the provider answered) is the caller's to tell.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from agent.db import utcnow
from agent.models import Outreach
from agent.states import OUTREACH_TRANSITIONS, OutreachAction, OutreachStatus


def allowed_from(action: OutreachAction) -> frozenset[OutreachStatus]:
    return OUTREACH_TRANSITIONS[action][0]


async def move_outreach(session: AsyncSession, outreach_id: str, action: OutreachAction, *,
                        version: int | None = None, values: dict[str, Any] | None = None) -> int | None:
    """Compare-and-set one outreach through ``action``; its new version, or None if the row was
    not in an allowed status (or not at ``version``)."""
    row = await move_outreach_returning(session, outreach_id, action, version=version, values=values)
    return row.version if row else None


async def move_outreach_returning(session: AsyncSession, outreach_id: str, action: OutreachAction,
                                  *columns: ColumnElement[Any], version: int | None = None,
                                  values: dict[str, Any] | None = None) -> Row | None:
    """:func:`move_outreach`, answering the moved row's new ``version`` and ``columns`` as they
    are after the move (so the caller need not read the row again), or None."""
    sources, target = OUTREACH_TRANSITIONS[action]
    q = update(Outreach).where(Outreach.id == outreach_id, Outreach.status.in_(sources))
    if version is not None:
        q = q.where(Outreach.version == version)
    return (await session.execute(
        q.values(status=target, version=Outreach.version + 1, updated_at=utcnow(), **(values or {}))
        .returning(Outreach.version, *[c for c in columns if c is not Outreach.version])
        .execution_options(synchronize_session=False))).first()


async def move_outreaches(session: AsyncSession, action: OutreachAction, where: ColumnElement[bool], *,
                          values: dict[str, Any] | None = None) -> list[Row]:
    """Move every outreach matching ``where`` that the action allows, in one compare-and-set
    (concurrent callers get disjoint rows); the moved rows' id, enrollment id and new version."""
    sources, target = OUTREACH_TRANSITIONS[action]
    return list((await session.execute(
        update(Outreach).where(where, Outreach.status.in_(sources))
        .values(status=target, version=Outreach.version + 1, updated_at=utcnow(), **(values or {}))
        .returning(Outreach.id, Outreach.enrollment_id, Outreach.version)
        .execution_options(synchronize_session=False))).all())
