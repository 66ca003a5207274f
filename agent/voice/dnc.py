"""A caller who asks not to be called again: found in what the contact said, honoured at once.

The end-of-call report carries the whole transcript; the contact's own turns are searched for
the clear ways people say it ("don't call me again", "take me off your list", "put me on your
do-not-call list", "stop calling me"). A phrase match and not a model call: the report is
applied in one short transaction, the request must be honoured even when no model is reachable,
and these phrases are unambiguous. (The evaluators, which read the conversation later, may
still find subtler refusals; the phrases here are the floor the law asks for.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from agent.inbound.effects import apply_opt_out
from agent.models import Contact, Conversation
from agent.voice.calls import OUTBOUND

_DONT = r"(?:do\s+not|don'?t|dont|never)"
_PATTERNS = [
    rf"\b{_DONT}\s+(?:ever\s+)?(?:call|ring|phone|contact)\s+(?:me|us|this\s+number|here)\b",
    r"\bdo[\s-]+not[\s-]+call\b",  # "do not call", "put me on your do-not-call list"
    r"\bstop\s+(?:calling|ringing|phoning|contacting)\b",
    (r"\b(?:take|remove|delete|put)\s+(?:me|my\s+(?:name|number))\s+(?:off|from)\s+(?:your|the|this)\s+"
     r"(?:call(?:ing)?\s+)?list\b"),
    r"\b(?:take|remove|delete)\s+my\s+(?:name|number)\b",
    r"\bno\s+more\s+calls\b",
]
_DO_NOT_CALL = re.compile("|".join(_PATTERNS), re.IGNORECASE)


def asks_not_to_be_called(user_turns: Iterable[str]) -> bool:
    """True when any of the contact's turns asks us not to call again."""
    return any(_DO_NOT_CALL.search(text.replace("\u2019", "'")) for text in user_turns)


async def honour_do_not_call(session: AsyncSession, conv: Conversation, user_turns: list[str]) -> bool:
    """Opt the contact's number out of voice across the workspace when they asked (the caller
    commits); whether they did. The number is the contact's, else the other party's on the call."""
    if not asks_not_to_be_called(user_turns):
        return False
    contact = await session.get(Contact, conv.contact_id) if conv.contact_id else None
    phone = (contact.phone if contact else None) or (conv.to_number if conv.direction == OUTBOUND else conv.from_number)
    if not phone:
        return False
    await apply_opt_out(session, conv.workspace_id, phone=phone, channel="voice", reason="do_not_call",
                        source=f"call:{conv.external_id or conv.id}")
    return True
