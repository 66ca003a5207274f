"""A voice send's slot: the campaign's call interval and a caller number, both taken in the
database inside the executor's claim transaction, so every worker process sees the same limits.

- The interval is one compare-and-set on ``campaigns.last_call_at`` (``... WHERE last_call_at <=
  now - interval``): of two workers starting calls at once, one wins and the other waits for the
  next slot. The database re-checks the WHERE under the row's lock (PostgreSQL) or runs one
  writer at a time (SQLite).
- The number comes from :mod:`agent.numbers.rotation` (strategy, daily cap, sticky number).

Nothing free: the outreach is deferred, not failed (it stays ``awaiting_execution``), to the next
interval slot or, when every number has used its cap, the start of the campaign's next day; its
enrollment shows ``waiting/identity_limits`` meanwhile. No active number at all is an identity
problem a person fixes (``error/identity_misconfigured``).

Campaigns without caller numbers send as before, from the channel's configured sender.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agent.campaigns.schemas import CampaignSettings
from agent.channels.base import OutboundMessage
from agent.lifecycle.enrollments import move_enrollment
from agent.models import CallerNumber, Campaign, Enrollment, Outreach
from agent.numbers import rotation
from agent.send_guard import Decision, Verdict
from agent.states import ChannelKind, EnrollmentAction, OutreachStatus, Substatus

_UNITS = {"s": 1, "min": 60}


def interval_of(value: str) -> dt.timedelta:
    """``"30s"`` / ``"2min"`` (seed 003's choices) as a timedelta."""
    m = re.fullmatch(r"(\d+)(s|min)", value)
    if m is None:
        raise ValueError(f"not a call interval: {value!r}")
    return dt.timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


def campaign_day(campaign: Campaign, now: dt.datetime) -> tuple[dt.date, dt.datetime]:
    """The campaign's current day in its zone, and when its next day starts (UTC)."""
    zone = ZoneInfo(campaign.timezone or "UTC")
    today = now.astimezone(zone).date()
    tomorrow = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(0), zone)
    return today, tomorrow.astimezone(dt.UTC)


@dataclass(frozen=True, slots=True)
class Slot:
    """A number taken for the call (None: the channel's own sender), or why the call waits."""

    number: CallerNumber | None = None
    verdict: Verdict | None = None
    lost: bool = False  # another worker holds the outreach: nothing was taken


FREE = Slot()


def _wait(until: dt.datetime, reason: str) -> Slot:
    return Slot(verdict=Verdict(Decision.defer, reason, Substatus.identity_limits, until=until))


async def _hold_outreach(s: AsyncSession, outreach: Outreach) -> bool:
    """Lock the outreach at the version the claim will check, before taking anything: a worker
    racing for the same outreach waits here and then finds it moved, so it takes no slot."""
    done = await s.execute(update(Outreach).where(
        Outreach.id == outreach.id, Outreach.version == outreach.version,
        Outreach.status == OutreachStatus.awaiting_execution)
        .values(caller_number_id=Outreach.caller_number_id).execution_options(synchronize_session=False))
    return done.rowcount == 1


async def _take_interval(s: AsyncSession, campaign: Campaign, gap: dt.timedelta,
                         now: dt.datetime) -> dt.datetime | None:
    """Start a call now if the last one began at least ``gap`` ago; else when the next may."""
    won = await s.execute(update(Campaign).where(
        Campaign.id == campaign.id, or_(Campaign.last_call_at.is_(None), Campaign.last_call_at <= now - gap))
        .values(last_call_at=now).execution_options(synchronize_session=False))
    if won.rowcount == 1:
        return None
    last = (await s.execute(select(Campaign.last_call_at).where(Campaign.id == campaign.id))).scalar_one()
    return last + gap


async def take_slot(s: AsyncSession, outreach: Outreach, campaign: Campaign, now: dt.datetime) -> Slot:
    """The interval slot and a number for this voice outreach, counted; or why it must wait."""
    if outreach.channel != ChannelKind.voice or not await rotation.has_numbers(s, campaign.id):
        return FREE
    if not await _hold_outreach(s, outreach):
        return Slot(lost=True)
    settings = CampaignSettings.model_validate(campaign.settings or {})
    await rotation.exclude_spammy(s, campaign, settings)
    if not await rotation.has_active(s, campaign.id):
        return Slot(verdict=Verdict(Decision.fail, "the campaign has no active caller number (all disabled "
                                    "or excluded for spam)", Substatus.identity_misconfigured))
    gap = interval_of(settings.call_interval)
    later = await _take_interval(s, campaign, gap, now)
    if later is not None:
        return _wait(later, f"the campaign's call interval ({settings.call_interval}) has not passed")
    today, tomorrow = campaign_day(campaign, now)
    number = await rotation.claim_number(s, campaign, settings, enrollment_id=outreach.enrollment_id,
                                         outreach_id=outreach.id, today=today, now=now)
    if number is None:
        # The interval slot goes back: no call starts now. We hold the campaign row's lock.
        await s.execute(update(Campaign).where(Campaign.id == campaign.id, Campaign.last_call_at == now)
                        .values(last_call_at=now - gap).execution_options(synchronize_session=False))
        return _wait(tomorrow, f"every caller number made its {settings.max_calls_per_number_per_day} calls today")
    await s.execute(update(Outreach).where(Outreach.id == outreach.id).values(caller_number_id=number.id)
                    .execution_options(synchronize_session=False))
    return Slot(number=number)


def use_number(message: OutboundMessage, slot: Slot) -> OutboundMessage:
    """The call goes out from the slot's number: Retell's ``from_number``, Vapi's ``phone_number_id``
    (the number's provider id; none means the Vapi adapter refuses rather than call from the
    channel's own number, which rotation did not count), and the call's metadata."""
    if slot.number is None:
        return message
    config = {**message.config, "from_number": slot.number.number,
              "phone_number_id": slot.number.provider_number_id}
    return replace(message, config=config,
                   metadata={**message.metadata, "caller_number_id": slot.number.id,
                             "caller_number": slot.number.number})


async def wait_enrollment(s: AsyncSession, found: Verdict, enrollment: Enrollment, outreach_id: str,
                          later: dt.datetime | None, now: dt.datetime) -> None:
    """Show a call waiting for a number as ``waiting/identity_limits`` until its deferred turn."""
    if found.substatus != Substatus.identity_limits:
        return
    # next_attempt_at is when the deferred outreach goes again; the planner leaves it be (it has
    # an outreach awaiting execution), the executor moves it on from ``waiting``.
    await move_enrollment(s, enrollment, EnrollmentAction.wait_identity, substatus=Substatus.identity_limits,
                          now=now, outreach_id=outreach_id, values={"next_attempt_at": later},
                          payload={"reason": found.reason})
