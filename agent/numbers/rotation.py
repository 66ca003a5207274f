"""Which caller number places the next call, and the per-number daily cap, counted in the database.

Every worker process shares these rows, so the cap holds across them: a number is taken by one
conditional UPDATE (``... WHERE calls_today < cap``, or another day) whose WHERE the database
re-checks under the row's lock; a worker that loses the race tries the next candidate. The day
is the campaign's own (``calls_day`` in its zone): the first call of a new day restarts the count.

The strategy (seed 003, the campaign's ``rotation_strategy``) only orders the candidates:

- ``round_robin``: the number idle longest (``last_called_at``, never-used first);
- ``lowest_spam``: the lowest spam score, then the one idle longest;
- ``least_used_today``: the fewest calls today;
- ``weighted``: the lowest calls-to-weight ratio, so shares follow the weights (weight 0: none).

A contact keeps its number (the one its last call went out on) while that number can still call.
A number whose spam score reaches the campaign's threshold is excluded (``status: excluded``,
an activity event) before any pick, and never picked again until a person re-activates it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import and_, case, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity
from agent.campaigns.schemas import CampaignSettings
from agent.models import CallerNumber, Campaign, Outreach
from agent.states import CallerNumberStatus, ChannelKind

STRATEGIES = ("round_robin", "lowest_spam", "least_used_today", "weighted")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _today_count(n: CallerNumber, today: dt.date) -> int:
    return n.calls_today if n.calls_day == today else 0


def order(numbers: Sequence[CallerNumber], strategy: str, today: dt.date) -> list[CallerNumber]:
    """The candidates in the order the strategy tries them (ties by id: oldest added first)."""
    idle = {n.id: n.last_called_at or _EPOCH for n in numbers}
    keys = {
        "round_robin": lambda n: (idle[n.id], n.id),
        "lowest_spam": lambda n: (n.spam_score, idle[n.id], n.id),
        "least_used_today": lambda n: (_today_count(n, today), idle[n.id], n.id),
        "weighted": lambda n: (n.calls_total / n.weight, -n.weight, n.id),
    }
    pool = [n for n in numbers if strategy != "weighted" or n.weight > 0]
    return sorted(pool, key=keys[strategy])


def _usable(settings: CampaignSettings, today: dt.date):
    return and_(CallerNumber.status == CallerNumberStatus.active,
                CallerNumber.spam_score < settings.spam_threshold,
                or_(CallerNumber.calls_day.is_(None), CallerNumber.calls_day != today,
                    CallerNumber.calls_today < settings.max_calls_per_number_per_day))


async def exclude_spammy(s: AsyncSession, campaign: Campaign, settings: CampaignSettings, *,
                         actor: str = activity.SYSTEM) -> list[str]:
    """Exclude the campaign's active numbers at or above the spam threshold; their ids."""
    rows = (await s.execute(
        update(CallerNumber).where(CallerNumber.campaign_id == campaign.id,
                                   CallerNumber.status == CallerNumberStatus.active,
                                   CallerNumber.spam_score >= settings.spam_threshold)
        .values(status=CallerNumberStatus.excluded)
        .returning(CallerNumber.id, CallerNumber.number, CallerNumber.spam_score)
        .execution_options(synchronize_session=False))).all()
    for number_id, number, score in rows:
        activity.record(s, workspace_id=campaign.workspace_id, actor=actor, kind="phone_number.excluded",
                        campaign_id=campaign.id, payload={"number_id": number_id, "number": number,
                                                          "spam_score": score,
                                                          "spam_threshold": settings.spam_threshold})
    return [r[0] for r in rows]


async def _take(s: AsyncSession, number_id: str, settings: CampaignSettings, today: dt.date,
                now: dt.datetime) -> bool:
    """Count one call on the number if it may still call today (atomic across workers)."""
    done = await s.execute(
        update(CallerNumber).where(CallerNumber.id == number_id, _usable(settings, today))
        .values(calls_today=case((CallerNumber.calls_day == today, CallerNumber.calls_today + 1), else_=1),
                calls_day=today, calls_total=CallerNumber.calls_total + 1, last_called_at=now)
        .execution_options(synchronize_session=False))
    return done.rowcount == 1


async def previous_number(s: AsyncSession, enrollment_id: str, outreach_id: str) -> str | None:
    """The number the enrollment's latest earlier call went out on (sticky caller ID)."""
    return (await s.execute(select(Outreach.caller_number_id).where(
        Outreach.enrollment_id == enrollment_id, Outreach.id != outreach_id,
        Outreach.channel == ChannelKind.voice, Outreach.caller_number_id.is_not(None))
        .order_by(Outreach.created_at.desc(), Outreach.id.desc()).limit(1))).scalar_one_or_none()


async def claim_number(s: AsyncSession, campaign: Campaign, settings: CampaignSettings, *, enrollment_id: str,
                       outreach_id: str, today: dt.date, now: dt.datetime) -> CallerNumber | None:
    """Take a number for one call (counted), or None when every number is capped or unusable."""
    numbers = list((await s.execute(select(CallerNumber).where(
        CallerNumber.campaign_id == campaign.id, _usable(settings, today))
        .execution_options(populate_existing=True))).scalars())
    tries = order(numbers, settings.rotation_strategy, today)
    sticky = await previous_number(s, enrollment_id, outreach_id)
    tries.sort(key=lambda n: n.id != sticky)  # stable: the contact's own number first, then the strategy
    for n in tries:
        if await _take(s, n.id, settings, today, now):
            return n
    return None


async def has_active(s: AsyncSession, campaign_id: str) -> bool:
    return (await s.execute(select(CallerNumber.id).where(
        CallerNumber.campaign_id == campaign_id, CallerNumber.status == CallerNumberStatus.active)
        .limit(1))).scalar_one_or_none() is not None


async def has_numbers(s: AsyncSession, campaign_id: str) -> bool:
    return (await s.execute(select(CallerNumber.id).where(CallerNumber.campaign_id == campaign_id)
                            .limit(1))).scalar_one_or_none() is not None
