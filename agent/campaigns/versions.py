"""Settings versions: every edit of a live campaign is numbered, with who, when and what changed.

Seed 000: an edit of an active campaign "applies only to future interactions". The campaign keeps
its current ``settings_version`` (1 as it went live); each edit that changes something while the
campaign is ``active`` or ``paused`` bumps it and writes a ``campaign_versions`` row with every
changed field's old and new value. The planner stamps each outreach with the version it was
planned under, so an outreach already planned or sent keeps the number of the settings it used.
A draft campaign is edited freely: nothing of it has run yet, so it writes no versions.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.campaigns.schemas import CampaignSettings
from agent.ids import new_id
from agent.models import Campaign, CampaignVersion
from agent.pagination import keyset, page
from agent.states import CampaignStatus

# Statuses in which an edit is a new version (the campaign is running or may run again).
VERSIONED = frozenset({CampaignStatus.active, CampaignStatus.paused})
# What an edit may change once live (channels and type are locked then), in the order listed.
# ``schedule`` is the hours in force (a linked schedule's, else the inline ones), so an edit of a
# shared schedule is a version of every live campaign following it; ``schedule_id`` says which.
FIELDS = ("name", "execution_mode", "manual_review", "brief", "ai_variables", "start_at", "end_at", "timezone",
          "schedule", "schedule_id", "settings", "notes", "add_inbound_contacts", "inbound_rules", "inbound_prompt")


class Change(BaseModel):
    field: str = Field(description="The field changed; a setting is named `settings.<key>`",
                       examples=["settings.retry_interval"])
    old: Any = Field(description="Its value before the edit (null when unset)")
    new: Any = Field(description="Its value after the edit (null when cleared)")


class CampaignVersionOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "number": 2, "actor": "key_01HZX3", "created_at": "2026-03-02T15:00:00Z",
        "changes": [{"field": "settings.max_retry_attempts", "old": 2, "new": 4}]}]})

    number: int = Field(description="The campaign's settings_version this edit made (the first edit makes 2)")
    actor: str = Field(description="Who edited: the API key's id, or the web session's")
    created_at: dt.datetime
    changes: list[Change]


class CampaignVersionPage(BaseModel):
    items: list[CampaignVersionOut]
    next_cursor: str | None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC).isoformat()
    if hasattr(value, "value"):  # a StrEnum
        return value.value
    return value


def snapshot(campaign: Campaign) -> dict[str, Any]:
    """The campaign's editable fields as JSON values, settings one entry per key."""
    values: dict[str, Any] = {}
    for name in FIELDS:
        value = getattr(campaign, name)
        if name == "schedule":
            values[name] = campaign.hours
        elif name == "settings":
            # Through the model, so a key an older row lacks reads as its default, not as a change.
            full = CampaignSettings.model_validate(value or {}).model_dump(mode="json")
            values.update({f"settings.{k}": v for k, v in full.items()})
        else:
            values[name] = _jsonable(value)
    return values


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"field": k, "old": before.get(k), "new": after.get(k)}
            for k in dict.fromkeys([*before, *after]) if before.get(k) != after.get(k)]


def record(session: AsyncSession, campaign: Campaign, before: dict[str, Any] | None, actor: str) -> int | None:
    """After an edit: a new version when the campaign is live and something changed; its number.

    ``before`` is the :func:`snapshot` taken before the edit (None for a draft). The caller holds
    the campaign's row lock (``for_update``), so the number cannot be taken twice; the unique
    (campaign_id, number) would refuse it anyway."""
    if before is None:
        return None
    changes = diff(before, snapshot(campaign))
    if not changes:
        return None
    campaign.settings_version = (campaign.settings_version or 1) + 1
    session.add(CampaignVersion(id=new_id("cver"), campaign_id=campaign.id, number=campaign.settings_version,
                                actor=actor, changes=changes))
    return campaign.settings_version


def before_edit(campaign: Campaign) -> dict[str, Any] | None:
    """The snapshot :func:`record` compares with, or None when the edit writes no version."""
    return snapshot(campaign) if CampaignStatus(campaign.status) in VERSIONED else None


async def list_versions(session: AsyncSession, campaign: Campaign, *, cursor: str | None,
                        limit: int) -> CampaignVersionPage:
    """Newest first."""
    stmt = keyset(select(CampaignVersion).where(CampaignVersion.campaign_id == campaign.id),
                  sort_col=CampaignVersion.number, id_col=CampaignVersion.id, cursor=cursor, descending=True,
                  limit=limit, parse=int)
    rows = list((await session.execute(stmt)).scalars())
    kept, next_cursor = page(rows, limit, lambda v: (str(v.number), v.id))
    return CampaignVersionPage(items=[CampaignVersionOut(number=v.number, actor=v.actor, created_at=v.created_at,
                                                         changes=[Change(**c) for c in v.changes]) for v in kept],
                               next_cursor=next_cursor)
