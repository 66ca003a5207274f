"""What the planner asks the model for: one draft outreach, typed."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class OutreachDraft(BaseModel):
    """The model's draft of the next touch. ``subject`` is for email; the body is the message,
    the voice call's brief, or the manual task's instructions."""

    model_config = ConfigDict(title="OutreachDraft", extra="ignore")
    subject: str | None = Field(None, description="Email subject line; null for other channels")
    body: str = Field(description="The message text (plain text), call brief or task instructions")
    rationale: str = Field(description="One paragraph for the reviewer: why this message, channel and time")
