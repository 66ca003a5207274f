"""Campaign figures (``GET /v1/campaigns/{id}/stats``), read from the rollups the database keeps.

Migration 0016's triggers keep every figure below as a counter in ``stats_counts`` (distinct
ones through per-enrollment marks, ``stats_marks``), moved by every write to the rows behind it,
so a stats read is one grouped scan of the campaign's counters, whatever its size. The formulas
(``tests/reports/recount.py`` computes the same from the raw rows, and a test holds them equal):

- ``all.total_contacts``: enrollments not removed. ``started``: of those, not ``not_started``.
- ``contacted`` / *reached on a channel*: distinct enrollments with an outreach on that channel
  in ``REACHED`` (sent or delivered) or, for voice, an outbound call.
- ``replied``: contacts with a human reply = enrollments in status ``replied`` (auto-replies and
  bounces never set it); per channel, those of them reached on that channel.
  Reply rate = replied / reached on the channel.
- ``positive``: contacts whose human reply was read as ``interested`` (``inbound_messages.intent``);
  the rate is positive / reached. Intents still being read count once they are.
- ``email.bounced`` / ``email.unsubscribed`` / ``sms.opted_out``: enrollments reached on the
  channel whose substatus is ``bounced`` / ``opted_out``. ``sms.failed``: sms outreaches ``failed``.
- ``voice``: ``calls`` outbound voice conversations; ``conversations`` those answered by a human;
  ``total_duration_s`` / ``avg_duration_s`` over the human-answered ones.
- ``goals``: current evaluations' results (a correction wins) per goal.
- ``flow``: per step and channel, distinct enrollments reached.
- ``heatmap``: calls per weekday/hour in the campaign's time zone (see ``fold_heatmap``).
- ``review``: drafts ``awaiting_approval``, and of them ``overdue``: drafted longer ago than the
  campaign's ``settings.approval_sla_hours`` (that one depends on the clock: an indexed count).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, case, cast, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.campaigns.schemas import CampaignSettings
from agent.db import utcnow
from agent.models import Campaign, Goal, Outreach, StatsCount
from agent.states import AnswerStatus, EnrollmentStatus, OutreachStatus, TaskStatus

REACHED = (OutreachStatus.sent, OutreachStatus.delivered)


async def _figures(session: AsyncSession, campaign_id: str) -> dict[str, tuple[int, float]]:
    """The campaign's counters by figure, shards summed (a figure at zero is as good as absent),
    but for the heatmap's (``_heatmap_buckets``)."""
    c = StatsCount.__table__.c  # Core selects: no ORM loading
    q = (select(c.figure, func.sum(c.n), func.sum(c.total))
         .where(c.campaign_id == campaign_id, c.figure.not_like("hm:%")).group_by(c.figure))
    return {f: (int(n), float(t)) for f, n, t in (await session.execute(q)).all() if n or t}


def _offset_changes(zone: ZoneInfo, first: dt.date, last: dt.date) -> list[str]:
    """The UTC quarter-hours (as ``YYYY-MM-DD HH:q``) from ``first`` to ``last`` at which the zone's
    offset changes: asked twice a day, and per quarter on a day where it changes."""
    def offset(at: dt.datetime) -> dt.timedelta | None:
        return at.astimezone(zone).utcoffset()

    changes, day = [], first
    before = offset(dt.datetime.combine(first, dt.time(), dt.UTC))
    while day <= last:
        midnight = dt.datetime.combine(day, dt.time(), dt.UTC)
        if offset(midnight) != before or offset(midnight + dt.timedelta(minutes=23 * 60 + 45)) != before:
            for quarter in range(96):
                at = midnight + dt.timedelta(minutes=15 * quarter)
                if (now := offset(at)) != before:
                    changes.append(f"{at:%Y-%m-%d %H}:{at.minute // 15}")
                    before = now
        day += dt.timedelta(days=1)
    return changes


async def _heatmap_buckets(session: AsyncSession, campaign_id: str, timezone: str) -> list[tuple[str, int, int, int]]:
    """The ``hm:<YYYY-MM-DD HH>:<quarter>`` counters (n calls, total human ones) as ``fold_heatmap``
    takes them, summed in the database over the buckets it would fold alike: the same UTC weekday
    and quarter of the day while the zone's offset stays the same. A year of calls is some 10,000
    UTC buckets but at most a few thousand such groups; each comes as its earliest bucket."""
    c = StatsCount.__table__.c
    mine = (c.campaign_id == campaign_id, c.figure.like("hm:%"))
    lo, hi = (await session.execute(select(func.min(c.figure), func.max(c.figure)).where(*mine))).one()
    if lo is None:
        return []
    day = func.substr(c.figure, literal_column("4"), literal_column("10"))
    changes = _offset_changes(ZoneInfo(timezone), dt.date.fromisoformat(lo[3:13]), dt.date.fromisoformat(hi[3:13]))
    eras = [case(*[(c.figure < f"hm:{at}", k) for k, at in enumerate(changes)], else_=len(changes))] if changes else []
    if session.bind.dialect.name == "sqlite":
        weekday = func.strftime("%w", day)
    else:
        weekday = func.extract("dow", cast(day, Date))
    hour, quarter = (func.substr(c.figure, literal_column(at), literal_column(n)) for at, n in (("15", "2"), ("18", "1")))
    q = (select(func.min(day) + " " + hour, quarter, func.sum(c.n), func.sum(c.total))  # literals: PostgreSQL
         .where(*mine).group_by(*eras, weekday, hour, quarter).having(func.sum(c.n) != 0))  # matches them to the GROUP BY
    return [(h, int(qr), int(n), int(hu)) for h, qr, n, hu in (await session.execute(q)).all()]


def _prefixed(figures: dict[str, tuple[int, float]], prefix: str) -> dict[str, tuple[int, float]]:
    return {f[len(prefix):]: v for f, v in figures.items() if f.startswith(prefix)}


def _channel(n: dict[str, int], kind: str) -> dict[str, int]:
    """One channel's figures: outreaches by status, and of the enrollments reached, their outcome."""
    status = {s: n.get(f"out:{kind}:{s}", 0) for s in OutreachStatus}
    return {"reached": n.get(f"m:reach:{kind}", 0), "sent": sum(status[s] for s in REACHED),
            "delivered": status[OutreachStatus.delivered], "failed": status[OutreachStatus.failed],
            "replied": n.get(f"replied:{kind}", 0), "bounced": n.get(f"bounced:{kind}", 0),
            "opted_out": n.get(f"opted_out:{kind}", 0)}


def _voice(figures: dict[str, tuple[int, float]]) -> dict[str, Any]:
    talks, duration = figures.get("human", (0, 0.0))
    return {"calls": figures.get("call", (0, 0.0))[0], "conversations": talks,
            "total_duration_s": round(duration, 1), "avg_duration_s": round(duration / talks, 1) if talks else 0.0,
            "answer_status": {a.value: figures.get(f"answer:{a.value}", (0, 0.0))[0] for a in AnswerStatus}}


async def _goals(session: AsyncSession, campaign_id: str, results: dict[str, tuple[int, float]]) -> list[dict[str, Any]]:
    """The campaign's live goals in creation order, each with its counted results (``<goal>:<result>``)."""
    per_goal: dict[str, dict[str, int]] = {}
    for key, (n, _) in results.items():
        goal_id, result = key.split(":", 1)
        per_goal.setdefault(goal_id, {})[result] = n
    q = (select(Goal.id, Goal.name, Goal.is_primary).where(Goal.campaign_id == campaign_id, Goal.archived_at.is_(None))
         .order_by(Goal.created_at, Goal.id))
    return [{"goal_id": gid, "name": name, "is_primary": primary, "results": per_goal.get(gid, {})}
            for gid, name, primary in (await session.execute(q)).all()]


def _flow(marks: dict[str, tuple[int, float]]) -> list[dict[str, Any]]:
    """``m:flow:<step>:<channel>`` counters as rows in step, then channel, order."""
    rows = [(int(step), channel, n) for key, (n, _) in marks.items() for step, channel in [key.split(":", 1)]]
    return [{"step": s, "channel": ch, "contacts": n} for s, ch, n in sorted(rows)]


def fold_heatmap(buckets: list[tuple[str, int, int, int]], timezone: str) -> dict[str, Any]:
    """UTC quarter-hours folded into weekday (Monday 0) and hour in ``timezone``.

    A quarter-hour is the finest grain any zone's offset needs (:30 and :45 zones), and each
    bucket keeps its date, so a DST change moves the right days by an hour. A year of calls is
    some 10,000 buckets, so the zone is asked once per UTC date (its offset at 00:00 and 23:45;
    per bucket on a date where it changes) and the rest is arithmetic on seconds.
    """
    zone = ZoneInfo(timezone)

    def offset(at: dt.datetime) -> int:
        return int(at.astimezone(zone).utcoffset().total_seconds())  # type: ignore[union-attr]

    calls: Counter[tuple[int, int]] = Counter()
    human: Counter[tuple[int, int]] = Counter()
    days: dict[str, tuple[int, int | None]] = {}  # UTC date: its epoch second, the offset all of it shares
    for hour, quarter, n, hu in buckets:
        known = days.get(hour[:10])
        if known is None:
            midnight = dt.datetime.fromisoformat(hour[:10]).replace(tzinfo=dt.UTC)
            first, last = offset(midnight), offset(midnight + dt.timedelta(minutes=23 * 60 + 45))
            known = days[hour[:10]] = (int(midnight.timestamp()), first if first == last else None)
        at = known[0] + int(hour[11:]) * 3600 + 900 * quarter
        local = at + (known[1] if known[1] is not None else offset(dt.datetime.fromtimestamp(at, dt.UTC)))
        cell = ((local // 86400 + 3) % 7, local % 86400 // 3600)  # 1 January 1970 was a Thursday
        calls[cell] += n
        human[cell] += hu
    cells = [{"weekday": w, "hour": h, "calls": calls[w, h], "human": human[w, h]} for w, h in sorted(calls)]
    return {"timezone": timezone, "cells": cells}


async def _review(session: AsyncSession, campaign: Campaign, waiting: int) -> dict[str, int]:
    """Drafts waiting for review, and those waiting longer than the campaign's approval SLA: the
    one figure that moves with the clock, counted on ``ix_outreaches_campaign_status_created``."""
    sla = CampaignSettings.model_validate(campaign.settings or {}).approval_sla_hours
    overdue = 0
    if waiting:
        overdue = (await session.execute(select(func.count()).where(
            Outreach.campaign_id == campaign.id, Outreach.status == OutreachStatus.awaiting_approval,
            Outreach.created_at < utcnow() - dt.timedelta(hours=sla)))).scalar_one()
    return {"awaiting_approval": waiting, "overdue": int(overdue), "approval_sla_hours": sla}


async def campaign_stats(session: AsyncSession, campaign: Campaign) -> dict[str, Any]:
    """Every figure of the contract's stats from the campaign's counters (and two small reads)."""
    figures = await _figures(session, campaign.id)
    n = {f: v[0] for f, v in figures.items()}
    statuses = {s: v for s, (v, _) in _prefixed(figures, "status:").items()}
    email, sms = _channel(n, "email"), _channel(n, "sms")
    total = sum(v for s, v in statuses.items() if s != EnrollmentStatus.removed)
    replied = statuses.get(EnrollmentStatus.replied, 0)
    waiting = sum(v for f, v in n.items() if f.startswith("out:") and f.endswith(f":{OutreachStatus.awaiting_approval}"))
    return {
        "all": {"total_contacts": total, "started": total - statuses.get(EnrollmentStatus.not_started, 0),
                "contacted": n.get("m:contact", 0), "replied": replied, "positive": n.get("m:pos", 0)},
        "email": {"sent": email["sent"], "delivered": email["delivered"], "replied": email["replied"],
                  "positive": n.get("m:pos:email", 0), "bounced": email["bounced"], "unsubscribed": email["opted_out"]},
        "sms": {"sent": sms["sent"], "delivered": sms["delivered"], "failed": sms["failed"],
                "replied": sms["replied"], "opted_out": sms["opted_out"]},
        "voice": _voice(figures),
        "tasks": {s.value: n.get(f"task:{s.value}", 0) for s in TaskStatus},
        "statuses": statuses,
        "goals": await _goals(session, campaign.id, _prefixed(figures, "goal:")),
        "flow": _flow(_prefixed(figures, "m:flow:")),
        "heatmap": fold_heatmap(await _heatmap_buckets(session, campaign.id, campaign.timezone or "UTC"),
                                campaign.timezone or "UTC"),
        "review": await _review(session, campaign, waiting),
    }
