"""What the offline model says on a call: short, deterministic spoken lines, and the end marker
when the caller says goodbye or asks not to be called.

It reads only the campaign's data blocks (its name, the contact's first name when it looks like
a name) and the kind of thing the caller said; it never repeats the caller's words or anything
else from the contact's data, so nothing said on a call is echoed back or obeyed.
"""

from __future__ import annotations

import re
from typing import Any

from agent.prompting import read_data_blocks
from agent.voice.marker import END_CALL

_NAME = re.compile(r"[^\W\d_][^\W\d_' .-]{0,39}")
_STOP = ("stop calling", "don't call", "dont call", "do not call", "remove me", "take me off", "unsubscribe",
         "not interested", "leave me alone", "stop contacting", "don't contact", "do not contact")
_BYE = ("bye", "goodbye", "hang up", "end the call", "gotta go", "got to go", "have to go", "talk later")
_YES = {"yes", "yeah", "yep", "sure", "ok", "okay", "please", "absolutely", "definitely", "great", "sounds"}
_NO = {"no", "nope", "nah"}
_HELLO = {"hi", "hello", "hey", "morning", "afternoon", "evening"}


def _has(text: str, phrases: tuple[str, ...]) -> bool:
    return any(re.search(rf"(?<![a-z']){re.escape(p)}(?![a-z'])", text) for p in phrases)


def voice_reply(messages: list[dict[str, Any]]) -> str:
    """The offline model's next spoken line for a call rendered from ``voice/system.j2``."""
    system = next((m["content"] for m in messages if m.get("role") == "system"), "")
    data = read_data_blocks(system if isinstance(system, str) else "")
    campaign = str(data.get("campaign_name") or "").strip()[:80] or "our team"
    raw_name = str((data.get("contact") or {}).get("first_name") or "").strip()
    name = raw_name if _NAME.fullmatch(raw_name) else ""
    last = messages[-1] if messages and messages[-1].get("role") != "system" else None
    said = str(last.get("content") or "").lower() if last and last.get("role") == "user" else ""
    words = set(re.findall(r"[a-z']+", said))

    if last is None or last.get("role") != "user":
        if "contact" in data:
            hello = f"Hi {name}, this" if name else "Hi, this"
            return f"{hello} is the assistant calling for {campaign}. Do you have a minute to talk?"
        return f"Hello, thanks for calling {campaign}. How can I help you today?"
    if _has(said, _STOP):
        return f"Understood. I'll make sure we don't call you again. Sorry for the trouble, and goodbye. {END_CALL}"
    if _has(said, _BYE):
        thanks = f"Thank you for your time, {name}." if name else "Thank you for your time."
        return f"{thanks} Goodbye! {END_CALL}"
    if "?" in said and words & {"who", "calling", "why"}:
        return f"I'm an AI assistant calling for {campaign}. Is now a good time for a quick chat?"
    if "?" in said:
        return "Good question. I'll have someone from our team follow up with the details. Is there anything else?"
    if words & _NO and not words & _YES:
        return "No problem at all. Is there anything else I can help you with today?"
    if words & _YES:
        return "Great, thank you. I've noted that down. Is there anything else I can help with?"
    if words & _HELLO and len(words) <= 4:
        return "Hi there! How can I help you today?"
    return "Thanks, I've noted that. Is there anything else I can help with?"
