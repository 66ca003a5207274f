"""Conversation lookups scoped to a workspace (voice records them; evaluators read them)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from agent.lookup import get_in_workspace
from agent.models import Conversation


async def get_conversation(session: AsyncSession, workspace_id: str, conversation_id: str, *,
                           for_update: bool = False) -> Conversation:
    return await get_in_workspace(session, Conversation, workspace_id, conversation_id,
                                  missing=f"no conversation {conversation_id}", for_update=for_update)
