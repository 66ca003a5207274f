"""When an outreach may go out: quiet hours in the contact's zone, business hours in the campaign's.

Pure functions (no database, no clock): the planner's ``choose_timing`` passes ``now`` in. The rule
users rely on is that nothing is ever scheduled outside the contact's allowed hours, so
:func:`next_allowed` builds the allowed spans exactly, as UTC intervals, and intersects them.

Conventions: every window is half-open, ``[start, end)`` in local wall-clock time, so 17:00 is
closed when business hours end at 17:00. An end of ``time(0)`` means 24:00 (end of that day).
A wall-clock time that does not exist (spring-forward gap) is never open; one that occurs twice
(fall-back) is open both times. Every datetime in and out is aware; results are in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent import compliance
# The API's Schedule model is the one source of truth for the stored JSON's shape and checks.
from agent.campaigns.schemas import Schedule

if TYPE_CHECKING:
    from agent.models import Campaign, Contact

__all__ = ["Window", "contact_window", "is_allowed", "next_allowed", "earliest_attempt", "timing_reason",
           "hours_status"]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Span = tuple[time, time]
# Offsets change at most once in any 6 hours in every real zone, so sampling at this step and
# bisecting where two samples differ finds every transition.
_SAMPLE = timedelta(hours=6)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as 'America/New_York')") from None


def _check_span(start: time, end: time) -> None:
    if not (start < end or end == time(0)):
        raise ValueError(f"window {start:%H:%M}-{end:%H:%M}: start must be before end")


def _parse_hhmm(value: str) -> time:
    return time(0) if value == "24:00" else time.fromisoformat(value)


@dataclass(frozen=True)
class Window:
    """The hours one contact may be reached in one campaign.

    ``business_hours`` maps "mon".."sun" to local spans in ``campaign_tz``; a missing day is closed,
    ``{}`` is never open, ``None`` means no business-hours limit. ``holidays`` are local dates in
    ``campaign_tz`` closed all day (a window belongs to the day it starts on). Quiet hours apply
    in ``contact_tz``, or in ``campaign_tz`` when the contact has no zone.
    """

    contact_tz: str | None
    campaign_tz: str
    business_hours: dict[str, list[tuple[time, time]]] | None
    quiet_start: time = time(8, 0)
    quiet_end: time = time(21, 0)
    # Further zones whose quiet hours hold too: a contact with no zone of their own whose number
    # maps to several (the allowed hours are then the intersection).
    also_zones: tuple[str, ...] = ()
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        _zone(self.campaign_tz)
        if self.contact_tz is not None:
            _zone(self.contact_tz)
        for zone in self.also_zones:
            _zone(zone)
        _check_span(self.quiet_start, self.quiet_end)
        for day, spans in (self.business_hours or {}).items():
            if day not in DAYS:
                raise ValueError(f"unknown weekday {day!r} (use one of {', '.join(DAYS)})")
            for start, end in spans:
                _check_span(start, end)

    @classmethod
    def for_campaign(cls, *, contact_tz: str | None, campaign_timezone: str, schedule: dict | None) -> Window:
        """Build the window from stored JSON: the campaign's zone and its ``Schedule`` dump.

        ``schedule=None`` means the campaign set no business hours (quiet hours only). The
        schedule's own ``timezone`` wins over the campaign's for business hours, and is also the
        fallback zone for quiet hours of a contact without one. An empty ``contact_tz`` is none.
        A campaign linked to a reusable schedule passes ``Campaign.hours``, the same shape.
        """
        business: dict[str, list[Span]] | None = None
        zone = campaign_timezone
        holidays: frozenset[date] = frozenset()
        if schedule is not None:
            parsed = Schedule.model_validate(schedule)
            zone = parsed.timezone or campaign_timezone
            business = {day: [(_parse_hhmm(w.start), _parse_hhmm(w.end)) for w in spans]
                        for day, spans in parsed.business_hours.items()}
            holidays = frozenset(h.date for h in parsed.holidays)
        return cls(contact_tz=contact_tz or None, campaign_tz=zone, business_hours=business, holidays=holidays)


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")
    return value.astimezone(UTC)


def _inside(t: time, spans: list[Span]) -> bool:
    return any(start <= t and (t < end or end == time(0)) for start, end in spans)


def is_allowed(instant: datetime, window: Window) -> bool:
    """Whether ``instant`` is inside quiet hours for the contact and inside business hours."""
    instant = _utc(instant, "instant")
    for zone in _quiet_zones(window):
        if not _inside(instant.astimezone(_zone(zone)).time(), [(window.quiet_start, window.quiet_end)]):
            return False
    if window.business_hours is None:
        return True
    local = instant.astimezone(_zone(window.campaign_tz))
    if local.date() in window.holidays:
        return False
    return _inside(local.time(), window.business_hours.get(DAYS[local.weekday()], []))


# Intervals below are naive UTC datetimes (aware arithmetic across zones is where DST bugs hide).
Interval = tuple[datetime, datetime]


def _offset(zone: ZoneInfo, t: datetime) -> timedelta:
    return t.replace(tzinfo=UTC).astimezone(zone).utcoffset()  # type: ignore[return-value]


def _segments(zone: ZoneInfo, lo: datetime, hi: datetime) -> list[tuple[datetime, datetime, timedelta]]:
    """Split [lo, hi) into runs of constant UTC offset: (start, end, offset)."""
    out: list[tuple[datetime, datetime, timedelta]] = []
    start, off = lo, _offset(zone, lo)
    probe = lo.replace(microsecond=0)  # whole seconds, so bisection lands on the transition exactly
    while probe < hi:
        nxt = min(probe + _SAMPLE, hi)
        if _offset(zone, nxt) != off:
            # Bisect on whole seconds: tzdata transitions fall on whole seconds.
            a, b = probe, nxt
            while b - a > timedelta(seconds=1):
                mid = a + timedelta(seconds=(b - a).total_seconds() // 2)
                a, b = (mid, b) if _offset(zone, mid) == off else (a, mid)
            out.append((start, b, off))
            start, off = b, _offset(zone, b)
        probe = nxt
    out.append((start, hi, off))
    return out


def _local_spans(zone: ZoneInfo, lo: datetime, hi: datetime, spans_for: dict[str, list[Span]],
                 closed: frozenset[date] = frozenset()) -> list[Interval]:
    """UTC intervals within [lo, hi) whose local wall time falls in that weekday's spans, on
    days not in ``closed``."""
    found: list[Interval] = []
    for a, b, off in _segments(zone, lo, hi):
        # Within a segment wall = utc + off exactly, so a wall-clock span maps to one UTC span;
        # gap times belong to no segment and repeated times to two, which is the rule we want.
        day: date = (a + off).date()
        while datetime.combine(day, time(0)) < b + off:
            for start, end in [] if day in closed else spans_for.get(DAYS[day.weekday()], []):
                ws = datetime.combine(day, start)
                we = datetime.combine(day + timedelta(days=1) if end == time(0) else day, end)
                s, e = max(a, ws - off), min(b, we - off)
                if s < e:
                    found.append((s, e))
            day += timedelta(days=1)
    return _merge(found)


def _merge(intervals: list[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for s, e in sorted(intervals):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def _quiet_zones(window: Window) -> list[str]:
    return list(dict.fromkeys([window.contact_tz or window.campaign_tz, *window.also_zones]))


def _intersect(xs: list[Interval], ys: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    i = j = 0
    while i < len(xs) and j < len(ys):
        s, e = max(xs[i][0], ys[j][0]), min(xs[i][1], ys[j][1])
        if s < e:
            out.append((s, e))
        if xs[i][1] <= ys[j][1]:
            i += 1
        else:
            j += 1
    return out


def _first_overlap(xs: list[Interval], ys: list[Interval]) -> datetime | None:
    i = j = 0
    while i < len(xs) and j < len(ys):
        s, e = max(xs[i][0], ys[j][0]), min(xs[i][1], ys[j][1])
        if s < e:
            return s
        if xs[i][1] <= ys[j][1]:
            i += 1
        else:
            j += 1
    return None


def next_allowed(earliest: datetime, window: Window, *, not_after: datetime | None = None,
                 horizon_days: int = 14) -> datetime | None:
    """First instant >= ``earliest`` that :func:`is_allowed`, exact to the window's opening.

    None when there is none before ``not_after`` (exclusive: nothing at or after the campaign's
    end) or within ``horizon_days`` of ``earliest``.
    """
    lo = _utc(earliest, "earliest").replace(tzinfo=None)
    hi = lo + timedelta(days=horizon_days)
    if not_after is not None:
        hi = min(hi, _utc(not_after, "not_after").replace(tzinfo=None))
    if lo >= hi:
        return None
    every_day = dict.fromkeys(DAYS, [(window.quiet_start, window.quiet_end)])
    zones = _quiet_zones(window)
    quiet = _local_spans(_zone(zones[0]), lo, hi, every_day)
    for zone in zones[1:]:
        quiet = _intersect(quiet, _local_spans(_zone(zone), lo, hi, every_day))
    if window.business_hours is None:
        business = [(lo, hi)]
    else:
        business = _local_spans(_zone(window.campaign_tz), lo, hi, window.business_hours, window.holidays)
    found = _first_overlap(quiet, business)
    return None if found is None else found.replace(tzinfo=UTC)


def hours_status(now: datetime, window: Window) -> tuple[bool, datetime | None]:
    """Whether the window's business hours (holidays closed, quiet hours aside) are open at
    ``now``, and the next instant that flips (UTC), or None when it does not within about a year.

    Windows that touch (a day ending at 24:00 and the next starting at 00:00) are one opening,
    so midnight is no change; a DST transition inside a window is none either.
    """
    if window.business_hours is None:
        return True, None
    lo = _utc(now, "now").replace(tzinfo=None)
    zone = _zone(window.campaign_tz)
    open_now = False
    # A week answers almost every schedule; the year is for ones closed or open for long stretches.
    for days in (8, 400):
        hi = lo + timedelta(days=days)
        spans = _local_spans(zone, lo, hi, window.business_hours, window.holidays)
        open_now = bool(spans) and spans[0][0] <= lo
        if open_now and spans[0][1] < hi:
            return True, spans[0][1].replace(tzinfo=UTC)
        if not open_now and spans:
            return False, spans[0][0].replace(tzinfo=UTC)
    return open_now, None


def earliest_attempt(now: datetime, *, start_at: datetime | None, last_attempt_at: datetime | None,
                     retry_interval_s: int) -> datetime:
    """The earliest instant an attempt may go out, hours aside: max(now, start_at, last + retry)."""
    candidates = [_utc(now, "now")]
    if start_at is not None:
        candidates.append(_utc(start_at, "start_at"))
    if last_attempt_at is not None:
        candidates.append(_utc(last_attempt_at, "last_attempt_at") + timedelta(seconds=retry_interval_s))
    return max(candidates)


def timing_reason(earliest: datetime, chosen: datetime | None, window: Window, *, end_at: datetime | None) -> str:
    """Why the attempt goes out when it does.

    'scheduled' when ``chosen == earliest`` (start date and retry interval are already in
    ``earliest``); 'outside_working_hours' when the hours pushed it later, or when ``chosen`` is
    None because the hours never open within the horizon (no end date to blame, e.g. a Tokyo
    contact on New York business hours); 'campaign_ended' when None because of ``end_at``.
    """
    earliest = _utc(earliest, "earliest")
    if chosen is not None:
        chosen = _utc(chosen, "chosen")
        if chosen < earliest:
            raise ValueError(f"chosen {chosen.isoformat()} is before earliest {earliest.isoformat()}")
        return "scheduled" if chosen == earliest else "outside_working_hours"
    if end_at is None:
        return "outside_working_hours"
    # The end date is to blame if it has passed, or if the hours would open were it not there.
    if _utc(end_at, "end_at") <= earliest or next_allowed(earliest, window) is not None:
        return "campaign_ended"
    return "outside_working_hours"


def contact_window(campaign: Campaign, contact: Contact) -> Window:
    """The hours a campaign may reach this contact in: its schedule, and quiet hours in the
    contact's zone (or every zone their number's area code covers, when they have none), ending
    at 20:00 where the contact's state has the stricter rule (``agent.compliance``)."""
    window = Window.for_campaign(contact_tz=contact.timezone, campaign_timezone=campaign.timezone,
                                 schedule=campaign.hours)
    zones = () if contact.timezone else compliance.number_zones(contact.phone)
    strict = compliance.strict_state(contact) is not None
    if not zones and not strict:
        return window
    return replace(window, contact_tz=zones[0] if zones else window.contact_tz, also_zones=tuple(zones[1:]),
                   quiet_end=compliance.STRICT_QUIET_END if strict else window.quiet_end)
