"""What one plan is made from (``PlanContext``), read in three statements for a first touch.

The context has ten parts (the enrollment with its campaign and contact, channels, goals, past
outreaches, channel audiences, suppressions, replies, goal results, a pending evaluation, the
one-time touch), and a statement apiece was most of the planner's database time: each one is a
round trip through the driver (aiosqlite's thread, asyncpg's socket) and SQLAlchemy's compiler.
Most contacts being planned have none of the optional parts, so the first statement reads the
enrollment's row and, beside it, one EXISTS per optional part (the pending evaluation and the
touch are answered outright: they are EXISTS already); only the parts that exist are read after
it. Channels and goals are always read, which makes three statements for a contact never
reached before, and one more per part a follow-up has.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.campaigns import remarketing
from agent.contacts.repository import suppressed_on
from agent.models import (Campaign, Channel, ChannelAudience, Contact, Conversation, Enrollment, Goal, GoalResult,
                          InboundMessage, Outreach, Suppression)
from agent.models.base import UTCDateTime
from agent.states import CampaignType, InboundKind, OutreachStatus
from planner import repository
from planner.state import ChannelFacts, ContactFacts, PastOutreach, PlanContext


@dataclass(frozen=True, slots=True)
class Loaded:
    """The enrollment's row as read (the claim compares and sets against it) and what it implies."""

    enrollment: Enrollment
    campaign: Campaign
    contact: Contact
    facts: dict[str, Any]


@functools.cache
def _head() -> Any:
    """The enrollment, campaign and contact, with the optional parts' EXISTS beside them.

    Built once: constructing this statement (ten subqueries) and its cache key cost more CPU
    than running it; the enrollment and the moment are bound per call."""
    called, messaged = repository.touch_of(Enrollment.id)
    return (
        select(Enrollment, Campaign, Contact,
               exists().where(Outreach.enrollment_id == Enrollment.id).label("has_past"),
               exists().where(InboundMessage.enrollment_id == Enrollment.id,
                              InboundMessage.kind == InboundKind.reply).label("has_replies"),
               exists().where(GoalResult.conversation_id == Conversation.id,
                              Conversation.enrollment_id == Enrollment.id).label("has_results"),
               exists().where(ChannelAudience.channel_id == Channel.id,
                              Channel.campaign_id == Enrollment.campaign_id).label("has_audiences"),
               exists().where(Suppression.workspace_id == Contact.workspace_id,
                              or_(Suppression.phone == Contact.phone,
                                  Suppression.email_key == Contact.email_key)).label("has_suppression"),
               repository.awaiting_evaluation(Enrollment.id, bindparam("since", type_=UTCDateTime()))
               .label("awaiting_evaluation"),
               called.label("called"), messaged.label("messaged"))
        .join(Campaign, Campaign.id == Enrollment.campaign_id).join(Contact, Contact.id == Enrollment.contact_id)
        .where(Enrollment.id == bindparam("enrollment_id")))


@functools.cache
def _channels() -> Any:
    """The campaign's channels as rows of the columns a plan reads (no ORM objects to build)."""
    return (select(Channel.id, Channel.kind, Channel.status, Channel.position, Channel.config)
            .where(Channel.campaign_id == bindparam("campaign_id")).order_by(Channel.position))


@functools.cache
def _goals() -> Any:
    """The campaign's live goals as rows, primary first."""
    return (select(Goal.name, Goal.description, Goal.is_primary)
            .where(Goal.campaign_id == bindparam("campaign_id"), Goal.archived_at.is_(None))
            .order_by(Goal.is_primary.desc(), Goal.id))


async def load(s: AsyncSession, enrollment_id: str, now: dt.datetime) -> Loaded | None:
    """The enrollment and everything its plan needs; None if there is no such enrollment."""
    row = (await s.execute(_head(), {"enrollment_id": enrollment_id,
                                     "since": now - repository.EVALUATION_GRACE})).first()
    if row is None:
        return None
    enrollment, campaign, contact = row[0], row[1], row[2]
    campaign_id = {"campaign_id": campaign.id}
    channels = (await s.execute(_channels(), campaign_id)).all()
    remarketed = False
    if row.has_audiences:
        # A remarketing channel: its audience only, and once started its audience's sequence is on it alone.
        channels, remarketed = await remarketing.offered(s, enrollment.id, channels)
    goals = (await s.execute(_goals(), campaign_id)).all()
    past = (await s.execute(select(Outreach).where(Outreach.enrollment_id == enrollment.id)
                            .order_by(Outreach.id))).scalars().all() if row.has_past else []
    suppressed = (await suppressed_on(s, contact.workspace_id, phone=contact.phone, email_key=contact.email_key)
                  if row.has_suppression else frozenset())
    facts = {"channels": channels, "goals": goals, "past": past, "suppressed": suppressed,
             "replies": await repository.replies_of(s, enrollment.id) if row.has_replies else [],
             "goal_outcomes": await repository.goal_outcomes(s, enrollment.id) if row.has_results else [],
             "awaiting_evaluation": bool(row.awaiting_evaluation),
             "touch": await _touch(s, enrollment.id, row, [c.id for c in channels] if remarketed else None)
             if campaign.type == CampaignType.one_time else None}
    return Loaded(enrollment, campaign, contact, facts)


async def _touch(s: AsyncSession, enrollment_id: str, row: Any, channel_ids: list[str] | None) -> str | None:
    """The one-time touch: the head's answer, or for a remarketed contact its touch on the
    remarketing channels alone (a statement of its own: the head is built once for everyone)."""
    if channel_ids is None:
        return repository.touch_word(bool(row.called), bool(row.messaged))
    called, messaged = (await s.execute(select(*repository.touch_of(enrollment_id, channel_ids)))).one()
    return repository.touch_word(bool(called), bool(messaged))


def build(loaded: Loaded, version: int, instruction: str | None, now: dt.datetime) -> PlanContext:
    """The ``PlanContext`` of what ``load`` read, at the enrollment ``version`` being planned."""
    enrollment, campaign, contact, facts = loaded.enrollment, loaded.campaign, loaded.contact, loaded.facts
    past, suppressed = facts["past"], facts["suppressed"]
    return PlanContext(
        now=now, enrollment_id=enrollment.id, enrollment_status=enrollment.status, enrollment_version=version,
        attempts=enrollment.attempts, last_attempt_at=enrollment.last_attempt_at, campaign_id=campaign.id,
        campaign_name=campaign.name, campaign_status=campaign.status, campaign_timezone=campaign.timezone,
        brief=campaign.brief, ai_variables=dict(campaign.ai_variables or {}), schedule=campaign.hours,
        settings=dict(campaign.settings), start_at=campaign.start_at, end_at=campaign.end_at,
        manual_review=campaign.manual_review,
        goals=[{"name": g.name, "description": g.description, "primary": "yes" if g.is_primary else "no"}
               for g in facts["goals"]],
        channels=[ChannelFacts(c.id, c.kind, c.status, c.position, dict(c.config)) for c in facts["channels"]],
        contact=ContactFacts(contact.id, contact.first_name, contact.last_name, contact.email, contact.phone,
                             contact.timezone, dict(contact.properties or {})),
        suppressed="all" in suppressed, suppressed_channels=suppressed - {"all"},
        history=[PastOutreach(o.channel, o.status, o.scheduled_at, o.subject, o.body) for o in past],
        replies=facts["replies"], goal_outcomes=facts["goal_outcomes"],
        awaiting_evaluation=facts["awaiting_evaluation"],
        campaign_type=CampaignType(campaign.type).value, touch=facts["touch"],
        settings_version=campaign.settings_version or 1,
        instruction=instruction,
        # A regenerated draft points at the one it replaces (the latest superseded draft).
        supersedes_id=next((o.id for o in reversed(past) if o.status == OutreachStatus.superseded), None)
        if instruction else None,
    )
