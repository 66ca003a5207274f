"""Eligibility, channel choice and timing: plain code, no model, no database."""

from __future__ import annotations

import datetime as dt

from agent.campaigns.schemas import CampaignSettings
from agent.scheduling import Window, earliest_attempt, next_allowed
from agent.states import CampaignStatus, CampaignType, ChannelKind, ChannelStatus, EnrollmentStatus, Substatus
from planner.state import ChannelFacts, Outcome, PlanContext

# A contact the planner cannot place in its hours now is looked at again after this long.
RECHECK_AFTER = dt.timedelta(hours=12)
# A contact whose last conversation waits for its evaluation is looked at again after this long.
EVALUATION_RECHECK = dt.timedelta(minutes=5)
_NEEDS = {ChannelKind.email: "email", ChannelKind.sms: "phone", ChannelKind.voice: "phone"}


def eligibility(ctx: PlanContext) -> Outcome | None:
    """None when the contact may get a next outreach; else the status it should rest in."""
    if ctx.campaign_status == CampaignStatus.paused:
        return Outcome(EnrollmentStatus.campaign_paused, None, "the campaign is paused")
    if ctx.campaign_status != CampaignStatus.active:
        return Outcome(EnrollmentStatus.not_started, None, f"the campaign is {ctx.campaign_status}")
    if ctx.suppressed:
        return Outcome(EnrollmentStatus.finished, Substatus.opted_out, "the contact is on the suppression list")
    if ctx.primary_goal_achieved:
        return Outcome(EnrollmentStatus.completed, None, "the primary goal was achieved")
    if ctx.awaiting_evaluation:
        return Outcome(EnrollmentStatus.waiting, Substatus.scheduled,
                       "the last conversation is not evaluated yet; its result decides what comes next",
                       next_attempt_at=ctx.now + EVALUATION_RECHECK)
    settings = CampaignSettings.model_validate(ctx.settings)
    touched = one_touch(ctx, settings)
    if touched is not None:
        return touched
    if ctx.attempts >= settings.max_attempts:
        return Outcome(EnrollmentStatus.finished, Substatus.max_attempts,
                       f"{ctx.attempts} of {settings.max_attempts} attempts used")
    if not ctx.brief.strip():
        return Outcome(EnrollmentStatus.error, Substatus.missing_brief, "the campaign has no brief")
    if ctx.end_at is not None and ctx.now >= ctx.end_at:
        return Outcome(EnrollmentStatus.finished, Substatus.no_response, "the campaign's end date has passed")
    running = [c for c in ctx.channels if c.status == ChannelStatus.running]
    if not running:
        if any(c.status == ChannelStatus.paused for c in ctx.channels):
            return Outcome(EnrollmentStatus.campaign_paused, None, "every channel is paused")
        return Outcome(EnrollmentStatus.not_started, None, "no channel is running")
    return None


def one_touch(ctx: PlanContext, settings: CampaignSettings) -> Outcome | None:
    """A one-time campaign stops after its one touch (docs/campaigns.md): the contact waits out the
    contact completion timeout after it (a reply in that window makes it ``replied``), then
    finishes, ``finished/no_response`` after a message, ``finished/max_attempts`` after a call a
    person answered (the one touch was used; an achieved goal would have completed it above).
    Before the touch, failed sends and unanswered calls are retried per the retry settings."""
    if CampaignType(ctx.campaign_type) != CampaignType.one_time or ctx.touch is None:
        return None
    if ctx.last_attempt_at is not None:
        window_end = ctx.last_attempt_at + dt.timedelta(seconds=settings.contact_completion_timeout.seconds)
        if window_end.tzinfo is None:
            window_end = window_end.replace(tzinfo=dt.UTC)  # SQLite hands datetimes back naive (they are UTC)
        if ctx.now < window_end:
            return Outcome(EnrollmentStatus.waiting, Substatus.scheduled,
                           "one-time campaign: the contact completion timeout after the touch has not passed",
                           next_attempt_at=window_end)
    if ctx.touch == "call":
        return Outcome(EnrollmentStatus.finished, Substatus.max_attempts,
                       "one-time campaign: the call reached the contact, the one touch is used")
    return Outcome(EnrollmentStatus.finished, Substatus.no_response,
                   "one-time campaign: the message went out and the contact did not reply")


def choose_channel(ctx: PlanContext) -> ChannelFacts | Outcome:
    """The running channel for the next step (channels take turns by step), or why none fits."""
    running = sorted((c for c in ctx.channels if c.status == ChannelStatus.running
                      and c.kind not in ctx.suppressed_channels), key=lambda c: c.position)
    if not running:
        return Outcome(EnrollmentStatus.finished, Substatus.opted_out,
                       "the contact opted out of every running channel")
    step = ctx.attempts + 1
    rotated = running[(step - 1) % len(running):] + running[: (step - 1) % len(running)]
    for channel in rotated:
        need = _NEEDS.get(ChannelKind(channel.kind))
        if need is None or getattr(ctx.contact, need):
            return channel
    missing = _NEEDS[ChannelKind(rotated[0].kind)]
    substatus = Substatus.missing_email if missing == "email" else Substatus.missing_phone
    return Outcome(EnrollmentStatus.error, substatus, f"the contact has no {missing} for the {rotated[0].kind} channel")


def choose_time(ctx: PlanContext) -> dt.datetime | Outcome:
    """The first instant inside business hours and the contact's own 08:00-21:00 (or why none)."""
    settings = CampaignSettings.model_validate(ctx.settings)
    earliest = earliest_attempt(ctx.now, start_at=ctx.start_at, last_attempt_at=ctx.last_attempt_at,
                                retry_interval_s=settings.retry_interval.seconds)
    window = Window.for_campaign(contact_tz=ctx.contact.timezone, campaign_timezone=ctx.campaign_timezone,
                                 schedule=ctx.schedule)
    chosen = next_allowed(earliest, window, not_after=ctx.end_at)
    if chosen is not None:
        return chosen
    if ctx.end_at is not None and earliest >= ctx.end_at:
        return Outcome(EnrollmentStatus.finished, Substatus.no_response, "no time left before the campaign ends")
    return Outcome(EnrollmentStatus.waiting, Substatus.outside_working_hours,
                   "no time inside both the business hours and the contact's hours soon",
                   next_attempt_at=earliest + RECHECK_AFTER)
