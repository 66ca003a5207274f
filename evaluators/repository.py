"""Evaluator lookups: the campaign a goal or analysis belongs to, and a conversation's current answers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.errors import NotFound
from agent.models import Campaign, Evaluation


async def owning_campaign_id(session: AsyncSession, workspace_id: str, model: Any, row_id: str, noun: str) -> str:
    """The campaign of a goal or analysis in the workspace; another workspace's is 404 like a missing one."""
    q = (select(model.campaign_id).join(Campaign, Campaign.id == model.campaign_id)
         .where(model.id == row_id, Campaign.workspace_id == workspace_id))
    campaign_id = (await session.execute(q)).scalar_one_or_none()
    if campaign_id is None:
        raise NotFound(f"no {noun} {row_id}")
    return campaign_id


async def current_answer(session: AsyncSession, model: Any, conversation_id: str, column: Any, key: str) -> Any:
    """The current evaluation's goal result or analysis answer for ``key``, locked for a correction."""
    row = (await session.execute(select(model).join(Evaluation, Evaluation.id == model.evaluation_id).where(
        model.conversation_id == conversation_id, Evaluation.is_current.is_(True), column == key)
        .with_for_update())).scalar_one_or_none()
    if row is None:
        raise NotFound(f"conversation {conversation_id} has no evaluated answer for {key}")
    return row
