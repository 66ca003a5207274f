"""What one plan is made from (``PlanContext``), read in one statement for a first touch.

The context has ten parts (the enrollment with its campaign and contact, channels, goals, past
outreaches, channel audiences, suppressions, replies, goal results, a pending evaluation, the
one-time touch), and a statement apiece was most of the planner's database time: each one is a
round trip through the driver (aiosqlite's thread, asyncpg's socket) and SQLAlchemy's compiler.
The first statement reads the enrollment's row with the campaign's channels and live goals
beside it (as JSON: every plan reads them) and one EXISTS per optional part (the pending
evaluation and the touch are answered outright: they are EXISTS already); most contacts being
planned have none of the optional parts, and only the parts that exist are read after it. That
makes one statement for a contact never reached before, and one more per part a follow-up has.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, bindparam, exists, inspect, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import lazyload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.functions import FunctionElement

from agent.campaigns import remarketing
from agent.contacts.repository import suppressed_on
from agent.models import (Campaign, Channel, ChannelAudience, Contact, Conversation, Enrollment, Goal, GoalResult,
                          InboundMessage, Outreach, Schedule, Suppression)
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


class json_rows(FunctionElement):  # noqa: N801 - a SQL function, named like one
    """``json_rows(key, column, ...)``: the group's rows as one JSON array of objects (json_group_array
    of json_object on SQLite, json_agg of json_build_object on PostgreSQL), in no particular order."""

    type = JSON()
    inherit_cache = True
    name = "json_rows"


@compiles(json_rows, "sqlite")
def _json_rows_sqlite(element: json_rows, compiler: Any, **kw: Any) -> str:
    return f"json_group_array(json_object({compiler.process(element.clauses, **kw)}))"


@compiles(json_rows, "postgresql")
def _json_rows_postgresql(element: json_rows, compiler: Any, **kw: Any) -> str:
    return f"json_agg(json_build_object({compiler.process(element.clauses, **kw)}))"


def _rows_of(*columns: Any) -> json_rows:
    return json_rows(*(part for column in columns for part in (literal_column(f"'{column.key}'"), column)))


@functools.cache
def _head() -> Any:
    """The enrollment, campaign and contact; the campaign's channels and live goals as JSON beside
    them; and the optional parts' EXISTS.

    Built once: constructing this statement (a dozen subqueries) and its cache key cost more CPU
    than running it; the enrollment and the moment are bound per call. The channels and goals
    ride in the same statement: a statement apiece was a round trip and SQLAlchemy's execution
    work for rows that every plan of the campaign reads alike."""
    called, messaged = repository.touch_of(Enrollment.id)
    channels = (select(_rows_of(Channel.id, Channel.kind, Channel.status, Channel.position, Channel.config))
                .where(Channel.campaign_id == Enrollment.campaign_id).scalar_subquery())
    goals = (select(_rows_of(Goal.id, Goal.name, Goal.description, Goal.is_primary))
             .where(Goal.campaign_id == Enrollment.campaign_id, Goal.archived_at.is_(None)).scalar_subquery())
    return (
        select(Enrollment, Campaign, Contact, channels.label("channels"), goals.label("goals"),
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
        .where(Enrollment.id == bindparam("enrollment_id"))
        # The linked schedule is read by ``load`` when the campaign has one: its selectin loader
        # ran with every plan (building an IN query for none), and few campaigns link one. Left
        # lazy, a read that forgot it would fail (no lazy load in async code) instead of quietly
        # taking the inline hours.
        .options(lazyload(Campaign.linked_schedule)))


def _channels(rows: list[dict[str, Any]] | None) -> list[ChannelFacts]:
    """The head's channels by position (SQLite hands a JSON column inside JSON back as its text)."""
    return [ChannelFacts(c["id"], c["kind"], c["status"], c["position"],
                         json.loads(c["config"]) if isinstance(c["config"], str) else dict(c["config"] or {}))
            for c in sorted(rows or (), key=lambda c: (c["position"], c["id"]))]


def _goals(rows: list[dict[str, Any]] | None) -> list[dict[str, str]]:
    """The head's live goals, primary first, as the plan's context holds them."""
    return [{"name": g["name"], "description": g["description"], "primary": "yes" if g["is_primary"] else "no"}
            for g in sorted(rows or (), key=lambda g: (not g["is_primary"], g["id"]))]


async def load(s: AsyncSession, enrollment_id: str, now: dt.datetime) -> Loaded | None:
    """The enrollment and everything its plan needs; None if there is no such enrollment."""
    row = (await s.execute(_head(), {"enrollment_id": enrollment_id,
                                     "since": now - repository.EVALUATION_GRACE})).first()
    if row is None:
        return None
    enrollment, campaign, contact = row[0], row[1], row[2]
    if campaign.schedule_id is not None and "linked_schedule" not in inspect(campaign).dict:
        set_committed_value(campaign, "linked_schedule", await s.get(Schedule, campaign.schedule_id))
    channels = _channels(row.channels)
    remarketed = False
    if row.has_audiences:
        # A remarketing channel: its audience only, and once started its audience's sequence is on it alone.
        channels, remarketed = await remarketing.offered(s, enrollment.id, channels)
    goals = _goals(row.goals)
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
        goals=facts["goals"], channels=list(facts["channels"]),
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
