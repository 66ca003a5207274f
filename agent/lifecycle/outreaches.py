"""Outreach moves: ``OUTREACH_TRANSITIONS`` applied by compare-and-set.

Review (approve, edit, reject, queue), the executor (claim, send, fail) and the reconciler
(lose) all move outreaches here. The caller records the activity event: its payload (what was
edited, what the provider answered) is the caller's to tell.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Any

from sqlalchemy import Integer, Row, String, Update, bindparam, column, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Subquery

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


async def move_workspace_outreach(session: AsyncSession, workspace_id: str, outreach_id: str, action: OutreachAction,
                                  *columns: ColumnElement[Any], version: int | None = None,
                                  values: dict[str, Any] | None = None, now: dt.datetime | None = None) -> Row | None:
    """:func:`move_outreach_returning` for the workspace's outreach only (another workspace's id
    moves nothing), by a statement built once per shape (the action, ``columns``, whether a
    version is compared, the keys of ``values``) and reused with new values: building and
    cache-keying an UPDATE cost more than the database takes to run it. ``columns`` may be any
    expression over the row (a correlated subquery too); pass the same objects each time."""
    stmt = _move_statement(action, columns, version is not None, tuple(sorted(values or {})))
    params = {f"m_{k}": v for k, v in (values or {}).items()}
    params.update(m_id=outreach_id, m_ws=workspace_id, m_version=version, m_now=now or utcnow())
    return (await session.execute(stmt, params)).first()


def _is_version(col: Any, table: Any) -> bool:
    return col is Outreach.version or col is table.c.version  # the statement returns it first


@functools.lru_cache(maxsize=64)
def _move_statement(action: OutreachAction, columns: tuple[ColumnElement[Any], ...], versioned: bool,
                    keys: tuple[str, ...]) -> Update:
    sources, target = OUTREACH_TRANSITIONS[action]
    table = Outreach.__table__
    where = [table.c.id == bindparam("m_id"), table.c.workspace_id == bindparam("m_ws"),
             table.c.status == next(iter(sources)) if len(sources) == 1 else table.c.status.in_(sorted(sources))]
    if versioned:
        where.append(table.c.version == bindparam("m_version"))
    return (update(table).where(*where)
            .values(status=target, version=table.c.version + 1, updated_at=bindparam("m_now"),
                    **{k: bindparam(f"m_{k}") for k in keys})
            .returning(table.c.version, *[c for c in columns if not _is_version(c, table)]))


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


async def move_outreaches_at(session: AsyncSession, action: OutreachAction, seen: list[tuple[str, int]]) -> list[Row]:
    """Move each outreach of ``seen`` (id, version) from the version it was seen at, as
    :func:`move_outreaches` answers; by a statement built once per action (the executor's claim,
    once a batch)."""
    if not seen:
        return []
    return list((await session.execute(_at_statement(action), {
        "m_ids": [i for i, _ in seen], "m_seen": seen, "m_now": utcnow()})).all())


@functools.lru_cache(maxsize=16)
def _at_statement(action: OutreachAction) -> Update:
    sources, target = OUTREACH_TRANSITIONS[action]
    t = Outreach.__table__
    # ids first: SQLite serves a plain IN by the primary key, a row-value IN alone by a scan.
    return (update(t).where(t.c.id.in_(bindparam("m_ids", expanding=True)),
                            tuple_(t.c.id, t.c.version).in_(bindparam("m_seen", expanding=True)),
                            t.c.status.in_(sorted(sources)))
            .values(status=target, version=t.c.version + 1, updated_at=bindparam("m_now"))
            .returning(t.c.id, t.c.enrollment_id, t.c.version))


async def move_seen_outreaches(session: AsyncSession, action: OutreachAction, seen: list[dict[str, Any]], *,
                               values: dict[str, Any] | None = None) -> list[Row]:
    """Move each outreach of ``seen`` from the version it was seen at, setting columns of its own
    in the same UPDATE: each dict holds the row's ``id``, that ``version`` and its own values (the
    same keys in every dict, text columns; ``values`` are common to all). The moved rows as
    :func:`move_outreaches`.

    One statement for them all: a result write that moved the rows and then set each one's own
    column (a provider's message id) with a second UPDATE wrote every row twice, and on
    PostgreSQL a row written again is a new row version in every index of the table. The rows
    travel as a few array (PostgreSQL) or JSON (SQLite) parameters, not a VALUES list, so the
    statement is the same for every batch and SQLAlchemy compiles it once."""
    if not seen:
        return []
    own = tuple(k for k in seen[0] if k not in ("id", "version"))
    dialect = (await session.connection()).dialect.name
    names = ("id", "version", *own)
    params: dict[str, Any] = {f"m_{k}": v for k, v in (values or {}).items()}
    params["m_now"] = utcnow()
    if dialect == "postgresql":
        params.update({f"seen_{n}": [r[n] for r in seen] for n in names})
    else:
        params["seen_rows"] = json.dumps([[r[n] for n in names] for r in seen])
    stmt = _seen_statement(action, dialect, own, tuple(sorted(values or {})))
    return list((await session.execute(stmt, params)).all())


@functools.lru_cache(maxsize=32)
def _seen_statement(action: OutreachAction, dialect: str, own: tuple[str, ...], keys: tuple[str, ...]) -> Update:
    """:func:`move_seen_outreaches`' UPDATE, built once per shape (the action, the dialect, the
    rows' own columns, the common values' keys) and run with the rows and values bound."""
    table = Outreach.__table__
    rows = _seen_rows(dialect, own)
    sources, target = OUTREACH_TRANSITIONS[action]
    return (update(table).where(table.c.id == rows.c.id, table.c.version == rows.c.version,
                                table.c.status.in_(sorted(sources)))
            .values(status=target, version=table.c.version + 1, updated_at=bindparam("m_now"),
                    **{k: bindparam(f"m_{k}", type_=table.c[k].type) for k in keys}, **{k: rows.c[k] for k in own})
            .returning(table.c.id, table.c.enrollment_id, table.c.version))


def _seen_rows(dialect: str, own: tuple[str, ...]) -> Subquery:
    """The rows seen as a derived table ``seen(id, version, *own)``: ``unnest`` of one array per
    column on PostgreSQL (parameters ``seen_<column>``), ``json_each`` over one JSON list of rows
    on SQLite (parameter ``seen_rows``)."""
    names = ["id", "version", *own]
    columns = [column("id", String), column("version", Integer), *[column(k, String) for k in own]]
    if dialect == "postgresql":
        arrays = ", ".join(f"CAST(:seen_{n} AS {'INTEGER' if n == 'version' else 'VARCHAR'}[])" for n in names)
        query = text(f"SELECT * FROM unnest({arrays}) AS seen({', '.join(names)})")
    else:
        picks = ", ".join(f"json_extract(value, '$[{i}]') AS {n}" for i, n in enumerate(names))
        query = text(f"SELECT {picks} FROM json_each(:seen_rows)")
    return query.columns(*columns).subquery("seen")
