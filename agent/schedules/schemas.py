"""Pydantic shapes of a reusable schedule at the edge.

The hours' pieces (``TimeWindow``, ``Holiday``, the zone check) are the campaign's inline
``Schedule``'s, so both ways of setting hours accept and store the same shape. A reusable schedule
checks more on input: windows of a day may not overlap, and a holiday's date appears once.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from agent.campaigns.schemas import (Holiday, HoursStatus, TimeWindow, Weekday, holidays_in, check_timezone,
                                     default_business_hours)
from agent.validation import SafeStr


def _no_overlaps(windows: list[TimeWindow]) -> list[TimeWindow]:
    # "24:00" sorts after every other time, so plain string order is time order here.
    ordered = sorted(windows, key=lambda w: w.start)
    for before, after in zip(ordered, ordered[1:], strict=False):
        if after.start < before.end:
            raise ValueError(f"windows {before.start}-{before.end} and {after.start}-{after.end} overlap")
    return windows


def _distinct_dates(holidays: list[Holiday]) -> list[Holiday]:
    seen: set[dt.date] = set()
    for h in holidays:
        if h.date in seen:
            raise ValueError(f"{h.date.isoformat()} is listed twice")
        seen.add(h.date)
    return sorted(holidays, key=lambda h: h.date)


DayWindows = Annotated[list[TimeWindow], Field(max_length=24), AfterValidator(_no_overlaps)]
Holidays = Annotated[list[Holiday], Field(max_length=1000), AfterValidator(_distinct_dates)]
_EXAMPLE = {"name": "New York office", "timezone": "America/New_York",
            "business_hours": {"mon": [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}],
                               "tue": [{"start": "09:00", "end": "17:00"}], "wed": [{"start": "09:00", "end": "17:00"}],
                               "thu": [{"start": "09:00", "end": "17:00"}], "fri": [{"start": "09:00", "end": "15:00"}]},
            "holidays": [{"date": "2026-12-25", "name": "Christmas"}, "2027-01-01"]}


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})
    name: SafeStr = Field(min_length=1, max_length=200, description="Unique in the workspace")
    timezone: str = Field(description="IANA zone the hours and holidays are read in, e.g. America/New_York")
    business_hours: dict[Weekday, DayWindows] = Field(default_factory=default_business_hours, description=(
        "Windows per weekday, HH:MM to HH:MM (end may be 24:00), start before end, not overlapping; a missing "
        "or empty day is closed. Default Monday to Friday 09:00-17:00. A window may not span midnight: end "
        "one at 24:00 and start the next day's at 00:00 (together they read as one opening)."))
    holidays: Holidays = Field(default_factory=list, description=(
        "Days closed all day: ISO dates, or {date, name}; answered in date order"))

    _tz = field_validator("timezone")(check_timezone)
    _days = field_validator("holidays", mode="before")(holidays_in)


class ScheduleUpdate(BaseModel):
    """PATCH: only the fields given change; ``business_hours`` and ``holidays`` are replaced whole."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"holidays": [{"date": "2026-11-26", "name": "Thanksgiving"}, {"date": "2026-12-25", "name": "Christmas"}]},
        {"business_hours": {"sat": [{"start": "10:00", "end": "14:00"}]}, "timezone": "Europe/London"}]})
    name: SafeStr | None = Field(None, min_length=1, max_length=200)
    timezone: str | None = None
    business_hours: dict[Weekday, DayWindows] | None = None
    holidays: Holidays | None = None

    _tz = field_validator("timezone")(lambda v: v if v is None else check_timezone(v))
    _days = field_validator("holidays", mode="before")(holidays_in)


class ScheduleOut(HoursStatus):
    id: str
    name: str
    timezone: str
    business_hours: dict[Weekday, list[TimeWindow]]
    holidays: list[Holiday]
    campaigns: int = Field(description="Campaigns linked to it (any status)")
    created_at: dt.datetime
    updated_at: dt.datetime


class SchedulePage(BaseModel):
    items: list[ScheduleOut]

