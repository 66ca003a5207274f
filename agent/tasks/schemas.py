"""What the task list answers and what completing a task takes."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from agent.states import TaskStatus


class TaskContact(BaseModel):
    id: str
    name: str
    email: str | None
    phone: str | None


class TaskCampaign(BaseModel):
    id: str
    name: str


class TaskOut(BaseModel):
    id: str
    status: TaskStatus
    title: str
    body: str
    contact: TaskContact
    campaign: TaskCampaign
    enrollment_id: str | None
    outreach_id: str | None
    outcome: str | None = Field(description="What came of it, as the person who completed it wrote")
    note: str | None
    completed_by: str | None = Field(description="The API key that completed it")
    completed_at: dt.datetime | None
    created_at: dt.datetime


class TaskPage(BaseModel):
    items: list[TaskOut]
    next_cursor: str | None


class TaskComplete(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: str = Field(min_length=1, max_length=200)
    note: str | None = Field(None, max_length=4000)


class NewTask(BaseModel):
    """A task for one contact of a campaign, as the channel adapter asks for it."""

    idempotency_key: str = Field(min_length=1, max_length=80)
    campaign_id: str
    contact_id: str
    enrollment_id: str | None = None
    outreach_id: str | None = None
    title: str
    body: str
