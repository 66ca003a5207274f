"""A campaign's analyses: the questions the judge answers about each conversation.

A definition is checked as a whole (type plus its options, scale or data type) on create and
again after a PATCH is applied, so a stored analysis always makes sense for its type.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity
from agent.campaigns import service as campaigns
from agent.db import utcnow
from agent.errors import Conflict
from agent.ids import new_id
from agent.models import Analysis, Campaign
from agent.states import AnalysisType
from evaluators.goals import writable_campaign
from evaluators.repository import owning_campaign_id
from evaluators.schemas import (
    TYPE_FIELDS,
    AnalysisCreate,
    AnalysisDefinition,
    AnalysisUpdate,
)


async def active_analyses(session: AsyncSession, campaign_id: str) -> list[Analysis]:
    """The analyses the judge asks: switched on and not archived, in the order they were made."""
    q = (select(Analysis).where(Analysis.campaign_id == campaign_id, Analysis.archived_at.is_(None),
                                Analysis.active.is_(True))
         .order_by(Analysis.created_at, Analysis.id))
    return list((await session.execute(q)).scalars())


async def list_analyses(session: AsyncSession, workspace_id: str, campaign_id: str, *,
                        archived: bool) -> list[Analysis]:
    """Archived ones, or the others (switched off ones included, so they can be switched back on)."""
    await campaigns.get(session, workspace_id, campaign_id)
    archived_at = Analysis.archived_at.is_not(None) if archived else Analysis.archived_at.is_(None)
    q = select(Analysis).where(Analysis.campaign_id == campaign_id, archived_at).order_by(Analysis.created_at,
                                                                                            Analysis.id)
    return list((await session.execute(q)).scalars())


def _record(session: AsyncSession, campaign: Campaign, actor: str, kind: str, analysis: Analysis,
            **payload: Any) -> None:
    activity.record(session, workspace_id=campaign.workspace_id, actor=actor, kind=kind, campaign_id=campaign.id,
                    payload={"analysis_id": analysis.id, "name": analysis.name, **payload})


def _store_definition(analysis: Analysis, definition: AnalysisDefinition) -> None:
    analysis.type = definition.type.value
    analysis.options = definition.options
    analysis.scale_min, analysis.scale_max = definition.scale_min, definition.scale_max
    analysis.data_type = definition.data_type.value if definition.data_type else None


async def create(session: AsyncSession, workspace_id: str, campaign_id: str, data: AnalysisCreate,
                 actor: str) -> Analysis:
    data.check()
    campaign = await writable_campaign(session, workspace_id, campaign_id)
    analysis = Analysis(id=new_id("ana"), campaign_id=campaign.id, name=data.name, description=data.description,
                        active=data.active)
    _store_definition(analysis, data)
    session.add(analysis)
    await session.flush()
    _record(session, campaign, actor, "analysis.created", analysis, type=analysis.type)
    return analysis


async def _load_for_write(session: AsyncSession, workspace_id: str, analysis_id: str) -> tuple[Campaign, Analysis]:
    campaign_id = await owning_campaign_id(session, workspace_id, Analysis, analysis_id, "analysis")
    campaign = await writable_campaign(session, workspace_id, campaign_id)
    analysis = (await session.execute(select(Analysis).where(Analysis.id == analysis_id)
                                      .execution_options(populate_existing=True))).scalar_one()
    return campaign, analysis


def _patched_definition(analysis: Analysis, data: AnalysisUpdate) -> AnalysisDefinition:
    given = data.model_dump(include=set(TYPE_FIELDS) | {"type"}, exclude_unset=True)
    current: dict[str, Any] = {"type": analysis.type, **{f: getattr(analysis, f) for f in TYPE_FIELDS}}
    new_type = AnalysisType(given.get("type", analysis.type))
    if new_type != analysis.type:
        # The old type's extras go with it unless the request names them (and then they must fit).
        for field, types in TYPE_FIELDS.items():
            if new_type not in types:
                current[field] = None
    return AnalysisDefinition.model_validate({**current, **given})


async def update(session: AsyncSession, workspace_id: str, analysis_id: str, data: AnalysisUpdate,
                 actor: str) -> Analysis:
    campaign, analysis = await _load_for_write(session, workspace_id, analysis_id)
    if analysis.archived_at is not None:
        raise Conflict("an archived analysis cannot be edited; restore it first", code="analysis_archived")
    definition = _patched_definition(analysis, data)
    definition.check()
    _store_definition(analysis, definition)
    for field in ("name", "description", "active"):
        if field in data.model_fields_set:
            setattr(analysis, field, getattr(data, field))
    analysis.updated_at = utcnow()
    await session.flush()
    _record(session, campaign, actor, "analysis.updated", analysis, fields=sorted(data.model_fields_set))
    return analysis


async def archive(session: AsyncSession, workspace_id: str, analysis_id: str, actor: str) -> Analysis:
    """Hide the analysis from the judge and the default list. Idempotent."""
    campaign, analysis = await _load_for_write(session, workspace_id, analysis_id)
    if analysis.archived_at is not None:
        return analysis
    analysis.archived_at = analysis.updated_at = utcnow()
    await session.flush()
    _record(session, campaign, actor, "analysis.archived", analysis)
    return analysis


async def restore(session: AsyncSession, workspace_id: str, analysis_id: str, actor: str) -> Analysis:
    """Bring an archived analysis back as it was (switched on or off). Idempotent."""
    campaign, analysis = await _load_for_write(session, workspace_id, analysis_id)
    if analysis.archived_at is None:
        return analysis
    analysis.archived_at = None
    analysis.updated_at = utcnow()
    await session.flush()
    _record(session, campaign, actor, "analysis.restored", analysis)
    return analysis
