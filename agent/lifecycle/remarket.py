"""Remarketing's ``remarket`` move: starting a remarketing channel reopens its audience.

A contact who finished, replied, waits or rests under a paused campaign is done with (or parked
in) the old sequence, so a new channel for them would reach nobody. When the channel starts,
its audience (``channel_audiences``) goes back to ``waiting`` with a fresh attempt count, all
in one compare-and-set batch, except those Overture must never contact again: opted out,
bounced or blocked (``REMARKET_NEVER``), on the suppression list for the channel's kind (or
``all``), and those with an outreach still in review, queued or in flight (a second draft
would race it). :func:`classify` is the one definition of who is reopened and why not: the
Settings tab's preview counts with it and the move writes with it, so the two never disagree.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from agent.lifecycle.enrollments import move_seen_enrollments
from agent.models import Channel, ChannelAudience, Contact, Enrollment, Outreach, Suppression
from agent.states import (ENROLLMENT_TRANSITIONS, OUTREACH_UPCOMING, REMARKET_NEVER, EnrollmentAction,
                          EnrollmentStatus, OutreachStatus)

REOPEN = "reopen"
UNCHANGED = "unchanged"  # not in a status the move takes (not started yet, completed, in error...)
# The reasons an audience member is never reopened, in the order they are checked.
EXCLUDED = (*sorted(s.value for s in REMARKET_NEVER), "suppressed", "outreach_pending")
_FRESH = {"attempts": 0, "last_attempt_at": None, "next_attempt_at": None, "lease_until": None}


def _suppressed(kind: str) -> ColumnElement[bool]:
    """SQL: the enrollment's contact is suppressed on every channel or on ``kind``."""
    return (select(Suppression.id).join(Contact, or_(Suppression.phone == Contact.phone,
                                                     Suppression.email_key == Contact.email_key))
            .where(Contact.id == Enrollment.contact_id, Suppression.workspace_id == Enrollment.workspace_id,
                   Suppression.channel.in_(["all", kind])).exists())


def classify(kind: str) -> ColumnElement[str]:
    """SQL: what starting a ``kind`` remarketing channel does to the enrollment, ``reopen`` or
    why not (one of ``EXCLUDED``, or ``unchanged``)."""
    pending = (select(Outreach.id).where(Outreach.enrollment_id == Enrollment.id, Outreach.status.in_(
        OUTREACH_UPCOMING | {OutreachStatus.executing})).exists())
    never = [(and_(Enrollment.status == EnrollmentStatus.finished, Enrollment.substatus == s), literal(s.value))
             for s in sorted(REMARKET_NEVER)]
    return case(*never, (_suppressed(kind), literal("suppressed")),
                (Enrollment.status.not_in(ENROLLMENT_TRANSITIONS[EnrollmentAction.remarket].sources),
                 literal(UNCHANGED)),
                (pending, literal("outreach_pending")), else_=literal(REOPEN))


def _members(channel_id: str) -> ColumnElement[bool]:
    return Enrollment.id.in_(select(ChannelAudience.enrollment_id).where(ChannelAudience.channel_id == channel_id))


def _summary(counts: Counter[str]) -> dict[str, Any]:
    return {"contacts": sum(counts.values()), REOPEN: counts[REOPEN], UNCHANGED: counts[UNCHANGED],
            "excluded": {reason: counts[reason] for reason in EXCLUDED}}


async def _counts(session: AsyncSession, channel: Channel) -> Counter[str]:
    reason = classify(channel.kind).label("reason")
    rows = select(reason).where(_members(channel.id)).subquery()
    return Counter(dict((await session.execute(select(rows.c.reason, func.count()).group_by(rows.c.reason))).all()))


async def preview(session: AsyncSession, channel: Channel) -> dict[str, Any]:
    """What starting the channel would do now: its audience size, how many would be reopened,
    left as they are, and excluded by reason. Nothing is written."""
    return _summary(await _counts(session, channel))


async def reopen_audience(session: AsyncSession, channel: Channel, actor: str) -> dict[str, Any]:
    """Apply ``remarket`` to the channel's audience (the caller starts the channel in the same
    transaction) and answer :func:`preview`'s counts, ``reopen`` being what was written.

    Only the rows to reopen are loaded (the others are counted in SQL). Runs once per channel:
    only ``start`` calls it and a channel starts once (``ready`` is left for good). A row that
    changed since it was read is left as it is and counted unchanged."""
    counts = await _counts(session, channel)
    reopen = classify(channel.kind) == REOPEN
    rows = list((await session.execute(select(Enrollment).where(_members(channel.id), reopen))).scalars())
    moved = await move_seen_enrollments(session, rows, EnrollmentAction.remarket, values=_FRESH, where=reopen,
                                        actor=actor)
    counts[UNCHANGED] += counts[REOPEN] - len(moved)
    counts[REOPEN] = len(moved)
    return _summary(counts)
