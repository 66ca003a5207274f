"""The offline model's draft: a message a person could read, built from the prompt's data blocks.

No language model is involved, so the draft is assembled from what the brief says, never pasted
from it: the brief is written *to* the planner ("Remind patients whose last visit ... to book
their annual check-up"), and a message must speak *to* the contact ("This is a friendly reminder
to book your annual check-up"). The brief's leading verb picks the sentence; the action after
its "to" is kept with its pronouns turned to the contact. The contact's properties the brief
names ("mention their clinic") are used, if they look like plain values; nothing else in a data
block is repeated or followed. A reviewer's instruction changes the draft visibly (shorter,
more formal, warmer, mention a property, or another wording). Voice briefs and tasks speak to
the caller or the team, so they keep the brief as it is.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from agent.channels.rules import SMS_OPT_OUT_LINE
from agent.prompting import read_data_blocks

_CHANNEL = re.compile(r"^# Channel: (\w+)", re.MULTILINE)
_NAME = re.compile(r"[^\W\d_][^\W\d_' .-]{0,39}")
# A property value worth repeating: short, plain words and numbers (no links, addresses or markup).
_PLAIN = re.compile(r"[\w][\w .,'&/-]{0,59}")
_SWAP = {"their": "your", "them": "you", "they": "you", "theirs": "yours", "themselves": "yourself",
         "his": "your", "her": "your", "him": "you", "he": "you", "she": "you"}
# Verbs that start an action ("to book ...", "to join ..."): the "to" before one ends the audience.
_ACTION_VERBS = ("book", "schedule", "join", "renew", "confirm", "complete", "attend", "register", "sign", "visit",
                 "come", "update", "pay", "reply", "try", "take", "start", "upgrade", "review", "claim", "reserve",
                 "check", "finish", "return", "share", "choose", "pick", "order", "activate", "download", "read")
_SIGNERS = ("sender_name", "signature", "sign_off", "company", "company_name", "organization", "organisation",
            "clinic_name", "business_name", "brand")


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if s.strip()]


def _to_contact(text: str) -> str:
    return re.sub(r"\b(\w+)\b", lambda m: _SWAP.get(m.group(1).lower(), m.group(1)), text).rstrip(" .!")


def _action(rest: str) -> tuple[str, str]:
    """The audience's connector and what follows it: ("to", "book their annual check-up")."""
    verbs = "|".join(_ACTION_VERBS)
    m = re.search(rf"\bto ((?:{verbs})\b.*)", rest, re.IGNORECASE)
    if m:
        return "to", m.group(1)
    m = re.search(r"\b(to|about|for|that|of) (.+)", rest, re.IGNORECASE)
    return (m.group(1).lower(), m.group(2)) if m else ("", "")


def _clip(action: str) -> str:
    """The action up to its first clause break (", and", " and offer", ";")."""
    return re.split(r",|;| and (?:offer|mention|ask|be|keep)\b", action, maxsplit=1)[0].strip()


def purpose(brief: str, goal: str | None) -> tuple[str, str]:
    """(sentence for the contact, short topic for the subject) from the brief's first sentence."""
    first = (_sentences(brief) or [""])[0]
    m = re.match(r"(?i)(remind|invite|ask|encourage|tell|inform|notify|let|offer|thank|welcome|help|"
                 r"get|contact|reach out to|follow up with|email|text|message|call|write to)\b\s*(.*)", first)
    if m:
        verb, rest = m.group(1).lower(), m.group(2)
        connector, action = _action(rest)
        action = _to_contact(_clip(action))
        if action:
            starts_with_verb = action.split()[0].lower() in _ACTION_VERBS
            if verb == "remind":
                return f"This is a friendly reminder to {action}.", f"time to {action}"
            if verb == "invite":
                line = f"We'd love for you to {action}." if starts_with_verb else f"We'd love to invite you to {action}."
                return line, f"an invitation to {action}" if not starts_with_verb else action
            if verb == "encourage":
                return f"We'd like to encourage you to {action}.", action
            if verb == "thank":
                return f"Thank you for {action}.", f"thank you for {action}"
            if connector == "to" and starts_with_verb:
                return f"We're getting in touch to help you {action}.", action
            if connector == "that":
                return f"We wanted to let you know that {action}.", "an update for you"
            if connector in ("about", "for", "of", "to"):
                return f"We're getting in touch about {action}.", action
    if goal:
        topic = goal[0].lower() + goal[1:]
        return f"We're getting in touch about one thing: {topic}.", topic
    return "We wanted to get in touch with you.", "a quick note"


def offer(brief: str) -> str | None:
    """What the brief says to offer ("offer to book a slot" -> "book a slot"), for the call to action."""
    m = re.search(r"\boffer (?:to )?([^.,;]+)", brief, re.IGNORECASE)
    return _to_contact(m.group(1)) if m else None


def _humanise(key: str) -> str:
    return re.sub(r"[_\W]+", " ", key).strip().lower()


def _value(value: Any) -> str | None:
    text = str(value).strip() if isinstance(value, str | int | float) and not isinstance(value, bool) else ""
    if not _PLAIN.fullmatch(text) or re.search(r"https?|www\.|@|\.[a-z]{2,}\b", text, re.IGNORECASE):
        return None
    try:
        day = dt.date.fromisoformat(text)
        return f"{day.day} {day:%B %Y}"
    except ValueError:
        return text


def named_properties(brief: str, properties: dict[str, Any], extra: str = "") -> list[tuple[str, str]]:
    """The contact's properties whose name the brief (or the reviewer) mentions, as (name, value)."""
    said = f"{brief} {extra}".lower()
    out = []
    for key, raw in (properties or {}).items():
        name, value = _humanise(str(key)), _value(raw)
        if name and value and re.search(rf"\b{re.escape(name)}\b", said):
            out.append((name, value))
    return out


def _records(props: list[tuple[str, str]]) -> str:
    if not props:
        return ""
    parts = [f"{value} as your {name}" for name, value in props]
    joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"Our records show {joined}."


def _signer(ai_variables: dict[str, Any]) -> str:
    for key in _SIGNERS:
        value = _value((ai_variables or {}).get(key, ""))
        if value:
            return value
    return "The team"


def _wants(instruction: str) -> set[str]:
    words = instruction.lower()
    found = {tone for tone, pattern in (("short", r"short|brief|concise|too long|fewer words|trim"),
                                         ("formal", r"formal|professional|polite"),
                                         ("warm", r"warm|friendl|casual|personal"))
             if re.search(pattern, words)}
    return found or {"reworded"}


def offline_draft(messages: list[dict[str, Any]], schema: dict[str, Any]) -> dict[str, Any]:
    """The ``OutreachDraft`` responder (registered in planner/prompt.py)."""
    text = "\n".join(m.get("content") or "" for m in messages if isinstance(m.get("content"), str))
    data = read_data_blocks(text)
    match = _CHANNEL.search(text)
    kind = match.group(1).lower() if match else "email"
    channel = {"manual": "task"}.get(kind, kind)
    contact = data.get("contact") or {}
    raw_name = str(contact.get("first_name") or "").strip()
    name = raw_name if _NAME.fullmatch(raw_name) else ""  # a name is a name: anything else is not echoed
    brief = str(data.get("campaign_brief") or "")
    campaign = str(data.get("campaign_name") or "our team")[:80]
    goals = data.get("goals") or []
    primary = next((str(g.get("name")) for g in goals if isinstance(g, dict) and g.get("is_primary")), None)
    instruction = str(data.get("reviewer_instruction") or "").strip()
    wants = _wants(instruction) if instruction else set()
    if channel in ("voice", "task"):
        return _for_the_team(channel, name, campaign, brief, instruction)
    line, topic = purpose(brief, primary)
    props = [] if "short" in wants else named_properties(brief, contact.get("properties") or {}, instruction)
    what = offer(brief)
    if "formal" in wants:
        last = str(contact.get("last_name") or "").strip()
        full = " ".join(p for p in (name, last if _NAME.fullmatch(last) else "") if p)
        greeting = f"Dear {full}," if full else "Hello,"
    elif "warm" in wants:
        greeting = f"Hi {name}!" if name else "Hello there!"
    else:
        greeting = f"Hi {name}," if name else "Hello,"
    opener = {"warm": "I hope you're doing well. ", "reworded": "I hope this finds you well. "}
    lead = "".join(opener[w] for w in sorted(wants) if w in opener)
    rationale = (f"Offline model draft for the {channel} channel (no language model): it puts the brief's aim "
                 "to the contact in its own words" + (", with the properties the brief names" if props else "")
                 + (f", revised for the reviewer ({', '.join(sorted(wants))})" if wants else "") + ".")
    if channel == "sms":
        ask = f"Reply YES and we'll {what}." if what and "short" not in wants else "Reply here and we'll help."
        body = " ".join(p for p in (greeting, lead + line, _records(props[:1]), ask, SMS_OPT_OUT_LINE) if p)
        return {"subject": None, "body": body, "rationale": rationale}
    if what:
        ask = (f"Would you like us to {what} for you? Just reply to this email." if "reworded" not in wants
               else f"Reply to this email whenever suits you and we'll {what}.")
    else:
        ask = "Just reply to this email and we will take it from there."
    paragraphs = [greeting, " ".join(p for p in (lead + line, _records(props)) if p)]
    if "short" not in wants:
        paragraphs.append(ask)
    closing = "Kind regards," if "formal" in wants else "Warm wishes," if "warm" in wants else "Best regards,"
    body = "\n\n".join(paragraphs) + f"\n\n{closing}\n{_signer(data.get('ai_variables') or {})}"
    subject = (f"{name}, {topic}" if name else topic[0].upper() + topic[1:])
    if wants and "short" not in wants:
        subject = f"A note for you: {topic}"
    subject = subject[:78].rstrip()
    if subject.lower() == campaign.lower():
        subject = f"A quick note for {name or 'you'}"
    return {"subject": subject, "body": body, "rationale": rationale}


def _for_the_team(channel: str, name: str, campaign: str, brief: str, instruction: str) -> dict[str, Any]:
    """A voice brief (for the calling assistant) or a task (for a person): the brief is theirs to read."""
    aim = " ".join(_sentences(brief)[:1])[:240] or "Get in touch."
    note = f" Reviewer's note: {instruction[:200]}" if instruction else ""
    if channel == "voice":
        body = (f"Call {name or 'the contact'} on behalf of {campaign}. Goal: {aim} Introduce yourself, explain why "
                f"you are calling, listen, answer questions from the brief only, and offer the next step.{note}")
    else:
        body = f"Reach out to {name or 'the contact'} for {campaign}: {aim} Log the outcome when done.{note}"
    return {"subject": None, "body": body,
            "rationale": f"Offline model draft for the {channel} channel (no language model): the brief for "
                         "whoever makes the contact."}
