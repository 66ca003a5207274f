"""What a reply means for the campaign: one typed model call per reply.

The offline model has no judgement, so it answers only from clear keywords and otherwise says
``unknown``: a figure built on it never counts a guess as interest.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

from agent import llm
from agent.llm.offline import last_user_text
from agent.prompting import read_data_blocks, render_chat
from agent.states import ReplyIntent

TASK = "reply_intent"
SYSTEM, USER = "inbound/intent_system.j2", "inbound/intent_user.j2"
TEXT_MAX = 4000  # the new text of a reply; longer ones are cut for the model, never for the record


class ReplyIntentAnswer(BaseModel):
    """The intent of one reply, as the model gives it."""

    intent: ReplyIntent = Field(description="What the reply means for the campaign.")


# The offline model's keywords, strongest first: an opt-out outranks a polite "thanks".
_KEYWORDS: tuple[tuple[ReplyIntent, re.Pattern[str]], ...] = tuple((i, re.compile(p, re.I)) for i, p in (
    (ReplyIntent.unsubscribe, r"\b(unsubscribe|remove me|stop (emailing|texting|contacting)|opt[ -]?out)\b"),
    (ReplyIntent.out_of_office, r"\b(out of (the )?office|on (annual )?leave|on vacation|away until)\b"),
    (ReplyIntent.not_interested, r"\b(not interested|no thanks|no, thanks|not for us|don'?t need)\b"),
    (ReplyIntent.referral, r"\b(contact my colleague|reach out to|the right person is|talk to my)\b"),
    (ReplyIntent.interested, r"\b(interested|sounds good|let'?s (talk|meet|book)|book (a|me)|sign me up|yes,? please)\b"),
    (ReplyIntent.question, r"\?\s*$|\b(how much|what is|can you|could you)\b"),
))


def offline_intent(text: str) -> ReplyIntent:
    for intent, pattern in _KEYWORDS:
        if pattern.search(text):
            return intent
    return ReplyIntent.unknown


def _offline_responder(messages: list[dict[str, Any]], schema: dict[str, Any]) -> dict[str, Any]:
    reply = read_data_blocks(last_user_text(messages)).get("reply") or {}
    return {"intent": offline_intent(str(reply.get("text", ""))).value}


llm.register_offline_responder("ReplyIntentAnswer", _offline_responder)


async def classify_intent(text: str, *, campaign: str = "", model: str | None = None) -> ReplyIntent:
    """The reply's intent; ``unknown`` when the model cannot be reached or answers nonsense (the
    reply itself is kept either way, and a person can read it)."""
    chat = render_chat(SYSTEM, USER, {"campaign": {"name": campaign}, "reply": {"text": text[:TEXT_MAX]}})
    try:
        result = await llm.complete(TASK, chat.messages(), schema=ReplyIntentAnswer, model=model)
    except llm.LLMError:
        return ReplyIntent.unknown
    return result.parsed.intent if result.parsed else ReplyIntent.unknown
