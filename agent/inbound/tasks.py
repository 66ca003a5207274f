"""The inbound actors: reading a reply's intent after it is stored."""

from __future__ import annotations

from sqlalchemy import update

from agent.db import session_scope
from agent.inbound.effects import INTENT_ACTOR
from agent.inbound.intent import classify_intent
from agent.models import Campaign, Enrollment, InboundMessage
from agent.queue import task


@task(INTENT_ACTOR)
async def classify_reply_intent(message_id: str) -> str | None:
    """Fill the reply's intent (once: a message that has one keeps it)."""
    async with session_scope() as s:
        message = await s.get(InboundMessage, message_id)
        if message is None or message.intent is not None or not message.text:
            return None
        text = message.text
        enrollment = await s.get(Enrollment, message.enrollment_id) if message.enrollment_id else None
        campaign = await s.get(Campaign, enrollment.campaign_id) if enrollment else None
        name = campaign.name if campaign else ""
    intent = await classify_intent(text, campaign=name)
    async with session_scope() as s:
        await s.execute(update(InboundMessage).where(InboundMessage.id == message_id, InboundMessage.intent.is_(None))
                        .values(intent=intent).execution_options(synchronize_session=False))
    return intent.value
