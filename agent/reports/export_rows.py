"""The rows of a campaign export: every contact of the campaign with its metrics, read in batches.

Memory stays flat whatever the campaign's size: enrollments are read by keyset in batches of
``BATCH``, and each batch's figures come from GROUP BY queries over that batch only. A contact's
goal result is the best any of its conversations reached and its score the highest, a person's
correction counting instead of the model's answer, current evaluations only (the same rule as
``evaluators/rollup.py``, written here as SQL so a batch is one query).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, select

from agent.campaigns.schemas import CampaignSettings
from agent.db import session_scope
from agent.models import Campaign, Contact, Conversation, Enrollment, Evaluation, Goal, GoalResult, Outreach
from agent.states import EnrollmentStatus, GoalResultValue, OutreachStatus

BATCH = 1000
MAX_PROPERTY_COLUMNS = 200
REACHED = (OutreachStatus.sent, OutreachStatus.delivered)
# Best first, as in the roll-up; SQL takes the MAX of the rank.
_RANK = {GoalResultValue.achieved: 3, GoalResultValue.partially_achieved: 2, GoalResultValue.not_achieved: 1}
_BY_RANK = {rank: word for word, rank in _RANK.items()} | {0: GoalResultValue.unknown}

# The contact's own fields and the enrollment's figures, in column order.
FIELDS = ("contact_id", "first_name", "last_name", "email", "phone", "timezone", "priority", "tags", "crm_id",
          "owner_id", "status", "substatus", "attempts", "max_attempts", "source", "enrolled_at",
          "last_contacted_at", "next_attempt_at", "outreaches_sent", "conversations", "conversation_duration_s")


@dataclass(frozen=True, slots=True)
class GoalColumn:
    goal_id: str
    name: str
    is_primary: bool


@dataclass(frozen=True, slots=True)
class Layout:
    """What an export's columns are: the fixed fields, each goal (result, score) and each property key."""

    goals: tuple[GoalColumn, ...]
    properties: tuple[str, ...]

    def header(self) -> list[str]:
        goal_cols = [c for g in self.goals for c in (f"{g.name} (result)", f"{g.name} (score)")]
        return [*FIELDS, *goal_cols, *(f"property: {p}" for p in self.properties)]

    def flat(self, row: dict[str, Any]) -> list[Any]:
        """A row for a spreadsheet: one cell per header column."""
        cells = [", ".join(map(str, row["tags"])) if f == "tags" else row[f] for f in FIELDS]
        by_goal = {g["goal_id"]: g for g in row["goals"]}
        for g in self.goals:
            cells += [by_goal[g.goal_id]["result"], by_goal[g.goal_id]["score"]]
        props = row["properties"]
        cells += [_text(props.get(p)) for p in self.properties]
        return cells


def _text(value: Any) -> Any:
    return value if value is None or isinstance(value, str | int | float) else str(value)


async def layout(campaign: Campaign) -> Layout:
    """The campaign's goals and the property keys its contacts carry (first seen first, capped)."""
    async with session_scope() as s:
        goals = (await s.execute(select(Goal.id, Goal.name, Goal.is_primary).where(
            Goal.campaign_id == campaign.id, Goal.archived_at.is_(None))
            .order_by(Goal.is_primary.desc(), Goal.created_at, Goal.id))).all()
    keys: dict[str, None] = {}
    after = ""
    while len(keys) < MAX_PROPERTY_COLUMNS:
        async with session_scope() as s:
            batch = (await s.execute(
                select(Enrollment.id, Contact.properties).join(Contact, Contact.id == Enrollment.contact_id)
                .where(Enrollment.campaign_id == campaign.id, Enrollment.status != EnrollmentStatus.removed,
                       Enrollment.id > after).order_by(Enrollment.id).limit(BATCH))).all()
        if not batch:
            break
        for _, props in batch:
            keys.update(dict.fromkeys(props or {}))
        after = batch[-1][0]
    return Layout(goals=tuple(GoalColumn(*g) for g in goals), properties=tuple(list(keys)[:MAX_PROPERTY_COLUMNS]))


async def count(campaign_id: str) -> int:
    async with session_scope() as s:
        return (await s.execute(select(func.count()).where(
            Enrollment.campaign_id == campaign_id, Enrollment.status != EnrollmentStatus.removed))).scalar_one()


async def batches(campaign: Campaign, shape: Layout) -> AsyncIterator[list[dict[str, Any]]]:
    """Every contact of the campaign as a row dict, ``BATCH`` at a time, in enrollment order."""
    max_attempts = CampaignSettings.model_validate(campaign.settings).max_attempts
    after = ""
    while True:
        async with session_scope() as s:
            batch = (await s.execute(
                select(Enrollment, Contact).join(Contact, Contact.id == Enrollment.contact_id)
                .where(Enrollment.campaign_id == campaign.id, Enrollment.status != EnrollmentStatus.removed,
                       Enrollment.id > after).order_by(Enrollment.id).limit(BATCH))).all()
            if not batch:
                return
            ids = [e.id for e, _ in batch]
            talks = await _conversations(s, ids)
            sent = await _outreaches(s, ids)
            goals = await _goals(s, ids)
        yield [_row(e, c, max_attempts, talks.get(e.id), sent.get(e.id), goals.get(e.id, {}), shape) for e, c in batch]
        after = batch[-1][0].id


async def _conversations(s: Any, ids: list[str]) -> dict[str, tuple[int, float, dt.datetime | None]]:
    c = Conversation
    rows = (await s.execute(
        select(c.enrollment_id, func.count(), func.coalesce(func.sum(c.duration_s), 0),
               func.max(case((c.direction == "outbound", c.started_at))))
        .where(c.enrollment_id.in_(ids)).group_by(c.enrollment_id))).all()
    return {eid: (int(n), float(d or 0), last) for eid, n, d, last in rows}


async def _outreaches(s: Any, ids: list[str]) -> dict[str, tuple[int, dt.datetime | None]]:
    rows = (await s.execute(
        select(Outreach.enrollment_id, func.count(), func.max(Outreach.sent_at))
        .where(Outreach.enrollment_id.in_(ids), Outreach.status.in_(REACHED))
        .group_by(Outreach.enrollment_id))).all()
    return {eid: (int(n), last) for eid, n, last in rows}


def goal_rank() -> Any:
    """A goal result's rank as SQL (a correction counts instead of the model's answer); MAX it."""
    result = func.coalesce(GoalResult.corrected_result, GoalResult.result)
    return case({word.value: n for word, n in _RANK.items()}, value=result, else_=0)


def result_of_rank(rank: int | None) -> GoalResultValue:
    return _BY_RANK[int(rank or 0)]


async def _goals(s: Any, ids: list[str]) -> dict[str, dict[str, tuple[GoalResultValue, int | None]]]:
    rank = goal_rank()
    score = func.coalesce(GoalResult.corrected_score, GoalResult.score)
    rows = (await s.execute(
        select(Conversation.enrollment_id, GoalResult.goal_id, func.max(rank), func.max(score))
        .join(Evaluation, and_(Evaluation.id == GoalResult.evaluation_id, Evaluation.is_current.is_(True)))
        .join(Conversation, Conversation.id == GoalResult.conversation_id)
        .where(Conversation.enrollment_id.in_(ids))
        .group_by(Conversation.enrollment_id, GoalResult.goal_id))).all()
    out: dict[str, dict[str, tuple[GoalResultValue, int | None]]] = {}
    for eid, goal_id, best, top in rows:
        out.setdefault(eid, {})[goal_id] = (result_of_rank(best), None if top is None else int(top))
    return out


def _latest(*moments: dt.datetime | None) -> dt.datetime | None:
    return max((m for m in moments if m is not None), default=None)


def _row(e: Enrollment, c: Contact, max_attempts: int, talks: tuple[int, float, dt.datetime | None] | None,
         sent: tuple[int, dt.datetime | None] | None, goals: dict[str, tuple[GoalResultValue, int | None]],
         shape: Layout) -> dict[str, Any]:
    n_talks, duration, last_call = talks or (0, 0.0, None)
    n_sent, last_sent = sent or (0, None)
    return {
        "contact_id": c.id, "first_name": c.first_name, "last_name": c.last_name, "email": c.email,
        "phone": c.phone, "timezone": c.timezone, "priority": str(c.priority), "tags": list(c.tags or []),
        "crm_id": c.crm_id, "owner_id": c.owner_id, "status": str(e.status),
        "substatus": None if e.substatus is None else str(e.substatus), "attempts": e.attempts,
        "max_attempts": max_attempts, "source": e.source, "enrolled_at": e.created_at,
        "last_contacted_at": _latest(last_sent, last_call), "next_attempt_at": e.next_attempt_at,
        "outreaches_sent": n_sent, "conversations": n_talks, "conversation_duration_s": round(duration, 1),
        "goals": [{"goal_id": g.goal_id, "name": g.name, "is_primary": g.is_primary,
                   "result": str(goals.get(g.goal_id, (GoalResultValue.unknown, None))[0]),
                   "score": goals.get(g.goal_id, (None, None))[1]} for g in shape.goals],
        "properties": dict(c.properties or {}),
    }
