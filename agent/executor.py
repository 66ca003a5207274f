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

from agent import activity
from agent.campaigns.schemas import CampaignSettings
from agent.channels import OutboundChannel, OutboundMessage, channel_for
from agent.channels.rules import check_message
from agent.db import session_scope, utcnow
from agent.lifecycle.enrollments import move_enrollment
from agent.lifecycle.outreaches import move_outreach
from agent.models import Campaign, Enrollment, Outreach
from agent.outreaches.repository import find_outreach
from agent.queue import task
from agent.scheduling import contact_window, is_allowed, next_allowed
from agent.states import (
    CampaignStatus,
    ChannelKind,
    EnrollmentAction,
    EnrollmentStatus,
    OutreachAction,
    OutreachStatus,
    Substatus,
)

log = logging.getLogger(__name__)
O = OutreachStatus

# How long an outreach may stay ``executing`` before the reconciler takes its worker for dead.
# A send is one provider call (adapters time out well within this); voice calls that keep the
# outreach ``executing`` for the whole call will need a longer lease or a heartbeat.
EXECUTING_LEASE = dt.timedelta(minutes=15)
UNKNOWN_REASON = "the worker stopped while sending; check the provider before resending"


class Outcome(StrEnum):
    sent = "sent"
    failed = "failed"
    not_ready = "not_ready"  # not awaiting execution (already sent, claimed, or never approved)
    outside_hours = "outside_hours"
    campaign_not_active = "campaign_not_active"


def _event(s: AsyncSession, o: Outreach, contact_id: str, kind: str, payload: dict[str, Any]) -> None:
    activity.record(s, workspace_id=o.workspace_id, actor=activity.SYSTEM, kind=kind, campaign_id=o.campaign_id,
                    contact_id=contact_id, enrollment_id=o.enrollment_id, outreach_id=o.id, payload=payload)


async def execute(outreach_id: str, *, now: dt.datetime | None = None,
                  channel: OutboundChannel | None = None) -> Outcome:
    """Send one outreach if it is due to go now; what happened (the database holds the rest)."""
    now = now or utcnow()
    async with session_scope() as s:
        loaded = await find_outreach(s, outreach_id)
        if loaded is None or loaded.outreach.status != O.awaiting_execution:
            return Outcome.not_ready
        outreach, campaign, contact, enrollment = loaded
        if campaign.status != CampaignStatus.active:
            return Outcome.campaign_not_active
        window = contact_window(campaign, contact)
        if not is_allowed(now, window):
            # Stays awaiting_execution, rescheduled to the contact's next allowed minute so the
            # scheduler hands it over again then (not on every tick until then).
            later = next_allowed(now, window, not_after=campaign.end_at)
            if later is not None and (outreach.scheduled_at is None or later > outreach.scheduled_at):
                await s.execute(update(Outreach).where(
                    Outreach.id == outreach.id, Outreach.version == outreach.version,
                    Outreach.status == OutreachStatus.awaiting_execution)
                    .values(scheduled_at=later, updated_at=now).execution_options(synchronize_session=False))
                _event(s, outreach, contact.id, "outreach.deferred", {"until": later.isoformat()})
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
        claimed = await move_outreach(s, outreach.id, OutreachAction.claim, version=outreach.version)
        if claimed is None:
            return Outcome.not_ready  # another worker holds it
        await move_enrollment(s, enrollment, EnrollmentAction.execute, now=now,
                              outreach_id=outreach.id)
        _event(s, outreach, contact.id, "outreach.executing", {"channel": outreach.channel})
    message = OutboundMessage(
        outreach_id=outreach.id, idempotency_key=outreach.idempotency_key or outreach.id, channel=outreach.channel,
        to=contact.email if outreach.channel == ChannelKind.email else contact.phone,
        subject=outreach.subject, body=outreach.body)
    sender = channel or channel_for(outreach.channel)
    try:
        result = await sender.send(message)
    except Exception as exc:  # the provider refused; record it, never resend blindly
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


@task("executor.send_outreach")
async def send_outreach(outreach_id: str) -> None:
    outcome = await execute(outreach_id)
    log.info("outreach %s: %s", outreach_id, outcome)
