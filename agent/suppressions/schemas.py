"""Pydantic shapes of a suppression at the edge: what an operator adds, and what the list answers."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class SuppressionChannel(StrEnum):
    """Where a suppression applies: every channel, or one kind (a STOP by text need not silence email)."""

    all = "all"
    email = "email"
    sms = "sms"
    voice = "voice"


class SuppressionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone: str | None = Field(None, max_length=40, description="Any format; stored in E.164 (the workspace's region "
                              "for numbers without a country code)")
    email: str | None = Field(None, max_length=320, description="Matched case-insensitively")
    channel: SuppressionChannel = SuppressionChannel.all
    reason: str = Field("manual", min_length=1, max_length=40, description="e.g. opted_out, do_not_call, bounced")
    source: str = Field("api", max_length=200, description="Where the entry came from (a system, a file, a person)")


class SuppressionOut(BaseModel):
    id: str
    phone: str | None
    email: str | None = Field(description="The case-folded address the list matches on")
    channel: SuppressionChannel
    reason: str
    source: str
    created_at: dt.datetime


class SuppressionPage(BaseModel):
    items: list[SuppressionOut]
    next_cursor: str | None
