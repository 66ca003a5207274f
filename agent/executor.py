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

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, select, update
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
    SendResult,
    TransientFailure,
    channel_for,
)
from agent.channels.rules import check_message
from agent.db import session_scope, utcnow
from agent.contacts.repository import suppressed_in, suppressions_of
from agent.lifecycle.enrollments import move_enrollment, move_seen_enrollments
from agent.lifecycle.outreaches import move_outreach, move_outreaches_at, move_seen_outreaches
from agent.models import Campaign, Channel, Contact, Enrollment, Outreach
from agent.numbers import pacing
from agent.outreaches.repository import OutreachInContext, find_outreaches
from agent.queue import task
from agent.scheduling import contact_window, is_allowed, next_allowed
from agent.send_guard import Decision, Verdict, address_of, verdict
from agent.settings import get_settings
from agent.voice.outbound import call_placed
from agent.states import (
    ENROLLMENT_SUBSTATUSES,
    PRIORITY_ORDER,
    CampaignType,
    EnrollmentAction,
    EnrollmentStatus,
    OutreachAction,
    OutreachStatus,
    Priority,
    Substatus,
)

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
# One object for every batch, so the enrollments' cached UPDATE (``move_seen_enrollments``) is
# the same statement each time.
_ONE_MORE_ATTEMPT = Enrollment.__table__.c.attempts + 1
_CHANNELS = select(Channel).where(Channel.id.in_(bindparam("ids", expanding=True)))  # a batch's channel rows


def send_batch() -> int:
    """Outreaches handed to one ``executor.send_outreaches`` batch (``OVERTURE_SEND_BATCH``): one
    claim transaction for them all (review's execute-all and the scheduler hand over this many).
    Small by default: a worker that dies mid-batch leaves the batch's unrecorded sends ``unknown``
    for a person to settle, so the batch bounds what one crash can cost (results are recorded in
    groups as they land, which shortens that tail but not the claimed sends not yet attempted)."""
    return get_settings().send_batch


class Outcome(StrEnum):
    sent = "sent"
    failed = "failed"
    held = "held"  # the campaign or channel is paused: it goes out after the resume
    cancelled = "cancelled"  # void: the contact left or opted out, or the channel stopped
    reopened = "reopened"  # back in review: the brief changed since the approval
    retry_later = "retry_later"  # the provider refused for now; another try is scheduled
    capped = "capped"  # a state's cap on calls and texts was reached: it waits for room
    not_ready = "not_ready"  # not awaiting execution (already sent, claimed, or never approved)
    calling = "calling"  # the call was placed: executing until its end-of-call report
    outside_hours = "outside_hours"


def _event_row(o: Outreach, contact_id: str, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"workspace_id": o.workspace_id, "actor": activity.SYSTEM, "kind": kind, "campaign_id": o.campaign_id,
            "contact_id": contact_id, "enrollment_id": o.enrollment_id, "outreach_id": o.id, "payload": payload}


def _event(s: AsyncSession, o: Outreach, contact_id: str, kind: str, payload: dict[str, Any]) -> None:
    activity.record(s, **_event_row(o, contact_id, kind, payload))


async def execute(outreach_id: str, *, now: dt.datetime | None = None,
                  channel: OutboundChannel | None = None) -> Outcome:
    """Send one outreach if it is due to go now; what happened (the database holds the rest)."""
    return (await execute_many([outreach_id], now=now, channel=channel))[outreach_id]


@dataclass(slots=True)
class _Claimed:
    """An outreach this worker claimed, with what its send and its result need."""

    outreach: Outreach
    campaign: Campaign
    contact: Contact
    enrollment: Enrollment
    version: int  # the outreach's version after the claim: the result's compare-and-set
    message: OutboundMessage
    sender: OutboundChannel


async def execute_many(outreach_ids: list[str], *, now: dt.datetime | None = None,
                       channel: OutboundChannel | None = None,
                       result_group: int | None = None) -> dict[str, Outcome]:
    """Send a batch of outreaches: each one's outcome, by id.

    The same three steps as one send, done for the batch: one transaction loads the outreaches
    with their rows, asks the guard about each against the world as it is now, and claims the
    ones that may go in one compare-and-set; the sends run concurrently (the adapters' pools bound
    them) outside any transaction; the results are recorded as they land, ``result_group`` at a
    time (default ``OVERTURE_SEND_RESULT_GROUP``), each group in its own transaction while the
    other sends go on. A worker killed mid-batch so leaves ``executing`` (then ``unknown``) only
    the sends whose group was not yet written. A batch handed over twice claims nothing the
    second time.
    """
    now = now or utcnow()
    outcomes = dict.fromkeys(outreach_ids, Outcome.not_ready)
    async with session_scope() as s:
        claimed = await _vet_and_claim(s, outreach_ids, outcomes, channel, now)
    if claimed:
        await _send_and_record(claimed, outcomes, now, result_group or get_settings().send_result_group)
    for outcome in outcomes.values():
        metrics.SENDS.labels(outcome.value).inc()
    return outcomes


async def _send_and_record(claimed: list[_Claimed], outcomes: dict[str, Outcome], now: dt.datetime,
                           group: int) -> None:
    """Every claimed send at once; each ``group`` of answers recorded as soon as it is complete."""

    async def one(c: _Claimed) -> tuple[_Claimed, SendResult | Exception]:
        return c, await _send(c)

    tasks = [asyncio.ensure_future(one(c)) for c in claimed]
    landed: list[tuple[_Claimed, SendResult | Exception]] = []
    try:
        for i, next_done in enumerate(asyncio.as_completed(tasks), 1):
            landed.append(await next_done)
            if len(landed) >= group or i == len(tasks):
                async with session_scope() as s:
                    await _record(s, [c for c, _ in landed], [r for _, r in landed], outcomes, now)
                landed = []
    finally:
        # A result transaction that failed leaves the other sends to finish (they are handed over
        # already; cancelling one mid-DATA would only make it ambiguous) and their rows executing.
        await asyncio.gather(*tasks, return_exceptions=True)


async def _vet_and_claim(s: AsyncSession, outreach_ids: list[str], outcomes: dict[str, Outcome],
                         channel: OutboundChannel | None, now: dt.datetime) -> list[_Claimed]:
    """The claim's transaction: the guard over every loaded row, the refusals applied one by one,
    the sends that may go claimed together."""
    # The session is the batch's own and new: nothing in it is stale (see find_outreaches).
    loaded = await find_outreaches(s, outreach_ids, status=O.awaiting_execution, refresh=False, for_sending=True)
    # High-priority contacts first: they take the caller numbers' daily caps before the others.
    loaded.sort(key=lambda item: PRIORITY_ORDER.index(Priority(item.contact.priority)))
    channel_ids = {item.outreach.channel_id for item in loaded if item.outreach.channel_id}
    channels = {c.id: c for c in (await s.execute(_CHANNELS, {"ids": sorted(channel_ids)})).scalars()} \
        if channel_ids else {}
    suppressions = await suppressions_of(s, [item.contact for item in loaded])
    ready: list[tuple[OutreachInContext, Channel | None, pacing.Slot]] = []
    for item in loaded:
        channel_row = channels.get(item.outreach.channel_id) if item.outreach.channel_id else None
        refused = await _vet(s, item, channel_row, suppressed_in(suppressions, item.contact, item.outreach.channel),
                             now)
        if isinstance(refused, Outcome):
            outcomes[item.outreach.id] = refused
        else:
            ready.append((item, channel_row, refused))
    if not ready:
        return []
    moved = await move_outreaches_at(s, OutreachAction.claim, [(item.outreach.id, item.outreach.version)
                                                               for item, _, _ in ready])
    version_of = {r.id: r.version for r in moved}  # the others: another worker holds them
    ready = [(item, row, slot) for item, row, slot in ready if item.outreach.id in version_of]
    events: list[dict[str, Any]] = []  # the enrollments' moves and the claims, written together
    await move_seen_enrollments(s, [item.enrollment for item, _, _ in ready], EnrollmentAction.execute, now=now,
                                outreach_of={item.enrollment.id: item.outreach.id for item, _, _ in ready},
                                events=events)
    senders: dict[str | None, OutboundChannel] = {}
    claimed = []
    await activity.record_all(s, events + [_event_row(item.outreach, item.contact.id, "outreach.executing",
                                                      {"channel": item.outreach.channel}) for item, _, _ in ready])
    for item, channel_row, slot in ready:
        o = item.outreach
        message = _message(item, channel_row, slot)
        # One adapter per channel row in the batch (its config chooses the provider).
        key = channel_row.id if channel_row is not None else None
        if key not in senders:
            senders[key] = channel or channel_for(o.channel, message.config)
        claimed.append(_Claimed(o, item.campaign, item.contact, item.enrollment, version_of[o.id], message,
                                senders[key]))
    return claimed


async def _vet(s: AsyncSession, item: OutreachInContext, channel_row: Channel | None, suppressed: bool,
               now: dt.datetime) -> Outcome | pacing.Slot:
    """The slot (the call interval and a caller number, for voice) when the outreach may be
    claimed; otherwise the refusal, already applied."""
    outreach, campaign, contact, enrollment = item
    found = await verdict(s, outreach, campaign, contact, enrollment, channel_row, now, suppressed=suppressed)
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
    if slot.lost:
        return Outcome.not_ready
    if slot.verdict is not None:
        return await _apply(s, slot.verdict, outreach, campaign, contact, enrollment, now)
    return slot


def _message(item: OutreachInContext, channel_row: Channel | None, slot: pacing.Slot) -> OutboundMessage:
    """What the adapter is handed. The per-channel step: a channel kind that picks its sender
    per send (a voice number, say) does it here, inside the claim's transaction."""
    outreach, campaign, contact, enrollment = item
    config = dict(channel_row.config or {}) if channel_row is not None else {}
    return pacing.use_number(OutboundMessage(
        outreach_id=outreach.id, idempotency_key=outreach.idempotency_key or outreach.id, channel=outreach.channel,
        to=address_of(outreach.channel, contact), subject=outreach.subject, body=outreach.body, config=config,
        unsubscribe_url=_unsubscribe_url(outreach),
        metadata={"outreach_id": outreach.id, "campaign_id": campaign.id, "contact_id": contact.id,
                  "enrollment_id": enrollment.id}), slot)


async def _send(c: _Claimed) -> SendResult | Exception:
    """The provider's answer, or what it raised (recorded, never resent blindly)."""
    try:
        return await c.sender.send(c.message)
    except Exception as exc:
        if not isinstance(exc, ChannelError):
            log.exception("sending outreach %s failed", c.outreach.id)
        return exc


async def _record(s: AsyncSession, claimed: list[_Claimed], results: list[SendResult | Exception],
                  outcomes: dict[str, Outcome], now: dt.datetime) -> None:
    """The result's transaction: the sends recorded together, each refusal as one send records it."""
    delivered = [(c, r) for c, r in zip(claimed, results, strict=True)
                 if isinstance(r, SendResult) and not r.awaits_report]
    for c, result in zip(claimed, results, strict=True):
        if isinstance(result, SendResult) and result.awaits_report:  # a placed call: executing until its report
            placed = await call_placed(s, c.outreach, c.campaign, c.contact.id, c.version, result, now)
            outcomes[c.outreach.id] = Outcome.calling if placed else Outcome.not_ready
    for c, exc in zip(claimed, results, strict=True):
        if isinstance(exc, SendResult):
            continue
        outreach, contact_id, enrollment = c.outreach, c.contact.id, c.enrollment
        if isinstance(exc, ChannelError):
            await _refused(s, exc, outreach, contact_id, c.version, now)
            outcomes[outreach.id] = Outcome.retry_later if isinstance(exc, TransientFailure) else Outcome.failed
            continue
        error = f"{type(exc).__name__}: {exc}"[:500]
        if await move_outreach(s, outreach.id, OutreachAction.fail, version=c.version,
                               values={"error": error}) is not None:
            _event(s, outreach, contact_id, "outreach.failed", {"reason": type(exc).__name__})
            await move_enrollment(s, enrollment.id, EnrollmentAction.fail, substatus=Substatus.system_error,
                                  only_from=EnrollmentStatus.executing, now=now,
                                  outreach_id=outreach.id, payload={"reason": type(exc).__name__})
        else:
            await _late_result(s, outreach, contact_id, c.version, now,
                               values={"error": f"{UNKNOWN_REASON}; the send then failed: {error}"[:500]},
                               payload={"result": "failed", "reason": type(exc).__name__})
        outcomes[outreach.id] = Outcome.failed
    if not delivered:
        return
    # Each row moved to sent with its own provider id in the same UPDATE (one write per row).
    moved = await move_seen_outreaches(s, OutreachAction.send, [
        {"id": c.outreach.id, "version": c.version, "provider_message_id": r.provider_message_id}
        for c, r in delivered], values={"sent_at": now})
    done = {r.id: r.version for r in moved}
    events = []
    for c, result in delivered:
        o, contact_id, message = c.outreach, c.contact.id, c.message
        if o.id not in done:
            log.warning("outreach %s changed while sending; result not recorded as a send", o.id)
            await _late_result(s, o, contact_id, c.version, now,
                               values={"provider_message_id": result.provider_message_id},
                               payload={"result": "sent", "provider": result.provider,
                                        "provider_message_id": result.provider_message_id})
            continue
        events.append(_event_row(o, contact_id, "outreach.sent", {
            "provider": result.provider, "provider_message_id": result.provider_message_id,
            "channel": message.channel, "to": message.to, "subject": message.subject, "body": message.body}))
        outcomes[o.id] = Outcome.sent
    await _after_attempts(s, [c for c, _ in delivered if c.outreach.id in done], now, events)
    await activity.record_all(s, events)  # the sends' and the enrollments' moves in one write


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
        versions = {"planned_under_version": outreach.settings_version, "settings_version": campaign.settings_version}
        _event(s, outreach, contact.id, "outreach.reopened", {"reason": "brief_changed", **versions})
        await move_enrollment(s, enrollment, EnrollmentAction.reopen, now=now, outreach_id=outreach.id,
                              payload={"reason": "brief_changed", **versions})
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


async def _after_attempts(s: AsyncSession, sent: list[_Claimed], now: dt.datetime,
                          events: list[dict[str, Any]]) -> None:
    """Count each attempt; wait for the retry interval, or finish when attempts are used up; the
    enrollments' events are added to ``events`` (the caller writes them).

    A one-time campaign's message that went out is its one touch: the enrollment waits (no
    substatus) for the contact completion timeout, the window for a reply, and the planner then
    finishes it (``planner.rules.one_touch``) instead of planning a follow-up.

    Each enrollment is compared-and-set against the row the claim left (``executing`` at the
    claim's version): one that moved while its message was out is not counted."""
    counted = {"attempts": _ONE_MORE_ATTEMPT, "last_attempt_at": now}
    groups: dict[tuple[str, str], list[Enrollment]] = {}
    settings_of: dict[str, CampaignSettings] = {}
    for c in sent:
        if c.enrollment.status != EnrollmentStatus.executing:
            continue  # the claim's enrollment move found it changed
        settings = settings_of.get(c.campaign.id)
        if settings is None:
            settings = settings_of[c.campaign.id] = CampaignSettings.model_validate(c.campaign.settings or {})
        if c.campaign.type == CampaignType.one_time:
            after = "touched"
        else:
            after = "last" if c.enrollment.attempts + 1 >= settings.max_attempts else "retry"
        groups.setdefault((c.campaign.id, after), []).append(c.enrollment)
    moved: set[str] = set()
    for (campaign_id, after), rows in groups.items():
        settings = settings_of[campaign_id]
        if after == "last":
            done = await move_seen_enrollments(s, rows, EnrollmentAction.finish, substatus=Substatus.max_attempts,
                                               now=now, values={**counted, "next_attempt_at": None}, events=events)
        elif after == "touched":
            window = dt.timedelta(seconds=settings.contact_completion_timeout.seconds)
            done = await move_seen_enrollments(s, rows, EnrollmentAction.wait, now=now,
                                               values={**counted, "next_attempt_at": now + window}, events=events)
        else:
            wait = dt.timedelta(seconds=settings.retry_interval.seconds)
            done = await move_seen_enrollments(s, rows, EnrollmentAction.wait, substatus=Substatus.retry, now=now,
                                               values={**counted, "next_attempt_at": now + wait}, events=events)
        moved.update(m.enrollment_id for m in done)
    for c in sent:
        if c.enrollment.id not in moved:
            log.warning("enrollment %s left executing while its outreach was sent; attempts not counted",
                        c.enrollment.id)


# Never retried by the broker: a retry comes from the outreach's own state (``retry_later``
# reschedules it; the scheduler hands it over again), so a redelivery can never send twice.
@task("executor.send_outreach", max_retries=0)
async def send_outreach(outreach_id: str) -> None:
    outcome = await execute(outreach_id)
    log.info("outreach %s: %s", outreach_id, outcome)


@task("executor.send_outreaches", max_retries=0)
async def send_outreaches(outreach_ids: list[str]) -> None:
    """A batch handed over together (``execute_approved``, the scheduler): one claim for the lot."""
    for outreach_id, outcome in (await execute_many(outreach_ids)).items():
        log.info("outreach %s: %s", outreach_id, outcome)
