"""The planner graph's typed state and the context it plans from (loaded once, read-only)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, TypedDict

from planner.schemas import OutreachDraft


@dataclass(frozen=True)
class ContactFacts:
    id: str
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    timezone: str | None
    properties: dict[str, Any]


@dataclass(frozen=True)
class ChannelFacts:
    id: str
    kind: str
    status: str
    position: int
    config: dict[str, Any]


@dataclass(frozen=True)
class PastOutreach:
    channel: str
    status: str
    scheduled_at: dt.datetime | None
    subject: str | None
    body: str


@dataclass(frozen=True)
class PastReply:
    channel: str
    received_at: dt.datetime | None
    text: str
    intent: str | None


@dataclass(frozen=True)
class GoalOutcome:
    """One goal's result in one evaluated conversation of the contact's."""

    name: str
    is_primary: bool
    result: str
    reason: str


@dataclass(frozen=True)
class PlanContext:
    """Everything one planning decision needs, read in one short transaction."""

    now: dt.datetime
    enrollment_id: str
    enrollment_status: str
    enrollment_version: int
    attempts: int
    last_attempt_at: dt.datetime | None
    campaign_id: str
    campaign_name: str
    campaign_status: str
    campaign_timezone: str
    brief: str
    ai_variables: dict[str, str]
    schedule: dict[str, Any] | None
    settings: dict[str, Any]
    start_at: dt.datetime | None
    end_at: dt.datetime | None
    manual_review: bool
    goals: list[dict[str, str]]
    channels: list[ChannelFacts]
    contact: ContactFacts
    suppressed: bool  # on the suppression list for every channel
    history: list[PastOutreach] = field(default_factory=list)
    instruction: str | None = None
    supersedes_id: str | None = None  # the draft a reviewer rejected to get this one
    # Channel kinds the contact opted out of on their own (a STOP by text leaves email open).
    suppressed_channels: frozenset[str] = frozenset()
    replies: list[PastReply] = field(default_factory=list)
    goal_outcomes: list[GoalOutcome] = field(default_factory=list)
    # A finished conversation waits for its evaluation, which decides whether to go on.
    awaiting_evaluation: bool = False
    # The campaign's type (agent.states.CampaignType). The service always passes the campaign's;
    # the default is the sequence, which is what the planner's unit tests exercise.
    campaign_type: str = "follow_up"
    # A one-time campaign's single touch, once it happened (``planner.repository.touch_word``):
    # "message" (a message the provider took) or "call" (a call a person answered); None before.
    touch: str | None = None
    settings_version: int = 1  # the campaign's, stamped on the outreach this plan drafts

    @property
    def primary_goal_achieved(self) -> bool:
        return any(g.is_primary and g.result == "achieved" for g in self.goal_outcomes)


@dataclass(frozen=True)
class Outcome:
    """Where the enrollment ends up when the planner does not produce a draft."""

    status: str
    substatus: str | None
    reason: str
    next_attempt_at: dt.datetime | None = None


class PlanState(TypedDict, total=False):
    enrollment_id: str
    run_id: str | None
    instruction: str | None          # a reviewer's reject-and-regenerate instruction
    context: PlanContext
    outcome: Outcome | None          # set when planning stops without a draft
    channel: ChannelFacts
    step: int
    scheduled_at: dt.datetime
    draft: OutreachDraft | None
    draft_attempts: int
    feedback: list[str]              # validation failures of the previous draft, for the next one
    prompt_version: str
    model: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
