"""The executor: sends an approved outreach through its channel, once.

Sending is three short transactions: claim (``awaiting_execution`` -> ``executing``), the
channel call outside any transaction, then the result. A message delivered twice finds the
outreach no longer ``awaiting_execution`` and sends nothing. A crash between claim and result
leaves ``executing``: once that has lasted longer than :data:`EXECUTING_LEASE`, the reconciler
moves it to ``unknown`` (:func:`mark_unknown`) and the enrollment to ``error/system_error`` for
a person to settle. Nothing is ever resent automatically: the provider may have accepted it.
Every status change goes through ``agent.lifecycle``.
"""

from __future__ import annotations

import datetime as dt
import logging
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity, metrics
from agent.campaigns.schemas import CampaignSettings
from agent.campaigns.brief import brief_hash
from agent.channels import (
    AmbiguousFailure,
    ChannelError,
    OutboundChannel,
    OutboundMessage,
    PermanentFailure,
    TransientFailure,
    channel_for,
)
from agent.channels.rules import check_message
from agent.db import session_scope, utcnow
from agent.lifecycle.enrollments import move_enrollment
from agent.lifecycle.outreaches import move_outreach
from agent.models import Campaign, Channel, Contact, Enrollment, Outreach
from agent.numbers import pacing
from agent.outreaches.repository import find_outreach
from agent.queue import task
from agent.scheduling import contact_window, is_allowed, next_allowed
from agent.send_guard import Decision, Verdict, address_of, verdict
from agent.settings import get_settings
from agent.states import (
    ENROLLMENT_SUBSTATUSES,
    EnrollmentAction,
    EnrollmentStatus,
    OutreachAction,
    OutreachStatus,
    Substatus,
)
from agent.voice.outbound import call_placed

log = logging.getLogger(__name__)
O = OutreachStatus

# How long an outreach may stay ``executing`` before the reconciler takes its worker for dead.
# A send is one provider call (adapters time out well within this); a placed voice call holds
# its own, longer lease for the whole call (``lease_until``, agent/voice/outbound.py).
EXECUTING_LEASE = dt.timedelta(minutes=15)
UNKNOWN_REASON = "the worker stopped while sending; check the provider before resending"
# A send the provider refuses for now is tried again after 30 s, 60 s, 120 s... (or its
# Retry-After), at most this many times in all, then left for a person.
MAX_SEND_TRIES = 5
RETRY_BASE_S = 30.0
RETRY_MAX_S = 3600.0


class Outcome(StrEnum):
    sent = "sent"
    failed = "failed"
    held = "held"  # the campaign or channel is paused: it goes out after the resume
    cancelled = "cancelled"  # void: the contact left or opted out, or the channel stopped
    reopened = "reopened"  # back in review: the brief changed since the approval
    retry_later = "retry_later"  # the provider refused for now; another try is scheduled
    capped = "capped"  # a state's cap on calls and texts was reached: it waits for room
    not_ready = "not_ready"  # not awaiting execution (already sent, claimed, or never approved)
    outside_hours = "outside_hours"
    calling = "calling"  # the call was placed: executing until its end-of-call report


def _event(s: AsyncSession, o: Outreach, contact_id: str, kind: str, payload: dict[str, Any]) -> None:
    activity.record(s, workspace_id=o.workspace_id, actor=activity.SYSTEM, kind=kind, campaign_id=o.campaign_id,
                    contact_id=contact_id, enrollment_id=o.enrollment_id, outreach_id=o.id, payload=payload)


async def execute(outreach_id: str, *, now: dt.datetime | None = None,
                  channel: OutboundChannel | None = None) -> Outcome:
    """Send one outreach if it is due to go now; what happened (the database holds the rest)."""
    outcome = await _execute(outreach_id, now=now, channel=channel)
    metrics.SENDS.labels(outcome.value).inc()
    return outcome


async def _execute(outreach_id: str, *, now: dt.datetime | None,
                   channel: OutboundChannel | None) -> Outcome:
    now = now or utcnow()
    async with session_scope() as s:
        loaded = await find_outreach(s, outreach_id)
        if loaded is None or loaded.outreach.status != O.awaiting_execution:
            return Outcome.not_ready
        outreach, campaign, contact, enrollment = loaded
        channel_row = await s.get(Channel, outreach.channel_id) if outreach.channel_id else None
        found = await verdict(s, outreach, campaign, contact, enrollment, channel_row, now)
        if found.decision != Decision.go:
            return await _apply(s, found, outreach, campaign, contact, enrollment, now)
        window = contact_window(campaign, contact)
        if not is_allowed(now, window):
            # Stays awaiting_execution, rescheduled to the contact's next allowed minute so the
            # scheduler hands it over again then (not on every tick until then).
            await _defer(s, outreach, contact.id, next_allowed(now, window, not_after=campaign.end_at), now)
            return Outcome.outside_hours
        if campaign.manual_review and outreach.approved_by is None:
            reason = "manual review is on and no approval is on record"
            if await move_outreach(s, outreach.id, OutreachAction.fail, version=outreach.version,
                                   values={"error": reason}) is not None:
                _event(s, outreach, contact.id, "outreach.failed", {"reason": reason})
                return Outcome.failed
            return Outcome.not_ready
        problems = check_message(outreach.channel, subject=outreach.subject, body=outreach.body)
        if problems:
            # Planner and review check the same rules; a draft that still breaks them (written
            # around both, or rules tightened since) is refused here, never sent as it is.
            reason = "; ".join(f"{p.field}: {p.message}" for p in problems)[:500]
            if await move_outreach(s, outreach.id, OutreachAction.fail, version=outreach.version,
                                   values={"error": reason}) is None:
                return Outcome.not_ready
            _event(s, outreach, contact.id, "outreach.failed",
                   {"reason": "channel_rules", "problems": [p.code.value for p in problems]})
            await move_enrollment(s, enrollment, EnrollmentAction.fail, now=now, outreach_id=outreach.id,
                                  substatus=problems[0].substatus or Substatus.system_error,
                                  payload={"reason": reason})
            return Outcome.failed
        slot = await pacing.take_slot(s, outreach, campaign, now)  # interval and caller number (voice)
        if slot.lost or slot.verdict is not None:
            return Outcome.not_ready if slot.lost else await _apply(s, slot.verdict, outreach, campaign, contact,
                                                                    enrollment, now)
        claimed = await move_outreach(s, outreach.id, OutreachAction.claim, version=outreach.version)
        if claimed is None:
            return Outcome.not_ready  # another worker holds it
        await move_enrollment(s, enrollment, EnrollmentAction.execute, now=now,
                              outreach_id=outreach.id)
        _event(s, outreach, contact.id, "outreach.executing", {"channel": outreach.channel})
    config = dict(channel_row.config or {}) if channel_row is not None else {}
    message = OutboundMessage(
        outreach_id=outreach.id, idempotency_key=outreach.idempotency_key or outreach.id, channel=outreach.channel,
        to=address_of(outreach.channel, contact), subject=outreach.subject, body=outreach.body, config=config,
        unsubscribe_url=_unsubscribe_url(outreach),
        metadata={"outreach_id": outreach.id, "campaign_id": campaign.id, "contact_id": contact.id,
                  "enrollment_id": enrollment.id})
    message = pacing.use_number(message, slot)
    sender = channel or channel_for(outreach.channel, config)
    try:
        result = await sender.send(message)
    except ChannelError as exc:
        async with session_scope() as s:
            await _refused(s, exc, outreach, contact.id, claimed, now)
        return Outcome.retry_later if isinstance(exc, TransientFailure) else Outcome.failed
    except Exception as exc:  # the adapter broke; record it, never resend blindly
        log.exception("sending outreach %s failed", outreach.id)
        error = f"{type(exc).__name__}: {exc}"[:500]
        async with session_scope() as s:
            if await move_outreach(s, outreach.id, OutreachAction.fail, version=claimed,
                                   values={"error": error}) is not None:
                _event(s, outreach, contact.id, "outreach.failed", {"reason": type(exc).__name__})
                await move_enrollment(s, enrollment.id, EnrollmentAction.fail, substatus=Substatus.system_error,
                                      only_from=EnrollmentStatus.executing, now=now,
                                      outreach_id=outreach.id, payload={"reason": type(exc).__name__})
            else:
                await _late_result(s, outreach, contact.id, claimed, now,
                                   values={"error": f"{UNKNOWN_REASON}; the send then failed: {error}"[:500]},
                                   payload={"result": "failed", "reason": type(exc).__name__})
        return Outcome.failed
    async with session_scope() as s:
        if result.awaits_report:  # a placed call: executing until its end-of-call report
            placed = await call_placed(s, outreach, campaign, contact.id, claimed, result, now)
            return Outcome.calling if placed else Outcome.not_ready
        done = await move_outreach(s, outreach.id, OutreachAction.send, version=claimed,
                                   values={"provider_message_id": result.provider_message_id, "sent_at": now})
        if done is None:
            log.warning("outreach %s changed while sending; result not recorded as a send", outreach.id)
            await _late_result(s, outreach, contact.id, claimed, now,
                               values={"provider_message_id": result.provider_message_id},
                               payload={"result": "sent", "provider": result.provider,
                                        "provider_message_id": result.provider_message_id})
            return Outcome.not_ready
        _event(s, outreach, contact.id, "outreach.sent",
               {"provider": result.provider, "provider_message_id": result.provider_message_id,
                "channel": message.channel, "to": message.to, "subject": message.subject, "body": message.body})
        await _after_attempt(s, campaign, enrollment.id, now)
    return Outcome.sent


async def _apply(s: AsyncSession, found: Verdict, outreach: Outreach, campaign: Campaign, contact: Contact,
                 enrollment: Enrollment, now: dt.datetime) -> Outcome:
    """Carry out a guard verdict other than go, in the claim's transaction."""
    if found.decision == Decision.hold:
        return Outcome.held  # unchanged: the scheduler hands it over again once the campaign runs
    if found.decision == Decision.defer:
        later = next_allowed(found.until, contact_window(campaign, contact), not_after=campaign.end_at)
        await _defer(s, outreach, contact.id, later, now, reason=found.reason)
        await pacing.wait_enrollment(s, found, enrollment, outreach.id, later, now)
        return Outcome.capped
    if found.decision == Decision.reopen:
        current = brief_hash(campaign.brief, campaign.ai_variables)
        # The hash moves to the current brief: a new approval covers the draft under it.
        if await move_outreach(s, outreach.id, OutreachAction.reopen, version=outreach.version, values={
                "approved_by": None, "approved_at": None, "brief_hash": current, "error": found.reason}) is None:
            return Outcome.not_ready
        _event(s, outreach, contact.id, "outreach.reopened", {"reason": "brief_changed"})
        await move_enrollment(s, enrollment, EnrollmentAction.reopen, now=now, outreach_id=outreach.id,
                              payload={"reason": "brief_changed"})
        return Outcome.reopened
    if found.decision == Decision.fail:
        if await move_outreach(s, outreach.id, OutreachAction.fail, version=outreach.version,
                               values={"error": found.reason}) is None:
            return Outcome.not_ready
        _event(s, outreach, contact.id, "outreach.failed", {"reason": found.reason})
        await move_enrollment(s, enrollment, EnrollmentAction.fail, substatus=found.substatus, now=now,
                              outreach_id=outreach.id, payload={"reason": found.reason})
        return Outcome.failed
    if await move_outreach(s, outreach.id, OutreachAction.cancel, version=outreach.version,
                           values={"error": found.reason}) is None:
        return Outcome.not_ready
    _event(s, outreach, contact.id, "outreach.cancelled", {"reason": found.reason})
    if found.substatus is not None:  # opted out: the sequence is over
        await move_enrollment(s, enrollment, EnrollmentAction.finish, substatus=found.substatus, now=now,
                              outreach_id=outreach.id, values={"next_attempt_at": None},
                              payload={"reason": found.reason})
    else:  # back in the plan, which decides what (if anything) comes next
        await move_enrollment(s, enrollment, EnrollmentAction.release, now=now, outreach_id=outreach.id,
                              values={"next_attempt_at": now}, payload={"reason": found.reason})
    return Outcome.cancelled


async def _defer(s: AsyncSession, outreach: Outreach, contact_id: str, later: dt.datetime | None,
                 now: dt.datetime, *, reason: str | None = None) -> None:
    """Move the send's time to ``later`` (never earlier than it was); it stays awaiting_execution."""
    if later is None or (outreach.scheduled_at is not None and later <= outreach.scheduled_at):
        return
    await s.execute(update(Outreach).where(
        Outreach.id == outreach.id, Outreach.version == outreach.version,
        Outreach.status == OutreachStatus.awaiting_execution)
        .values(scheduled_at=later, updated_at=now).execution_options(synchronize_session=False))
    _event(s, outreach, contact_id, "outreach.deferred",
           {"until": later.isoformat(), **({"reason": reason} if reason else {})})


def _unsubscribe_url(outreach: Outreach) -> str | None:
    """The recipient's opt-out link (the inbound side answers ``/u/{token}``), when the service
    has a public URL to put in it."""
    base = get_settings().public_url
    if not base or not outreach.unsubscribe_token:
        return None
    return f"{base.rstrip('/')}/u/{outreach.unsubscribe_token}"


async def _refused(s: AsyncSession, exc: ChannelError, o: Outreach, contact_id: str, claimed: int,
                   now: dt.datetime) -> None:
    """Record a provider's typed refusal: retry a transient one within a bound, settle a permanent
    one, and hand an ambiguous one (it may have gone out) to a person, never resending it."""
    detail = {"reason": type(exc).__name__, "code": exc.code}
    if isinstance(exc, TransientFailure) and o.send_attempts + 1 < MAX_SEND_TRIES:
        delay = exc.retry_after_s or RETRY_BASE_S * 2 ** o.send_attempts
        later = now + dt.timedelta(seconds=min(delay, RETRY_MAX_S))
        if await move_outreach(s, o.id, OutreachAction.retry, version=claimed, values={
                "send_attempts": o.send_attempts + 1, "scheduled_at": later, "error": str(exc)[:500]}) is None:
            return
        _event(s, o, contact_id, "outreach.retry_scheduled", {**detail, "at": later.isoformat(),
                                                              "send_attempts": o.send_attempts + 1})
        await move_enrollment(s, o.enrollment_id, EnrollmentAction.requeue, now=now, outreach_id=o.id,
                              payload=detail)
        return
    if isinstance(exc, AmbiguousFailure):
        if await move_outreach(s, o.id, OutreachAction.lose, version=claimed,
                               values={"error": f"{UNKNOWN_REASON}: {exc}"[:500]}) is None:
            return
        _event(s, o, contact_id, "outreach.unknown", detail)
        await move_enrollment(s, o.enrollment_id, EnrollmentAction.fail, substatus=Substatus.system_error,
                              only_from=EnrollmentStatus.executing, now=now, outreach_id=o.id, payload=detail)
        return
    if await move_outreach(s, o.id, OutreachAction.fail, version=claimed, values={"error": str(exc)[:500]}) is None:
        return
    _event(s, o, contact_id, "outreach.failed", detail)
    if isinstance(exc, PermanentFailure) and exc.substatus in ENROLLMENT_SUBSTATUSES[EnrollmentStatus.finished]:
        # The recipient can never be reached this way (bounced, opted out): the sequence is over.
        await move_enrollment(s, o.enrollment_id, EnrollmentAction.finish, substatus=exc.substatus,
                              only_from=EnrollmentStatus.executing, now=now, outreach_id=o.id,
                              values={"next_attempt_at": None}, payload=detail)
    elif isinstance(exc, PermanentFailure):
        # Ours to fix (credentials, sender, the contact's data): an error a person settles.
        await move_enrollment(s, o.enrollment_id, EnrollmentAction.fail, substatus=exc.substatus,
                              only_from=EnrollmentStatus.executing, now=now, outreach_id=o.id, payload=detail)
    else:  # a transient refusal that used up its tries: the channel needs a person's look
        await move_enrollment(s, o.enrollment_id, EnrollmentAction.fail, substatus=Substatus.channel_disconnected,
                              only_from=EnrollmentStatus.executing, now=now, outreach_id=o.id, payload=detail)


async def mark_unknown(s: AsyncSession, o: Outreach, contact_id: str, *, now: dt.datetime) -> bool:
    """Give up on an outreach whose worker stopped mid-send; False if it moved on meanwhile.

    ``executing`` -> ``unknown`` by compare-and-set on the version it was claimed at, with the
    reason in ``error``; its enrollment leaves ``executing`` for ``error/system_error`` (not
    plannable, so nothing more goes to the contact until a person settles it). Nothing is resent.
    """
    moved = await move_outreach(s, o.id, OutreachAction.lose, version=o.version, values={"error": UNKNOWN_REASON})
    if moved is None:
        return False  # its worker recorded a result after all
    await move_enrollment(s, o.enrollment_id, EnrollmentAction.fail, substatus=Substatus.system_error,
                          only_from=EnrollmentStatus.executing, now=now,
                          outreach_id=o.id, payload={"reason": UNKNOWN_REASON})
    _event(s, o, contact_id, "outreach.unknown",
           {"reason": UNKNOWN_REASON, "claimed_at": o.updated_at.isoformat(), "version": moved})
    return True


async def _late_result(s: AsyncSession, o: Outreach, contact_id: str, claimed: int, now: dt.datetime, *,
                       values: dict[str, Any], payload: dict[str, Any]) -> None:
    """A send outlived its lease: the reconciler already gave up on it (``unknown``, one version
    after our claim). Keep what the provider answered on the row and in the history for the
    person settling it; the status stays ``unknown`` (no automatic move out of it)."""
    kept = await s.execute(update(Outreach).where(
        Outreach.id == o.id, Outreach.status == O.unknown, Outreach.version == claimed + 1)
        .values(**values, version=Outreach.version + 1, updated_at=now).execution_options(synchronize_session=False))
    if kept.rowcount == 1:
        _event(s, o, contact_id, "outreach.late_result", payload)


async def _after_attempt(s: AsyncSession, campaign: Campaign, enrollment_id: str, now: dt.datetime) -> None:
    """Count the attempt; wait for the retry interval, or finish when attempts are used up."""
    enrollment = (await s.execute(select(Enrollment).where(Enrollment.id == enrollment_id)
                                  .execution_options(populate_existing=True))).scalar_one()
    settings = CampaignSettings.model_validate(campaign.settings or {})
    attempts = enrollment.attempts + 1
    counted = {"attempts": attempts, "last_attempt_at": now}
    if attempts >= settings.max_attempts:
        moved = await move_enrollment(s, enrollment, EnrollmentAction.finish, substatus=Substatus.max_attempts,
                                      only_from=EnrollmentStatus.executing, now=now,
                                      values={**counted, "next_attempt_at": None})
    else:
        moved = await move_enrollment(
            s, enrollment, EnrollmentAction.wait, substatus=Substatus.retry, now=now,
            only_from=EnrollmentStatus.executing,
            values={**counted, "next_attempt_at": now + dt.timedelta(seconds=settings.retry_interval.seconds)})
    if moved is None:
        log.warning("enrollment %s left executing while its outreach was sent; attempts not counted", enrollment_id)


# Never retried by the broker: a retry comes from the outreach's own state (``retry_later``
# reschedules it; the scheduler hands it over again), so a redelivery can never send twice.
@task("executor.send_outreach", max_retries=0)
async def send_outreach(outreach_id: str) -> None:
    outcome = await execute(outreach_id)
    log.info("outreach %s: %s", outreach_id, outcome)
