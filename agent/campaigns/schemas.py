"""Pydantic shapes of a campaign at the edge: create/update input and the settings' ranges.

Ranges and defaults follow what users of the reference tools expect: retries 0-10 (default 2),
spam threshold 1-9 (default 7), calls per number per day 1-1,000 (default 100), call interval
and ring timeout from fixed choices, durations in minutes, hours or days.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationInfo, field_validator, model_validator

from agent.states import CampaignType, ChannelKind, ExecutionMode
from agent.validation import SafeDatetime, SafeStr, SafeText

CallInterval = Literal["5s", "10s", "20s", "30s", "1min", "2min", "5min", "10min", "20min", "30min"]
RingTimeout = Literal["10s", "15s", "20s", "25s", "30s", "45s", "60s"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
_UNIT_SECONDS = {"minutes": 60, "hours": 3600, "days": 86400}


@functools.cache
def _iana_names() -> frozenset[str]:
    return frozenset(available_timezones())


def check_timezone(value: str) -> str:
    """By the IANA list first: a name that is not on it never reaches ZoneInfo (a 300-character
    one made it open a file whose name was too long, OSError, a 500)."""
    try:
        if value not in _iana_names() and value != "UTC":
            raise ValueError
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as 'America/New_York')") from None
    return value


class Duration(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: int = Field(ge=1, le=10_000)
    unit: Literal["minutes", "hours", "days"]

    @property
    def seconds(self) -> int:
        return self.value * _UNIT_SECONDS[self.unit]


class CampaignSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_retry_attempts: int = Field(2, ge=0, le=10, description="Retries after the first attempt.")
    retry_interval: Duration = Duration(value=1, unit="days")
    call_interval: CallInterval = "30s"
    ring_timeout: RingTimeout = "30s"
    amd_mode: Literal["text", "ml"] = "text"
    contact_completion_timeout: Duration = Field(
        Duration(value=1, unit="hours"),
        description="Wait after a conversation before evaluating it, so the contact can call back.",
    )
    rotation_strategy: Literal["round_robin", "lowest_spam", "least_used_today", "weighted"] = "round_robin"
    spam_threshold: int = Field(7, ge=1, le=9)
    max_calls_per_number_per_day: int = Field(100, ge=1, le=1000)
    approval_sla_hours: int = Field(24, ge=1, le=720, description=(
        "Hours a draft may wait for review; older drafts are flagged in the inbox and counted in the stats."))

    @property
    def max_attempts(self) -> int:
        return 1 + self.max_retry_attempts


class TimeWindow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: str
    end: str

    @model_validator(mode="after")
    def _ordered(self) -> "TimeWindow":
        for v in (self.start, self.end):
            if not _HHMM.match(v):
                raise ValueError(f"{v!r} is not a time like '09:00'")
        if self.start >= self.end:
            # Windows stay within one day; the day's weekday and holiday rules then apply to all of it.
            raise ValueError("start must be before end (a window may not span midnight: split it into "
                             "one ending at 24:00 and one starting at 00:00 the next day)")
        return self


def holidays_in(value: Any) -> Any:
    """Bare dates (text or values) in a holidays list as the {date} objects holidays are."""
    if not isinstance(value, list):
        return value
    return [{"date": h} if isinstance(h, str | dt.date) else h for h in value]


class Holiday(BaseModel):
    """A day closed all day in the schedule's time zone; ``"2026-12-25"`` alone is accepted too."""

    model_config = ConfigDict(extra="forbid")
    date: dt.date = Field(description="ISO date, e.g. 2026-12-25")
    name: SafeStr = Field("", max_length=200)

    @field_validator("date", mode="before")
    @classmethod
    def _iso(cls, v: Any) -> Any:
        # Only YYYY-MM-DD: pydantic would also take a number of seconds since 1970.
        if isinstance(v, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
            raise ValueError(f"{v[:40]!r} is not an ISO date like '2026-12-25'")
        if not isinstance(v, str | dt.date):
            raise ValueError("a holiday's date is an ISO date like '2026-12-25'")
        return v


def default_business_hours() -> dict[str, list[TimeWindow]]:
    return {d: [TimeWindow(start="09:00", end="17:00")] for d in ("mon", "tue", "wed", "thu", "fri")}


class Schedule(BaseModel):
    """Business hours in the campaign's time zone (or the schedule's own)."""

    model_config = ConfigDict(extra="forbid")
    timezone: str | None = None
    business_hours: dict[Weekday, list[TimeWindow]] = Field(default_factory=default_business_hours)
    holidays: list[Holiday] = Field(default_factory=list, max_length=1000,
                                    description="Days closed all day (a date, or {date, name})")

    _tz = field_validator("timezone")(lambda v: v if v is None else check_timezone(v))
    _days = field_validator("holidays", mode="before")(holidays_in)


Provider = Literal["sandbox", "smtp", "twilio", "vapi", "retell", "tasks"]

# What each kind's configuration may hold (API.md "Sending"): its providers and its other fields.
CHANNEL_PROVIDERS: dict[ChannelKind, tuple[str, ...]] = {
    ChannelKind.email: ("sandbox", "smtp"),
    ChannelKind.sms: ("sandbox", "twilio"),
    ChannelKind.voice: ("sandbox", "vapi", "retell"),
    ChannelKind.task: ("sandbox", "tasks"),
}
CHANNEL_FIELDS: dict[ChannelKind, frozenset[str]] = {
    ChannelKind.email: frozenset({"from_address", "from_name", "reply_to", "postal_address"}),
    ChannelKind.sms: frozenset({"from_number", "messaging_service_sid"}),
    ChannelKind.voice: frozenset({"assistant_id", "phone_number_id", "from_number"}),
    ChannelKind.task: frozenset(),
}


class ChannelIn(BaseModel):
    """A channel of the campaign; the fields besides ``kind`` are its configuration, typed per kind.

    One flat model rather than a union tagged by kind, so every error's loc names the field itself
    (``channels.0.assistant_id``), as the request shape has it.
    """

    model_config = ConfigDict(extra="forbid")
    kind: ChannelKind
    provider: Provider = "sandbox"
    # Optional for the sandbox (it reaches nobody); required for smtp, checked below.
    from_address: EmailStr | None = Field(None, validate_default=True)
    from_name: str | None = Field(None, min_length=1, max_length=200)
    reply_to: EmailStr | None = None
    postal_address: str | None = Field(None, min_length=1, max_length=500, validate_default=True)
    assistant_id: str | None = Field(None, min_length=1, max_length=200)
    # Who a text or call comes from: a Twilio number or messaging service, Vapi's phone-number id,
    # Retell's caller number.
    from_number: str | None = Field(None, pattern=r"^\+[1-9][0-9]{6,14}$")
    messaging_service_sid: str | None = Field(None, pattern=r"^MG[0-9a-fA-F]{32}$")
    phone_number_id: str | None = Field(None, min_length=1, max_length=200)

    @field_validator("provider")
    @classmethod
    def _provider_of_kind(cls, v: str, info: ValidationInfo) -> str:
        kind = info.data.get("kind")
        if kind is not None and v not in CHANNEL_PROVIDERS[kind]:
            raise ValueError(f"{kind.value} channels use one of {list(CHANNEL_PROVIDERS[kind])}")
        return v

    @field_validator("from_address", "from_name", "reply_to", "postal_address", "assistant_id", "from_number",
                     "messaging_service_sid", "phone_number_id")
    @classmethod
    def _field_of_kind(cls, v: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if kind is None:
            return v
        if v is not None and info.field_name not in CHANNEL_FIELDS[kind]:
            raise ValueError(f"{kind.value} channels have no {info.field_name}")
        # CAN-SPAM: no email through a real provider without a sender and a postal address.
        if v is None and info.field_name in ("from_address", "postal_address") and info.data.get("provider") == "smtp":
            raise ValueError(f"an smtp email channel needs {info.field_name}")
        return v

    @model_validator(mode="after")
    def _sender_of_provider(self) -> ChannelIn:
        # The provider needs to know who the text or call comes from before anything can be sent.
        if self.provider == "twilio" and not (self.from_number or self.messaging_service_sid):
            raise ValueError("a twilio sms channel needs from_number or messaging_service_sid")
        if self.provider == "vapi" and not self.phone_number_id:
            raise ValueError("a vapi voice channel needs phone_number_id")
        if self.provider == "retell" and not self.from_number:
            raise ValueError("a retell voice channel needs from_number")
        return self

    def config(self) -> dict[str, Any]:
        """What is stored as the channel's ``config``: every field but ``kind``, unset optionals left out."""
        return self.model_dump(mode="json", exclude={"kind"}, exclude_none=True)


class _CampaignFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    execution_mode: ExecutionMode | None = None
    manual_review: bool | None = None
    brief: SafeText | None = Field(None, max_length=20_000)
    start_at: SafeDatetime | None = None
    end_at: SafeDatetime | None = None
    timezone: str | None = None
    schedule: Schedule | None = Field(None, description=(
        "Inline business hours. Setting them unlinks any schedule_id; giving both non-null answers 422 "
        "schedule_conflict."))
    schedule_id: str | None = Field(None, max_length=40, description=(
        "A reusable schedule of the workspace (GET /v1/schedules) whose hours the campaign follows, edits "
        "included; linking it clears the inline schedule, null unlinks it."))
    settings: CampaignSettings | None = None
    ai_variables: dict[SafeStr, SafeText] | None = None
    notes: SafeText | None = Field(None, max_length=20_000)
    add_inbound_contacts: bool | None = None
    inbound_rules: dict[str, Any] | None = None
    inbound_prompt: SafeText | None = Field(None, max_length=20_000)

    _tz = field_validator("timezone")(lambda v: v if v is None else check_timezone(v))

    @field_validator("end_at")
    @classmethod
    def _window(cls, v: dt.datetime | None, info: ValidationInfo) -> dt.datetime | None:
        # A field validator (start_at is validated first), so the error's loc names end_at.
        start = info.data.get("start_at")
        if v is not None and start is not None and v <= start:
            raise ValueError("end_at must be after start_at")
        return v


class CampaignCreate(_CampaignFields):
    name: SafeStr = Field(min_length=1, max_length=200)
    type: CampaignType = CampaignType.one_time
    channels: list[ChannelIn] = Field(default_factory=list, max_length=20)
    execution_mode: ExecutionMode = ExecutionMode.scheduled
    manual_review: bool = True
    brief: SafeText = Field("", max_length=20_000)
    timezone: str = "UTC"


class CampaignUpdate(_CampaignFields):
    name: SafeStr | None = Field(None, min_length=1, max_length=200)
    type: CampaignType | None = None
    channels: list[ChannelIn] | None = Field(None, max_length=20)


class ChannelOut(BaseModel):
    id: str
    kind: ChannelKind
    status: str
    position: int
    config: dict[str, Any]


class HoursStatus(BaseModel):
    open_now: bool = Field(description="Whether the business hours are open at this instant (holidays closed)")
    next_change_at: dt.datetime | None = Field(description=(
        "When open_now next flips (UTC); null when it never does within about a year"))


class EffectiveSchedule(HoursStatus):
    """The business hours a campaign follows, whichever way they were set. The contact's own quiet
    hours (08:00-21:00 in their zone) apply on top and are not part of this."""

    source: Literal["schedule", "campaign", "none"] = Field(description=(
        "schedule: the linked schedule_id; campaign: the inline schedule; none: no business-hours limit"))
    schedule_id: str | None
    name: str | None = Field(description="The linked schedule's name")
    timezone: str = Field(description="The zone the hours are read in")
    business_hours: dict[Weekday, list[TimeWindow]] | None
    holidays: list[Holiday]


class CampaignOut(BaseModel):
    id: str
    name: str
    type: CampaignType
    status: str
    execution_mode: ExecutionMode
    manual_review: bool
    brief: str
    start_at: dt.datetime | None
    end_at: dt.datetime | None
    timezone: str
    schedule: Schedule | None = Field(description="The inline hours, when set (null when a schedule is linked)")
    schedule_id: str | None = Field(description="The linked reusable schedule, when one is")
    effective_schedule: EffectiveSchedule
    settings: CampaignSettings
    ai_variables: dict[str, str]
    notes: str
    add_inbound_contacts: bool
    inbound_rules: dict[str, Any] | None
    inbound_prompt: str
    channels: list[ChannelOut]
    contacts_count: int
    duplicated_from_id: str | None
    went_live_at: dt.datetime | None
    settings_version: int = Field(description=(
        "The settings in force: 1 as the campaign went live, one more for every edit of it while active or "
        "paused (GET /v1/campaigns/{id}/versions lists them); outreaches carry the version they were planned under"))
    created_at: dt.datetime
    updated_at: dt.datetime


BULK_ACTIONS = ("pause", "resume", "archive")


class CampaignBulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"action": "pause", "ids": ["cmp_01HZX3", "cmp_01HZX4"]}]})

    action: Literal["pause", "resume", "archive"]
    ids: list[str] = Field(min_length=1, max_length=200, description="Campaign ids; repeats count once")


class CampaignBulkResult(BaseModel):
    id: str
    ok: bool
    status: str | None = Field(description="The campaign's status after the attempt (null when not found)")
    code: str | None = None
    detail: str | None = None


class CampaignBulkOut(BaseModel):
    done: int = Field(description="How many campaigns moved")
    results: list[CampaignBulkResult]
