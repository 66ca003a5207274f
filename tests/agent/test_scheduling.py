"""Timing rules: nothing is ever scheduled outside the contact's quiet hours or business hours."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from agent.scheduling import Window, earliest_attempt, is_allowed, next_allowed, timing_reason

NY = ZoneInfo("America/New_York")
US_ZONES = ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"]
WEEKDAYS_9_17 = {"business_hours": {d: [{"start": "09:00", "end": "17:00"}]
                                    for d in ("mon", "tue", "wed", "thu", "fri")}}
ALL_DAY = (time(0), time(0))  # 00:00-24:00


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def us_window(contact_tz: str | None) -> Window:
    return Window.for_campaign(contact_tz=contact_tz, campaign_timezone="America/New_York", schedule=WEEKDAYS_9_17)


def sunday_only(spans: list[tuple[time, time]]) -> Window:
    """New York Sunday hours with quiet hours opened to the whole day, to reach DST-hour edges."""
    return Window(contact_tz=None, campaign_tz="America/New_York", business_hours={"sun": spans},
                  quiet_start=time(0), quiet_end=time(0))


# --- the four US zones --------------------------------------------------------------------------

@pytest.mark.parametrize("zone", US_ZONES)
def test_every_result_is_inside_contact_quiet_hours_and_business_hours(zone):
    window, tz = us_window(zone), ZoneInfo(zone)
    start = ny(2025, 3, 1, 0, 0)  # spans the spring-forward weekend
    for step in range(0, 14 * 24 * 60, 37):
        earliest = start + timedelta(minutes=step)
        got = next_allowed(earliest, window)
        assert got is not None and got >= earliest and got.tzinfo is UTC
        local, office = got.astimezone(tz), got.astimezone(NY)
        assert time(8) <= local.time() < time(21), (earliest, local)
        assert office.weekday() < 5 and time(9) <= office.time() < time(17), (earliest, office)


@pytest.mark.parametrize("zone", US_ZONES)
def test_friday_1659_new_york_goes_out_the_same_minute(zone):
    earliest = ny(2025, 6, 13, 16, 59)
    assert next_allowed(earliest, us_window(zone)) == earliest
    assert timing_reason(earliest, earliest, us_window(zone), end_at=None) == "scheduled"


@pytest.mark.parametrize(("zone", "ny_hour"), [
    ("America/New_York", 9), ("America/Chicago", 9), ("America/Denver", 10), ("America/Los_Angeles", 11)])
def test_friday_1700_waits_for_monday_and_the_contacts_0800(zone, ny_hour):
    earliest = ny(2025, 6, 13, 17, 0)
    got = next_allowed(earliest, us_window(zone))
    assert got == ny(2025, 6, 16, ny_hour, 0)
    assert timing_reason(earliest, got, us_window(zone), end_at=None) == "outside_working_hours"


def test_los_angeles_contact_at_0900_new_york_waits_until_1100_new_york():
    window = us_window("America/Los_Angeles")
    assert not is_allowed(ny(2025, 6, 10, 9, 0), window)
    assert not is_allowed(ny(2025, 6, 10, 10, 59), window)
    assert next_allowed(ny(2025, 6, 10, 9, 0), window) == ny(2025, 6, 10, 11, 0)


def test_edges_are_half_open():
    window = us_window("America/Los_Angeles")
    assert is_allowed(ny(2025, 6, 10, 16, 59, 59), window)
    assert not is_allowed(ny(2025, 6, 10, 17, 0), window)
    la = ZoneInfo("America/Los_Angeles")
    quiet_only = Window(contact_tz="America/Los_Angeles", campaign_tz="America/New_York", business_hours=None)
    assert is_allowed(datetime(2025, 6, 10, 8, 0, tzinfo=la), quiet_only)
    assert not is_allowed(datetime(2025, 6, 10, 7, 59, 59, 999999, tzinfo=la), quiet_only)
    assert is_allowed(datetime(2025, 6, 10, 20, 59, tzinfo=la), quiet_only)
    assert not is_allowed(datetime(2025, 6, 10, 21, 0, tzinfo=la), quiet_only)


# --- earliest: now, start date, retry interval, end date ----------------------------------------

def test_retry_interval_pushes_earliest():
    now, last = ny(2025, 6, 10, 10, 0), ny(2025, 6, 9, 15, 0)
    earliest = earliest_attempt(now, start_at=None, last_attempt_at=last, retry_interval_s=86400)
    assert earliest == ny(2025, 6, 10, 15, 0) and earliest.tzinfo is UTC
    window = us_window("America/New_York")
    assert next_allowed(earliest, window) == earliest
    assert timing_reason(earliest, earliest, window, end_at=None) == "scheduled"
    # A retry that lands after hours rolls to the next opening.
    late = earliest_attempt(ny(2025, 6, 9, 16, 45), start_at=None, last_attempt_at=ny(2025, 6, 9, 16, 0),
                            retry_interval_s=7200)
    assert late == ny(2025, 6, 9, 18, 0)
    assert next_allowed(late, window) == ny(2025, 6, 10, 9, 0)
    assert timing_reason(late, ny(2025, 6, 10, 9, 0), window, end_at=None) == "outside_working_hours"
    assert earliest_attempt(now, start_at=None, last_attempt_at=ny(2025, 6, 1), retry_interval_s=60) == now


def test_start_at_in_the_future():
    now, start = ny(2025, 6, 10, 10, 0), ny(2025, 6, 12, 13, 30)
    earliest = earliest_attempt(now, start_at=start, last_attempt_at=None, retry_interval_s=86400)
    assert earliest == start
    assert next_allowed(earliest, us_window("America/Chicago")) == start
    assert earliest_attempt(now, start_at=ny(2025, 1, 1), last_attempt_at=None, retry_interval_s=0) == now


def test_end_at_before_any_slot_is_none_and_campaign_ended():
    window, earliest = us_window("America/New_York"), ny(2025, 6, 13, 17, 0)
    end_at = ny(2025, 6, 16, 9, 0)  # exclusive: nothing at or after the end
    assert next_allowed(earliest, window, not_after=end_at) is None
    assert timing_reason(earliest, None, window, end_at=end_at) == "campaign_ended"
    assert next_allowed(earliest, window, not_after=end_at + timedelta(minutes=1)) == end_at
    assert next_allowed(earliest, window, not_after=earliest - timedelta(days=1)) is None
    assert timing_reason(earliest, None, window, end_at=earliest - timedelta(days=1)) == "campaign_ended"


def test_horizon_limits_the_search():
    earliest = ny(2025, 6, 13, 17, 0)
    assert next_allowed(earliest, us_window("America/New_York"), horizon_days=2) is None
    assert next_allowed(earliest, us_window("America/New_York"), horizon_days=3) == ny(2025, 6, 16, 9, 0)


# --- DST in America/New_York (2025: spring forward Mar 9, fall back Nov 2) ----------------------

def test_spring_forward_weekend_keeps_windows_exact():
    window = us_window("America/Los_Angeles")
    assert next_allowed(ny(2025, 3, 7, 17, 0), window) == utc(2025, 3, 10, 15, 0)  # 11:00 EDT
    assert next_allowed(ny(2025, 3, 7, 17, 0), us_window(None)) == utc(2025, 3, 10, 13, 0)
    # Quiet hours only: Sunday 08:00 EDT, the first morning after the jump.
    assert next_allowed(ny(2025, 3, 8, 21, 0), Window(None, "America/New_York", None)) == utc(2025, 3, 9, 12, 0)


def test_spring_forward_nonexistent_local_times_are_never_open():
    # 02:00-03:00 does not exist on 2025-03-09; 02:30-03:30 opens when the clock shows 03:00 EDT.
    assert next_allowed(ny(2025, 3, 9, 0, 0), sunday_only([(time(2, 30), time(3, 30))])) == utc(2025, 3, 9, 7, 0)
    gap_only = sunday_only([(time(2, 0), time(2, 30))])
    assert next_allowed(ny(2025, 3, 9, 0, 0), gap_only) == utc(2025, 3, 16, 6, 0)  # next Sunday, 02:00 EDT
    window = sunday_only([(time(1, 0), time(2, 30))])  # ends inside the gap: closes at the jump
    assert next_allowed(ny(2025, 3, 9, 0, 0), window) == utc(2025, 3, 9, 6, 0)
    assert is_allowed(utc(2025, 3, 9, 6, 59, 59), window) and not is_allowed(utc(2025, 3, 9, 7, 0), window)


def test_fall_back_repeated_hour_is_open_both_times():
    window = sunday_only([(time(1, 0), time(1, 30))])  # 01:00-01:30 happens in EDT, then in EST
    first, second = ny(2025, 11, 2, 1, 0), ny(2025, 11, 2, 1, 0).replace(fold=1)
    assert (first.astimezone(UTC), second.astimezone(UTC)) == (utc(2025, 11, 2, 5, 0), utc(2025, 11, 2, 6, 0))
    assert next_allowed(ny(2025, 11, 2, 0, 0), window) == utc(2025, 11, 2, 5, 0)
    assert next_allowed(utc(2025, 11, 2, 5, 30), window) == utc(2025, 11, 2, 6, 0)
    assert is_allowed(ny(2025, 11, 2, 1, 15).replace(fold=1), window)
    assert not is_allowed(ny(2025, 11, 2, 1, 45).replace(fold=1), window)
    assert next_allowed(utc(2025, 11, 2, 6, 30), window) == utc(2025, 11, 9, 6, 0)


def test_fall_back_weekend_keeps_windows_exact():
    assert next_allowed(ny(2025, 10, 31, 17, 0), us_window("America/Denver")) == utc(2025, 11, 3, 15, 0)
    assert next_allowed(ny(2025, 11, 1, 21, 0), Window(None, "America/New_York", None)) == utc(2025, 11, 2, 13, 0)


# --- shapes of hours ----------------------------------------------------------------------------

def test_no_business_hours_means_quiet_hours_only():
    window = Window.for_campaign(contact_tz="America/Denver", campaign_timezone="America/New_York", schedule=None)
    assert window.business_hours is None
    sunday = datetime(2025, 6, 15, 20, 59, tzinfo=ZoneInfo("America/Denver"))
    assert next_allowed(sunday, window) == sunday
    monday = datetime(2025, 6, 16, 8, 0, tzinfo=ZoneInfo("America/Denver"))
    assert next_allowed(sunday + timedelta(minutes=1), window) == monday


def test_contact_without_zone_uses_the_campaign_zone():
    window = Window.for_campaign(contact_tz=None, campaign_timezone="America/Chicago", schedule=None)
    chicago = ZoneInfo("America/Chicago")
    opening = datetime(2025, 6, 10, 8, 0, tzinfo=chicago)
    assert next_allowed(datetime(2025, 6, 10, 7, 0, tzinfo=chicago), window) == opening
    assert Window.for_campaign(contact_tz="", campaign_timezone="UTC", schedule=None).contact_tz is None


def test_schedule_timezone_wins_for_business_hours_and_quiet_fallback():
    window = Window.for_campaign(contact_tz=None, campaign_timezone="UTC",
                                 schedule={"timezone": "America/New_York", **WEEKDAYS_9_17})
    assert window.campaign_tz == "America/New_York"
    assert next_allowed(ny(2025, 6, 10, 6, 0), window) == ny(2025, 6, 10, 9, 0)
    assert next_allowed(ny(2025, 6, 10, 16, 30), window) == ny(2025, 6, 10, 16, 30)


def test_contact_far_from_campaign_never_overlaps():
    window = us_window("Asia/Tokyo")  # NY 09-17 is 22:00-07:00 in Tokyo
    earliest = ny(2025, 6, 10, 9, 0)
    assert next_allowed(earliest, window) is None
    assert timing_reason(earliest, None, window, end_at=None) == "outside_working_hours"
    assert timing_reason(earliest, None, window, end_at=ny(2025, 12, 1)) == "outside_working_hours"


def test_empty_business_hours_never_open():
    window = Window.for_campaign(contact_tz=None, campaign_timezone="UTC", schedule={"business_hours": {}})
    assert window.business_hours == {}
    assert next_allowed(utc(2025, 6, 10, 12, 0), window) is None


def test_24_00_end_and_windows_crossing_utc_midnight():
    # Saturday 20:00-24:00 UTC is Sunday 05:00-09:00 in Tokyo: only 23:00-24:00 UTC is in quiet hours.
    window = Window.for_campaign(contact_tz="Asia/Tokyo", campaign_timezone="UTC",
                                 schedule={"business_hours": {"sat": [{"start": "20:00", "end": "24:00"}]}})
    assert window.business_hours == {"sat": [(time(20), time(0))]}
    assert next_allowed(utc(2025, 6, 14, 12, 0), window) == utc(2025, 6, 14, 23, 0)
    assert is_allowed(utc(2025, 6, 14, 23, 59, 59), window) and not is_allowed(utc(2025, 6, 15, 0, 0), window)
    # Los Angeles 16:00-20:00 is 23:00-03:00 UTC in summer.
    la = Window.for_campaign(contact_tz=None, campaign_timezone="America/Los_Angeles",
                             schedule={"business_hours": {"mon": [{"start": "16:00", "end": "20:00"}]}})
    assert next_allowed(utc(2025, 6, 16, 20, 0), la) == utc(2025, 6, 16, 23, 0)
    assert next_allowed(utc(2025, 6, 17, 2, 59), la) == utc(2025, 6, 17, 2, 59)
    assert next_allowed(utc(2025, 6, 17, 3, 0), la) == utc(2025, 6, 23, 23, 0)


def test_overlapping_and_adjacent_spans_merge():
    window = sunday_only([(time(9), time(12)), (time(11), time(14)), (time(14), time(15))])
    assert next_allowed(ny(2025, 6, 15, 13, 0), window) == ny(2025, 6, 15, 13, 0)
    assert next_allowed(ny(2025, 6, 15, 15, 0), window) == ny(2025, 6, 22, 9, 0)


# --- errors and reasons -------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    {"contact_tz": "Mars/Olympus_Mons", "campaign_timezone": "UTC", "schedule": None},
    {"contact_tz": None, "campaign_timezone": "Mars/Olympus_Mons", "schedule": None},
    {"contact_tz": None, "campaign_timezone": "UTC", "schedule": {"timezone": "Mars/Olympus_Mons"}},
])
def test_invalid_zone_names_raise_value_error_naming_them(kwargs):
    with pytest.raises(ValueError, match="Mars/Olympus_Mons"):
        Window.for_campaign(**kwargs)


def test_bad_windows_and_naive_datetimes_are_rejected():
    with pytest.raises(ValueError, match="weekday"):
        Window(None, "UTC", {"monday": [(time(9), time(17))]})
    with pytest.raises(ValueError, match="before"):
        Window(None, "UTC", {"mon": [(time(17), time(9))]})
    with pytest.raises(ValueError, match="aware"):
        next_allowed(datetime(2025, 6, 10, 9, 0), us_window(None))
    with pytest.raises(ValueError, match="aware"):
        is_allowed(datetime(2025, 6, 10, 9, 0), us_window(None))
    with pytest.raises(ValueError, match="aware"):
        earliest_attempt(utc(2025, 6, 10), start_at=datetime(2025, 6, 11), last_attempt_at=None, retry_interval_s=0)
    with pytest.raises(ValueError, match="before earliest"):
        timing_reason(utc(2025, 6, 10), utc(2025, 6, 9), us_window(None), end_at=None)


def test_timing_reason_compares_instants_not_zones():
    earliest = ny(2025, 6, 10, 10, 0)
    assert timing_reason(earliest, earliest.astimezone(UTC), us_window(None), end_at=None) == "scheduled"


# --- property: first allowed instant, checked minute by minute ----------------------------------

WORLD = ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Phoenix",
         "Pacific/Honolulu", "America/Sao_Paulo", "America/Santiago", "Europe/London", "Europe/Berlin",
         "Asia/Kolkata", "Asia/Kathmandu", "Asia/Tokyo", "Australia/Sydney", "Australia/Lord_Howe",
         "Pacific/Chatham", "UTC"]
# Days around DST transitions in several of those zones, so they come up often.
DST_DAYS = [utc(2025, 3, 9), utc(2025, 3, 30), utc(2025, 4, 6), utc(2025, 9, 7), utc(2025, 9, 28),
            utc(2025, 10, 26), utc(2025, 11, 2), utc(2024, 3, 10), utc(2024, 11, 3)]
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _random_hhmm(rng: random.Random, low: int, high: int) -> int:
    return rng.choice([rng.randrange(low, high), rng.randrange(low, high) // 30 * 30])


def _random_window(rng: random.Random) -> Window:
    schedule: dict | None = None
    if rng.random() < 0.85:
        hours: dict[str, list[dict[str, str]]] = {}
        for day in rng.sample(DAY_NAMES, rng.randint(0, 7)):
            start = _random_hhmm(rng, 0, 23 * 60)
            end = rng.choice([24 * 60, start + 1 + _random_hhmm(rng, 0, 24 * 60 - start - 1)])
            hours[day] = [{"start": f"{start // 60:02d}:{start % 60:02d}", "end": f"{end // 60:02d}:{end % 60:02d}"}]
        schedule = {"business_hours": hours}
        if rng.random() < 0.3:
            schedule["timezone"] = rng.choice(WORLD)
    window = Window.for_campaign(contact_tz=rng.choice([*WORLD, None]), campaign_timezone=rng.choice(WORLD),
                                 schedule=schedule)
    if rng.random() < 0.25:  # widen quiet hours sometimes so the small-hours DST edges are reached
        start = time(rng.randrange(0, 4), rng.choice([0, 30]))
        window = Window(window.contact_tz, window.campaign_tz, window.business_hours, start,
                        rng.choice([time(0), time(rng.randrange(start.hour + 1, 24))]))
    return window


def _no_allowed_minute(earliest: datetime, end: datetime, window: Window) -> bool:
    """True if no minute in [earliest, end) is allowed; dense at both ends, strided in between."""
    first = earliest.replace(second=0, microsecond=0) + timedelta(minutes=1)
    total = int((end - first).total_seconds() // 60)
    dense = 2 * 24 * 60
    steps = range(total) if total <= 2 * dense else [
        *range(dense), *range(dense, total - dense, 7), *range(total - dense, total)]
    candidates = [earliest] + [first + timedelta(minutes=k) for k in steps]
    return not any(is_allowed(c, window) for c in candidates if c < end)


def test_property_first_allowed_instant_in_random_worlds():
    rng = random.Random(20250309)
    seen = {"found": 0, "none": 0, "delayed": 0}
    for _ in range(250):
        window = _random_window(rng)
        base = rng.choice([*DST_DAYS, utc(2024, 1, 1) + timedelta(days=rng.randrange(0, 730))])
        now = base + timedelta(seconds=rng.randrange(-86400, 2 * 86400))
        earliest = earliest_attempt(
            now, start_at=rng.choice([None, now + timedelta(minutes=rng.randrange(-600, 3000))]),
            last_attempt_at=rng.choice([None, now - timedelta(hours=rng.randrange(0, 48))]),
            retry_interval_s=rng.choice([0, 600, 3600, 86400]))
        not_after = rng.choice([None, None, earliest + timedelta(hours=rng.randrange(1, 200))])
        got = next_allowed(earliest, window, not_after=not_after, horizon_days=14)
        limit = min(earliest + timedelta(days=14), not_after or earliest + timedelta(days=14))
        if got is None:
            seen["none"] += 1
            assert _no_allowed_minute(earliest, limit, window), (window, earliest)
            continue
        seen["found"] += 1
        assert got.tzinfo is UTC and earliest <= got < limit, (window, earliest, got)
        assert is_allowed(got, window), (window, earliest, got)
        if got > earliest:  # an exact opening: the instant just before it is closed
            seen["delayed"] += 1
            assert not is_allowed(got - timedelta(microseconds=1), window), (window, earliest, got)
            assert got.second == 0 and got.microsecond == 0, (window, earliest, got)
        assert _no_allowed_minute(earliest, got, window), (window, earliest, got)
    assert min(seen.values()) >= 20, seen  # the generator reaches every kind of outcome


# --- holidays -----------------------------------------------------------------------------------

def test_a_holiday_closes_business_hours_all_day_in_the_schedules_zone():
    # Inline hours carry holidays too; a bare date is a holiday without a name.
    window = Window.for_campaign(contact_tz="America/Los_Angeles", campaign_timezone="America/New_York",
                                 schedule={**WEEKDAYS_9_17, "holidays": ["2026-12-25"]})
    assert not is_allowed(ny(2026, 12, 25, 12), window)
    assert is_allowed(ny(2026, 12, 24, 12), window)
    # Thursday 17:00 in New York closes; Friday is the holiday, so Monday 11:00 (08:00 in Los Angeles).
    assert next_allowed(ny(2026, 12, 24, 17), window) == ny(2026, 12, 28, 11)


def test_hours_status_on_a_schedule_without_business_hours_is_always_open():
    from agent.scheduling import hours_status
    window = Window.for_campaign(contact_tz=None, campaign_timezone="UTC", schedule=None)
    assert hours_status(utc(2026, 12, 24, 3), window) == (True, None)
    always = Window(contact_tz=None, campaign_tz="UTC", business_hours=dict.fromkeys(
        ("mon", "tue", "wed", "thu", "fri", "sat", "sun"), [ALL_DAY]), holidays=frozenset({datetime(2027, 1, 1).date()}))
    assert hours_status(utc(2026, 12, 24, 3), always) == (True, utc(2027, 1, 1))
