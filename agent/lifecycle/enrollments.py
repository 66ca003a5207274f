"""Enrollment moves: ``ENROLLMENT_TRANSITIONS`` applied by compare-and-set, one event each.

Every writer of an enrollment's status calls :func:`move_enrollment` (one row) or
:func:`move_enrollments` (many rows from one status). The move is refused before anything is
written when the table does not allow it from the status the row is in, or when the substatus
does not belong to the action; a move that loses a race (the row changed since it was read)
writes nothing and returns None, and the caller decides whether that matters. Each applied move
appends an ``enrollment.moved`` event (action, from, to, substatus and the caller's details) to
the same transaction, so the log and the row never disagree.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Update, bindparam, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.elements import ClauseElement, ColumnElement

from agent import activity
from agent.db import utcnow
from agent.ids import new_id
from agent.lifecycle import rows_as_seen
from agent.models import ActivityEvent, Enrollment
from agent.states import ENROLLMENT_TRANSITIONS, EnrollmentAction, EnrollmentStatus, Substatus

MOVED = "enrollment.moved"
# Bulk moves keep each statement's IN list well under every backend's bind-parameter limit.
_CHUNK = 500


class RefusedMove(ValueError):
    """A move the transition table does not allow: a bug in the caller, never a lost race."""


@dataclass(frozen=True, slots=True)
class Moved:
    enrollment_id: str
    before: EnrollmentStatus
    after: EnrollmentStatus
    substatus: Substatus | None
    version: int


@dataclass(frozen=True, slots=True)
class _Seen:
    id: str
    workspace_id: str
    campaign_id: str
    contact_id: str
    status: EnrollmentStatus
    substatus: str | None
    version: int


def _check(action: EnrollmentAction, before: EnrollmentStatus | None, substatus: Substatus | None) -> None:
    move = ENROLLMENT_TRANSITIONS[action]
    if substatus not in move.substatuses:
        raise RefusedMove(f"{action.value} cannot leave substatus {substatus} under {move.target.value}")
    if before is not None and before not in move.sources:
        raise RefusedMove(f"{action.value} does not move an enrollment that is {before.value}")


async def _seen(session: AsyncSession, enrollment_id: str) -> _Seen | None:
    row = (await session.execute(select(
        Enrollment.id, Enrollment.workspace_id, Enrollment.campaign_id, Enrollment.contact_id, Enrollment.status,
        Enrollment.substatus, Enrollment.version).where(Enrollment.id == enrollment_id))).first()
    return None if row is None else _Seen(row.id, row.workspace_id, row.campaign_id, row.contact_id,
                                          EnrollmentStatus(row.status), row.substatus, row.version)


# How often a person's move is tried against a row that other moves keep changing under it.
MOVE_TRIES = 3


async def move_enrollment(session: AsyncSession, enrollment: Enrollment | str, action: EnrollmentAction, *,
                          substatus: Substatus | None = None, only_from: EnrollmentStatus | None = None,
                          values: dict[str, Any] | None = None, where: ColumnElement[bool] | None = None,
                          actor: str = activity.SYSTEM, outreach_id: str | None = None,
                          payload: dict[str, Any] | None = None, now: dt.datetime | None = None,
                          events: list[dict[str, Any]] | None = None) -> Moved | None:
    """Move one enrollment through ``action``, from the status and version it was seen at.

    Pass the loaded row to compare-and-set against what the caller saw; pass its id to read the
    row first. ``only_from`` narrows the action's sources to the one the caller means; ``where`` narrows the compare-and-set (a planning lease that must have lapsed),
    ``values`` sets other columns in the same UPDATE. None when the enrollment is gone, in a
    status the action does not move from, or changed since it was seen. A substatus the action
    may not leave raises :class:`RefusedMove` whatever the row's state. With ``events`` the move's
    event is appended there for the caller to write with its others (``activity.record_all``)
    instead of being added to the session.
    """
    seen = (await _seen(session, enrollment) if isinstance(enrollment, str) else
            _Seen(enrollment.id, enrollment.workspace_id, enrollment.campaign_id, enrollment.contact_id,
                  EnrollmentStatus(enrollment.status), enrollment.substatus, enrollment.version))
    move = ENROLLMENT_TRANSITIONS[action]
    _check(action, None, substatus)
    if seen is None or seen.status not in move.sources or only_from not in (None, seen.status):
        return None
    now = now or utcnow()
    values = values or {}
    bound, exprs = _split(values)
    q = _move_statement(tuple(sorted(bound)))
    if where is not None:
        q = q.where(where)
    if exprs:  # SQL expressions are part of the statement, not its parameters
        q = q.values(**dict(exprs))
    params = {f"m_{k}": v for k, v in bound.items()}
    params.update(m_id=seen.id, m_status=seen.status, m_version=seen.version, m_target=move.target,
                  m_substatus=substatus, m_now=now)
    row = (await session.execute(q, params)).first()
    if row is None:
        return None
    if not isinstance(enrollment, str):
        # Keep the caller's object in step with the row it now describes, without marking it
        # dirty (a flush would write the same row a second time).
        for key, value in {**values, "status": move.target, "substatus": substatus, "version": row[0],
                           "updated_at": now}.items():
            set_committed_value(enrollment, key, value)
    event = dict(workspace_id=seen.workspace_id, actor=actor, kind=MOVED, campaign_id=seen.campaign_id,
                 contact_id=seen.contact_id, enrollment_id=seen.id, outreach_id=outreach_id,
                 payload=_payload(action, seen.status, move.target, substatus,
                                  {"from_substatus": seen.substatus, **(payload or {})}))
    if events is None:
        activity.record(session, **event)
    else:
        events.append(event)
    return Moved(seen.id, seen.status, move.target, substatus, row[0])


def _split(values: dict[str, Any]) -> tuple[dict[str, Any], tuple[tuple[str, Any], ...]]:
    """``values`` as (the plain ones, bound as ``m_<key>`` parameters; the SQL expressions, which
    are part of a cached statement's shape, in key order)."""
    bound = {k: v for k, v in values.items() if not isinstance(v, ClauseElement)}
    return bound, tuple(sorted((k, v) for k, v in values.items() if k not in bound))


@functools.lru_cache(maxsize=64)
def _move_statement(keys: tuple[str, ...]) -> Update:
    """:func:`move_enrollment`'s compare-and-set, built once per set of ``values`` keys and reused
    with new parameters: building and cache-keying the UPDATE (and the ORM's bulk-update path,
    which adds nothing with ``synchronize_session=False``) cost more CPU than SQLite takes to
    run it. The row's id, the status and version it was seen at, the target, the substatus, the
    moment and each value are bound (``m_``-prefixed)."""
    t = Enrollment.__table__
    return (update(t).where(t.c.id == bindparam("m_id"), t.c.status == bindparam("m_status"),
                            t.c.version == bindparam("m_version"))
            .values(**{k: bindparam(f"m_{k}") for k in keys}, status=bindparam("m_target"),
                    substatus=bindparam("m_substatus"), version=t.c.version + 1, updated_at=bindparam("m_now"))
            .returning(t.c.version).execution_options(synchronize_session=False))


async def move_enrollments(session: AsyncSession, enrollment_ids: list[str], action: EnrollmentAction, *,
                           before: EnrollmentStatus, substatus: Substatus | None = None,
                           values: dict[str, Any] | None = None, actor: str = activity.SYSTEM,
                           payload: dict[str, Any] | None = None, now: dt.datetime | None = None) -> list[Moved]:
    """Move every listed enrollment that is still ``before`` (the others are left as they are);
    one UPDATE per chunk and the events written in bulk."""
    _check(action, before, substatus)
    target = ENROLLMENT_TRANSITIONS[action].target
    now = now or utcnow()
    moved: list[Moved] = []
    for i in range(0, len(enrollment_ids), _CHUNK):
        rows = (await session.execute(
            update(Enrollment).where(Enrollment.id.in_(enrollment_ids[i:i + _CHUNK]), Enrollment.status == before)
            .values(**(values or {}), status=target, substatus=substatus, version=Enrollment.version + 1,
                    updated_at=now)
            .returning(Enrollment.id, Enrollment.workspace_id, Enrollment.campaign_id, Enrollment.contact_id,
                       Enrollment.version)
            .execution_options(synchronize_session=False))).all()
        event = _payload(action, before, target, substatus, payload)
        session.add_all([ActivityEvent(id=new_id("evt"), workspace_id=r.workspace_id, actor=actor, kind=MOVED,
                                       campaign_id=r.campaign_id, contact_id=r.contact_id, enrollment_id=r.id,
                                       payload=event) for r in rows])
        moved += [Moved(r.id, before, target, substatus, r.version) for r in rows]
    return moved


async def move_seen_enrollments(session: AsyncSession, enrollments: list[Enrollment], action: EnrollmentAction, *,
                                substatus: Substatus | None = None, values: dict[str, Any] | None = None,
                                where: ColumnElement[bool] | None = None, actor: str = activity.SYSTEM,
                                outreach_of: dict[str, str] | None = None,
                                now: dt.datetime | None = None,
                                events: list[dict[str, Any]] | None = None) -> list[Moved]:
    """:func:`move_enrollment` for many loaded rows at once: each compare-and-set against the
    status and version it was seen at (narrowed by ``where``), one UPDATE per chunk, the same
    events (with the outreach from ``outreach_of``) written in bulk, or added to ``events`` for
    the caller to write with its own in one ``activity.record_all`` (one COPY, not two, per
    transaction). Rows the action does not move from, or changed since they were seen, are left
    as they are (absent from the answer)."""
    move = ENROLLMENT_TRANSITIONS[action]
    _check(action, None, substatus)
    now = now or utcnow()
    seen = {e.id: e for e in enrollments if EnrollmentStatus(e.status) in move.sources}
    pending = list(seen.values())
    moved: list[Moved] = []
    values = values or {}
    bound, exprs = _split(values)
    for i in range(0, len(pending), _CHUNK):
        chunk = pending[i:i + _CHUNK]
        if where is None:
            params = {f"m_{k}": v for k, v in bound.items()}
            params.update(m_ids=[e.id for e in chunk], m_seen=[(e.id, e.status, e.version) for e in chunk],
                          m_substatus=substatus, m_now=now)
            rows = (await session.execute(_seen_statement(move.target, tuple(sorted(bound)), exprs), params)).all()
        else:  # a caller's own condition: built for the call
            q = update(Enrollment).where(rows_as_seen(Enrollment.id, (Enrollment.status, Enrollment.version),
                                                      [(e.id, e.status, e.version) for e in chunk]), where)
            rows = (await session.execute(
                q.values(**values, status=move.target, substatus=substatus, version=Enrollment.version + 1,
                         updated_at=now)
                .returning(Enrollment.id, Enrollment.version).execution_options(synchronize_session=False))).all()
        written: list[dict[str, Any]] = [] if events is None else events
        for enrollment_id, version in rows:
            e = seen[enrollment_id]
            before, before_sub = EnrollmentStatus(e.status), e.substatus
            for key, value in {"status": move.target, "substatus": substatus, "version": version,
                               "updated_at": now}.items():
                set_committed_value(e, key, value)  # in step with the row, not dirty (see move_enrollment)
            written.append({"workspace_id": e.workspace_id, "actor": actor, "kind": MOVED,
                           "campaign_id": e.campaign_id, "contact_id": e.contact_id, "enrollment_id": e.id,
                           "outreach_id": (outreach_of or {}).get(e.id),
                           "payload": _payload(action, before, move.target, substatus,
                                               {"from_substatus": before_sub})})
            moved.append(Moved(e.id, before, move.target, substatus, version))
        if events is None:
            await activity.record_all(session, written)
    return moved


@functools.lru_cache(maxsize=64)
def _seen_statement(target: EnrollmentStatus, keys: tuple[str, ...], exprs: tuple[tuple[str, Any], ...]) -> Update:
    """:func:`move_seen_enrollments`' compare-and-set, built once per shape: the target, the keys of
    the values bound (``m_``-prefixed) and the values that are SQL expressions (pass the same
    expression objects each time, or each call builds its own). The rows come as two expanding
    parameters, their ids (``m_ids``, which SQLite's primary key serves) and (id, status,
    version) as seen (``m_seen``); the substatus and the moment are bound too. Building and
    cache-keying this UPDATE for every batch was about a quarter of a small batch's CPU."""
    t = Enrollment.__table__
    return (update(t).where(t.c.id.in_(bindparam("m_ids", expanding=True)),
                            tuple_(t.c.id, t.c.status, t.c.version).in_(bindparam("m_seen", expanding=True)))
            .values(**{k: bindparam(f"m_{k}") for k in keys}, **dict(exprs), status=target,
                    substatus=bindparam("m_substatus"), version=t.c.version + 1, updated_at=bindparam("m_now"))
            .returning(t.c.id, t.c.version))


def _payload(action: EnrollmentAction, before: EnrollmentStatus, after: EnrollmentStatus,
             substatus: Substatus | None, extra: dict[str, Any] | None) -> dict[str, Any]:
    return {"action": action.value, "from": before.value, "to": after.value,
            "substatus": substatus.value if substatus else None, **(extra or {})}


async def renew_lease(session: AsyncSession, enrollment_id: str, version: int, until: dt.datetime) -> bool:
    """Extend a planner's lease on the enrollment it claimed at ``version`` (no status change, no
    event); False once another planner has taken it over or the plan was written."""
    kept = await session.execute(
        update(Enrollment).where(Enrollment.id == enrollment_id, Enrollment.version == version,
                                 Enrollment.status == EnrollmentStatus.planning)
        .values(lease_until=until).execution_options(synchronize_session=False))
    return kept.rowcount == 1


async def seed_story(session: AsyncSession, enrollment_id: str, *, status: EnrollmentStatus,
                     substatus: Substatus | None, attempts: int, last_attempt_at: dt.datetime,
                     next_attempt_at: dt.datetime | None) -> None:
    """The demo's seeded history only (``agent.demo_history``): a contact's story that did not
    happen through the transition table, written as its end state in one step. Nothing else may
    call this; real moves go through :func:`move_enrollment`."""
    await session.execute(update(Enrollment).where(Enrollment.id == enrollment_id).values(
        status=status, substatus=substatus, attempts=attempts, last_attempt_at=last_attempt_at,
        next_attempt_at=next_attempt_at).execution_options(synchronize_session=False))
