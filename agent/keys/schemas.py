"""Pydantic shapes of an API key at the edge: the secret appears only in the answer to its creation."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from agent.states import Role


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"role": "approver", "name": "Dana"}]})
    role: Role = Field(description="admin (everything), approver (review and send) or viewer (read only)")
    name: str = Field("", max_length=200, description="Who or what holds the key; shown as the actor in review "
                      "and the activity log instead of the key's id")


class KeyOut(BaseModel):
    id: str
    role: Role
    name: str
    prefix: str = Field(description="The key's first characters, to recognise it; the key itself is never shown again")
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None = Field(description="Set once revoked; a revoked key answers 401 at once")


class KeyCreated(BaseModel):
    id: str
    key: str = Field(description="The secret, shown this once: send it as 'Authorization: Bearer <key>'")
    role: Role
    name: str


class KeyPage(BaseModel):
    items: list[KeyOut]


class WorkspaceOut(BaseModel):
    id: str
    name: str
    default_region: str
    created_at: dt.datetime
    keys: int = Field(description="Live (unrevoked) keys")
