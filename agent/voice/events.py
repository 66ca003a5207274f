"""The end-of-call report: close the conversation, count the attempt, move the enrollment.

One transaction per report, and one compare-and-set carries idempotency and concurrency: the
conversation moves ``open`` -> ``closed`` once. Only the report that made that move records the
turns, counts the attempt, settles the voice outreach and appends the events; any later report
for the call (a redelivery, a retry, a concurrent duplicate) finds it closed and is answered with
the same conversation id, changing nothing.

How an outbound call moves its enrollment (docs/statuses.md, seed 003's words in brackets):

- a person answered and talked ("Called"): ``waiting`` with no substatus until the contact
  completion timeout has passed (the window in which the contact may call back); the evaluators
  judge the conversation then (``evaluate_after``) and decide what comes next;
- a person answered but nobody talked ("No Conversation"): ``finished/no_conversation``;
- machine, no answer, rejected ("Retry"): ``waiting/retry`` for the retry interval while attempts
  remain; then ``finished/failed`` when no call ever reached a person ("Failed: all attempts
  failed"), or ``finished/max_attempts`` when one did and the budget simply ran out.

An inbound call is the contact calling us: it counts no attempt; a conversation that took place
holds the enrollment in ``waiting`` until it has been evaluated, like an outbound one.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity
from agent.campaigns.schemas import CampaignSettings
from agent.db import utcnow
from agent.errors import NotFound
from agent.lifecycle.enrollments import move_enrollment
from agent.lifecycle.outreaches import move_outreach
from agent.models import Campaign, Conversation, ConversationTurn, Enrollment, Outreach
from agent.states import (ENROLLMENT_CALL_SETTLES, AnswerStatus, ChannelKind, ConversationStatus, EnrollmentAction,
                          EnrollmentStatus, OutreachAction, OutreachStatus, Substatus)
from agent.voice.calls import OUTBOUND, CallInfo, find_call, open_call, record_turns
from agent.voice.dnc import honour_do_not_call
from agent.validation import SafeStr, SafeText

log = logging.getLogger(__name__)
E, S = EnrollmentStatus, Substatus

_CAS_TRIES = 3


# One limit for every transcript we take in (end-of-call reports and the live-call hook).
MAX_TURN_CHARS = 20_000
MAX_BODY = 2_000_000  # a long call's transcript is a few hundred kB


class Turn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["assistant", "user"]
    content: SafeText = Field(max_length=MAX_TURN_CHARS)


class CallReport(BaseModel):
    """The end-of-call report of API.md (unknown fields are ignored, so platforms may add some)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    call_id: SafeStr = Field(min_length=1, max_length=200)
    campaign_id: SafeStr | None = Field(None, max_length=40)
    from_number: SafeStr | None = Field(alias="from", max_length=40)
    to_number: SafeStr | None = Field(alias="to", max_length=40)
    duration_s: float = Field(ge=0, le=86_400)
    ended_reason: SafeStr = Field(max_length=100)
    answer_status: AnswerStatus
    transcript: list[Turn] = Field(max_length=5_000, description="The whole call, in order")
    recording_url: SafeStr | None = Field(None, max_length=2_000)

    @field_validator("recording_url")
    @classmethod
    def _web_url(cls, v: str | None) -> str | None:
        # It ends up as a link in front of reviewers: nothing but http(s).
        if v is not None and not v.lower().startswith(("https://", "http://")):
            raise ValueError("recording_url must be an http(s) URL")
        return v


@dataclass(frozen=True, slots=True)
class ReportResult:
    conversation_id: str
    applied: bool  # False: the call had already been closed by an earlier report; nothing changed


@dataclass(frozen=True, slots=True)
class Move:
    status: EnrollmentStatus
    substatus: Substatus | None
    next_attempt_at: dt.datetime | None


def call_outcome(*, answer_status: AnswerStatus, took_place: bool, attempts: int, max_attempts: int,
                 reached_before: bool, ended_at: dt.datetime, settings: CampaignSettings) -> Move:
    """Where an outbound call's end leaves the enrollment (``attempts`` already counts this call)."""
    if took_place:
        return Move(E.waiting, None, ended_at + dt.timedelta(seconds=settings.contact_completion_timeout.seconds))
    if answer_status == AnswerStatus.human:
        return Move(E.finished, S.no_conversation, None)
    if attempts < max_attempts:
        return Move(E.waiting, S.retry, ended_at + dt.timedelta(seconds=settings.retry_interval.seconds))
    return Move(E.finished, S.max_attempts if reached_before else S.failed, None)


async def report_call(session: AsyncSession, report: CallReport, *, now: dt.datetime | None = None) -> ReportResult:
    """Apply one end-of-call report (the caller commits). NotFound ``unknown_call`` when neither
    a conversation nor the report's campaign says whose call it is."""
    now = now or utcnow()
    conv = await _find_or_open(session, report, now)
    campaign = await session.get(Campaign, conv.campaign_id) if conv.campaign_id else None
    settings = CampaignSettings.model_validate(campaign.settings or {}) if campaign else CampaignSettings()
    took_place = report.answer_status == AnswerStatus.human and (
        any(t.role == "user" and t.content.strip() for t in report.transcript)
        or await _user_spoke(session, conv.id))
    evaluate_after = now + dt.timedelta(seconds=settings.contact_completion_timeout.seconds) if took_place else None
    closed = (await session.execute(
        update(Conversation)
        .where(Conversation.id == conv.id, Conversation.status == ConversationStatus.open)
        .values(status=ConversationStatus.closed, ended_at=now, duration_s=report.duration_s,
                ended_reason=report.ended_reason, answer_status=report.answer_status.value,
                recording_url=report.recording_url, evaluate_after=evaluate_after)
        .returning(Conversation.id).execution_options(synchronize_session=False))).first()
    if closed is None:
        return ReportResult(conv.id, applied=False)  # an earlier report closed it: nothing more to do

    appended = await record_turns(session, conv.id, [(t.role, t.content) for t in report.transcript])
    started = conv.started_at or now - dt.timedelta(seconds=report.duration_s)
    outreach_id, counted_at_send = await _settle_outreach(session, conv, report.call_id, started)
    _event(session, conv, outreach_id, "conversation.closed", {
        "conversation_id": conv.id, "call_id": report.call_id, "direction": conv.direction,
        "answer_status": report.answer_status.value, "duration_s": report.duration_s,
        "ended_reason": report.ended_reason, "turns_recorded": appended, "conversation_took_place": took_place,
        "evaluate_after": evaluate_after.isoformat() if evaluate_after else None})
    await _move_enrollment(session, conv, report.answer_status, took_place=took_place,
                           counted_at_send=counted_at_send, settings=settings, outreach_id=outreach_id, now=now)
    await honour_do_not_call(session, conv, [t.content for t in report.transcript if t.role == "user"])
    # The evaluators (issue 6) pick closed conversations up once ``evaluate_after`` has passed.
    return ReportResult(conv.id, applied=True)


async def _find_or_open(session: AsyncSession, report: CallReport, now: dt.datetime) -> Conversation:
    """The call's conversation; opened now when the hook never saw the call (e.g. no answer)."""
    workspace_id = None
    if report.campaign_id:
        workspace_id = (await session.execute(
            select(Campaign.workspace_id).where(Campaign.id == report.campaign_id))).scalar_one_or_none()
    conv = await find_call(session, report.call_id, workspace_id=workspace_id)
    if conv is not None:
        return conv
    if workspace_id is None:
        raise NotFound("no conversation has this call_id, and no known campaign_id says whose call it is",
                       code="unknown_call")
    ctx = await open_call(session, workspace_id, CallInfo(
        call_id=report.call_id, from_number=report.from_number, to_number=report.to_number,
        campaign_id=report.campaign_id, direction=None, customer={}),
        now=now - dt.timedelta(seconds=report.duration_s))
    return (await session.execute(select(Conversation).where(Conversation.id == ctx.conversation_id)
                                  .execution_options(populate_existing=True))).scalar_one()


async def _user_spoke(session: AsyncSession, conversation_id: str) -> bool:
    """Whether the live hook already stored a turn of the contact's (the report may omit turns)."""
    return (await session.execute(select(func.count()).select_from(ConversationTurn).where(
        ConversationTurn.conversation_id == conversation_id, ConversationTurn.role == "user",
        func.trim(ConversationTurn.content) != ""))).scalar_one() > 0


async def _settle_outreach(session: AsyncSession, conv: Conversation, call_id: str,
                           started: dt.datetime) -> tuple[str | None, bool]:
    """The voice outreach that placed this call, moved ``executing`` -> ``sent`` and linked.

    Returns its id and whether its attempt was already counted: the executor counts an attempt
    when it records a send, so an outreach that was ``sent`` before the report already has.
    """
    if conv.direction != OUTBOUND:
        return conv.outreach_id, False
    outreach: Outreach | None = None
    if conv.outreach_id:
        outreach = await session.get(Outreach, conv.outreach_id)
    elif conv.enrollment_id:
        outreach = (await session.execute(select(Outreach).where(
            Outreach.enrollment_id == conv.enrollment_id, Outreach.channel == ChannelKind.voice.value,
            Outreach.status == OutreachStatus.executing)
            .order_by(Outreach.id.desc()).limit(1))).scalar_one_or_none()
    if outreach is None:
        return None, False
    if outreach.status != OutreachStatus.executing:
        return outreach.id, outreach.status in (OutreachStatus.sent, OutreachStatus.delivered)
    sent = await move_outreach(session, outreach.id, OutreachAction.send, version=outreach.version,
                               values={"provider_message_id": outreach.provider_message_id or call_id,
                                       "sent_at": started})
    if sent is None:
        return None, False  # moved meanwhile (the reconciler gave up on it): leave it to a person
    await session.execute(update(Conversation).where(Conversation.id == conv.id).values(outreach_id=outreach.id)
                          .execution_options(synchronize_session=False))
    _event(session, conv, outreach.id, "outreach.sent", {
        "channel": ChannelKind.voice.value, "provider_message_id": outreach.provider_message_id or call_id,
        "conversation_id": conv.id})
    return outreach.id, False


async def _move_enrollment(session: AsyncSession, conv: Conversation, answer_status: AnswerStatus, *,
                           took_place: bool, counted_at_send: bool, settings: CampaignSettings,
                           outreach_id: str | None, now: dt.datetime) -> bool:
    """Count the attempt and move the enrollment by compare-and-set (the lifecycle logs the
    move with the call's details); whether it moved."""
    if conv.enrollment_id is None:
        return False  # an inbound caller answered with the inbound prompt: no contact, no enrollment
    outbound = conv.direction == OUTBOUND
    count = outbound and not counted_at_send
    for _ in range(_CAS_TRIES):
        e = (await session.execute(select(Enrollment).where(Enrollment.id == conv.enrollment_id)
                                   .execution_options(populate_existing=True))).scalar_one()
        if EnrollmentStatus(e.status) not in ENROLLMENT_CALL_SETTLES:
            return False
        attempts = e.attempts + 1 if count else e.attempts
        if outbound:
            move = call_outcome(answer_status=answer_status, took_place=took_place, attempts=attempts,
                                max_attempts=settings.max_attempts,
                                reached_before=await _reached_before(session, e.id, conv.id), ended_at=now,
                                settings=settings)
        elif took_place:
            # The contact called us: no attempt of ours, but hold them until the call is evaluated.
            move = Move(E.waiting, None, now + dt.timedelta(seconds=settings.contact_completion_timeout.seconds))
        else:
            return False
        values: dict[str, Any] = {"attempts": attempts, "next_attempt_at": move.next_attempt_at}
        if count:
            values["last_attempt_at"] = now
        action = EnrollmentAction.finish if move.status == E.finished else EnrollmentAction.wait
        done = await move_enrollment(session, e, action, substatus=move.substatus, values=values, now=now,
                                     outreach_id=outreach_id, payload={
                                         "conversation_id": conv.id, "attempts": attempts,
                                         "max_attempts": settings.max_attempts, "attempt_counted": count,
                                         "next_attempt_at": move.next_attempt_at.isoformat()
                                         if move.next_attempt_at else None})
        if done is not None:
            return True
    log.warning("enrollment %s kept changing while its call %s was closed; left as it is", conv.enrollment_id, conv.id)
    return False


async def _reached_before(session: AsyncSession, enrollment_id: str, conversation_id: str) -> bool:
    """Whether an earlier call of this enrollment reached a person."""
    return (await session.execute(select(func.count()).select_from(Conversation).where(
        Conversation.enrollment_id == enrollment_id, Conversation.id != conversation_id,
        Conversation.answer_status == AnswerStatus.human))).scalar_one() > 0


def _event(session: AsyncSession, conv: Conversation, outreach_id: str | None, kind: str,
           payload: dict[str, Any]) -> None:
    activity.record(session, workspace_id=conv.workspace_id, actor=activity.SYSTEM, kind=kind,
                    campaign_id=conv.campaign_id, contact_id=conv.contact_id, enrollment_id=conv.enrollment_id,
                    outreach_id=outreach_id, payload=payload)
