"""The campaign figures recounted from the raw rows: the GROUP BYs ``agent/reports/stats.py`` ran
before migration 0016's rollups, kept as the reference the rollups are held equal to
(``tests/reports/test_rollups.py``). Same answer shape and formulas (see that module's docstring).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Integer, and_, case, cast, distinct, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.campaigns.schemas import CampaignSettings
from agent.db import utcnow
from agent.models import Campaign, Conversation, Enrollment, Evaluation, Goal, InboundMessage, Outreach
from agent.models.conversation import GoalResult
from agent.models.task import Task
from agent.reports.stats import fold_heatmap
from agent.states import (AnswerStatus, EnrollmentStatus, InboundKind, OutreachStatus, ReplyIntent, Substatus,
                          TaskStatus)

REACHED = (OutreachStatus.sent, OutreachStatus.delivered)


async def _positive(session: AsyncSession, campaign_id: str) -> tuple[int, dict[str, int]]:
    """Contacts with an interested reply: in all, and per channel the reply came on."""
    m = InboundMessage
    interested = (select(m.channel, m.enrollment_id).join(Enrollment, Enrollment.id == m.enrollment_id)
                  .where(Enrollment.campaign_id == campaign_id, m.kind == InboundKind.reply,
                         m.intent == ReplyIntent.interested).subquery())
    rows = (await session.execute(select(interested.c.channel, func.count(distinct(interested.c.enrollment_id)))
                                  .group_by(interested.c.channel))).all()
    total = (await session.execute(select(func.count(distinct(interested.c.enrollment_id))))).scalar_one()
    return int(total or 0), {ch: int(n) for ch, n in rows}


def _channel_figures(rows: list[Any], kind: str) -> dict[str, int]:
    row = next((r for r in rows if r.channel == kind), None)
    keys = ("reached", "sent", "delivered", "failed", "replied", "bounced", "opted_out")
    return {k: int(getattr(row, k) or 0) if row else 0 for k in keys}


async def _per_channel(session: AsyncSession, campaign_id: str) -> list[Any]:
    """One row per channel: outreach counts and, per enrollment reached, its outcome."""
    e = Enrollment
    reached = and_(Outreach.status.in_(REACHED))
    q = (select(Outreach.channel,
                func.count(distinct(case((reached, Outreach.enrollment_id)))).label("reached"),
                func.sum(case((reached, 1), else_=0)).label("sent"),
                func.sum(case((Outreach.status == OutreachStatus.delivered, 1), else_=0)).label("delivered"),
                func.sum(case((Outreach.status == OutreachStatus.failed, 1), else_=0)).label("failed"),
                func.count(distinct(case((and_(reached, e.status == EnrollmentStatus.replied), e.id)))).label("replied"),
                func.count(distinct(case((and_(reached, e.substatus == Substatus.bounced), e.id)))).label("bounced"),
                func.count(distinct(case((and_(reached, e.substatus == Substatus.opted_out), e.id)))).label("opted_out"))
         .join(e, e.id == Outreach.enrollment_id)
         .where(Outreach.campaign_id == campaign_id).group_by(Outreach.channel))
    return list((await session.execute(q)).all())


async def _overall(session: AsyncSession, campaign_id: str) -> tuple[dict[str, int], int]:
    """Enrollment counts by status, and the contacts reached on any channel."""
    q = (select(Enrollment.status, func.count()).where(Enrollment.campaign_id == campaign_id)
         .group_by(Enrollment.status))
    statuses = {str(s): n for s, n in (await session.execute(q)).all()}
    reached_out = select(Outreach.enrollment_id.label("eid")).where(
        Outreach.campaign_id == campaign_id, Outreach.status.in_(REACHED))
    called = select(Conversation.enrollment_id.label("eid")).where(
        Conversation.campaign_id == campaign_id, Conversation.direction == "outbound",
        Conversation.enrollment_id.is_not(None))
    both = reached_out.union(called).subquery()
    contacted = (await session.execute(select(func.count()).select_from(both))).scalar_one()
    return statuses, contacted


async def _voice(session: AsyncSession, campaign_id: str) -> dict[str, Any]:
    c = Conversation
    human = c.answer_status == AnswerStatus.human
    q = (select(func.count(), func.sum(case((human, 1), else_=0)),
                func.sum(case((human, func.coalesce(c.duration_s, 0)), else_=0)),
                *[func.sum(case((c.answer_status == a, 1), else_=0)) for a in AnswerStatus])
         .where(c.campaign_id == campaign_id, c.channel == "voice", c.direction == "outbound"))
    calls, talks, duration, *answers = (await session.execute(q)).one()
    talks, duration = int(talks or 0), float(duration or 0)
    return {"calls": int(calls or 0), "conversations": talks, "total_duration_s": round(duration, 1),
            "avg_duration_s": round(duration / talks, 1) if talks else 0.0,
            "answer_status": {a.value: int(n or 0) for a, n in zip(AnswerStatus, answers)}}


async def _tasks(session: AsyncSession, campaign_id: str) -> dict[str, int]:
    q = select(Task.status, func.count()).where(Task.campaign_id == campaign_id).group_by(Task.status)
    counts = {str(s): n for s, n in (await session.execute(q)).all()}
    return {s.value: counts.get(s.value, 0) for s in TaskStatus}


async def _goals(session: AsyncSession, campaign_id: str) -> list[dict[str, Any]]:
    result = func.coalesce(GoalResult.corrected_result, GoalResult.result)
    q = (select(Goal.id, Goal.name, Goal.is_primary, result.label("result"), func.count(GoalResult.id))
         .outerjoin(GoalResult, GoalResult.goal_id == Goal.id)
         .outerjoin(Evaluation, and_(Evaluation.id == GoalResult.evaluation_id))
         .where(Goal.campaign_id == campaign_id, Goal.archived_at.is_(None),
                (GoalResult.id.is_(None)) | (Evaluation.is_current.is_(True)))
         .group_by(Goal.id, Goal.name, Goal.is_primary, result).order_by(Goal.created_at, Goal.id))
    goals: dict[str, dict[str, Any]] = {}
    for gid, name, primary, res, n in (await session.execute(q)).all():
        g = goals.setdefault(gid, {"goal_id": gid, "name": name, "is_primary": primary, "results": {}})
        if res is not None:
            g["results"][res] = n
    return list(goals.values())


async def _flow(session: AsyncSession, campaign_id: str) -> list[dict[str, Any]]:
    q = (select(Outreach.step, Outreach.channel, func.count(distinct(Outreach.enrollment_id)))
         .where(Outreach.campaign_id == campaign_id, Outreach.status.in_(REACHED))
         .group_by(Outreach.step, Outreach.channel).order_by(Outreach.step, Outreach.channel))
    return [{"step": s, "channel": ch, "contacts": n} for s, ch, n in (await session.execute(q)).all()]


def _quarter_hour_bucket(session: AsyncSession) -> tuple[Any, Any]:
    """SQL for a call's start as (``YYYY-MM-DD HH`` in UTC, quarter 0-3): the same on both backends."""
    col = Conversation.started_at
    if session.bind.dialect.name == "sqlite":  # stored naive, in UTC
        return func.strftime("%Y-%m-%d %H", col), cast(func.strftime("%M", col), Integer) / 15
    utc = func.timezone(literal("UTC"), col)
    return func.to_char(utc, "YYYY-MM-DD HH24"), cast(func.floor(func.extract("minute", utc) / 15), Integer)


async def _heatmap_buckets(session: AsyncSession, campaign_id: str) -> list[tuple[str, int, int, int]]:
    hour, quarter = _quarter_hour_bucket(session)
    c = Conversation
    q = (select(hour, quarter, func.count(), func.sum(case((c.answer_status == AnswerStatus.human, 1), else_=0)))
         .where(c.campaign_id == campaign_id, c.channel == "voice", c.direction == "outbound",
                c.started_at.is_not(None))
         .group_by(hour, quarter))
    return [(h, int(qr), int(n), int(hu or 0)) for h, qr, n, hu in (await session.execute(q)).all()]


async def _review(session: AsyncSession, campaign: Campaign) -> dict[str, int]:
    """Drafts waiting for review, and those waiting longer than the campaign's approval SLA."""
    sla = CampaignSettings.model_validate(campaign.settings or {}).approval_sla_hours
    late = Outreach.created_at < utcnow() - dt.timedelta(hours=sla)
    waiting, overdue = (await session.execute(
        select(func.count(), func.sum(case((late, 1), else_=0)))
        .where(Outreach.campaign_id == campaign.id, Outreach.status == OutreachStatus.awaiting_approval))).one()
    return {"awaiting_approval": int(waiting or 0), "overdue": int(overdue or 0), "approval_sla_hours": sla}


async def recount_stats(session: AsyncSession, campaign: Campaign) -> dict[str, Any]:
    """Every figure of the contract's stats, from a handful of GROUP BYs over the raw rows."""
    statuses, contacted = await _overall(session, campaign.id)
    channels = await _per_channel(session, campaign.id)
    email, sms = _channel_figures(channels, "email"), _channel_figures(channels, "sms")
    total = sum(n for s, n in statuses.items() if s != EnrollmentStatus.removed)
    replied = statuses.get(EnrollmentStatus.replied, 0)
    positive, positive_on = await _positive(session, campaign.id)
    return {
        "all": {"total_contacts": total, "started": total - statuses.get(EnrollmentStatus.not_started, 0),
                "contacted": contacted, "replied": replied, "positive": positive},
        "email": {"sent": email["sent"], "delivered": email["delivered"], "replied": email["replied"],
                  "positive": positive_on.get("email", 0), "bounced": email["bounced"], "unsubscribed": email["opted_out"]},
        "sms": {"sent": sms["sent"], "delivered": sms["delivered"], "failed": sms["failed"],
                "replied": sms["replied"], "opted_out": sms["opted_out"]},
        "voice": await _voice(session, campaign.id),
        "tasks": await _tasks(session, campaign.id),
        "statuses": statuses,
        "goals": await _goals(session, campaign.id),
        "flow": await _flow(session, campaign.id),
        "heatmap": fold_heatmap(await _heatmap_buckets(session, campaign.id), campaign.timezone or "UTC"),
        "review": await _review(session, campaign),
    }
