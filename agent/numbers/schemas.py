"""Pydantic shapes of a campaign's phone number: create, edit (any subset) and the answer.

``calls_today`` and ``calls_total`` are counted by the sender and never written through the API.
"""

from __future__ import annotations

import datetime as dt

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent.states import CallerNumberStatus


def e164(value: str) -> str:
    """The number in E.164; it must carry its country code (a caller ID has no default region)."""
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"{value!r} is not a valid phone number in E.164 (e.g. +14155552671)")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class PhoneNumberUpdate(BaseModel):
    """Only the fields sent change; none of them takes null but ``provider_number_id`` (null clears it)."""

    model_config = ConfigDict(extra="forbid")
    number: str = Field("", max_length=40)
    friendly_name: str = Field("", max_length=100)
    provider_number_id: str | None = Field(
        None, min_length=1, max_length=200,
        description="The voice provider's id of this number where it places calls by id: Vapi's "
                    "phoneNumberId (required for rotation on a vapi channel); Retell dials by the number")
    status: CallerNumberStatus = CallerNumberStatus.active
    spam_score: float = Field(0, ge=0, le=100)
    weight: int = Field(1, ge=0, le=1_000_000, description="Share of calls under weighted rotation; 0 takes none")

    @field_validator("number")
    @classmethod
    def _e164(cls, value: str) -> str:
        return e164(value)


class PhoneNumberIn(PhoneNumberUpdate):
    number: str = Field(max_length=40, description="E.164, e.g. +14155552671")


class PhoneNumberOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    campaign_id: str
    number: str
    friendly_name: str
    provider_number_id: str | None
    status: CallerNumberStatus
    spam_score: float
    weight: int
    calls_today: int
    calls_total: int
    created_at: dt.datetime


class PhoneNumberList(BaseModel):
    items: list[PhoneNumberOut]
