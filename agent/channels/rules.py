"""Channel rules a message must pass before it is stored or sent: required parts, length, SMS
segments, and no template fragments or placeholders left in the text. Plain code, no IO.

``check_message`` is the one entry point; the planner (after each draft), review (on an edit) and
the executor call it alike. ``limits_for`` gives the same limits to the prompt, so the model is
told what will be checked.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from agent.states import ChannelKind, Substatus

# Hard limits (a draft over them is refused) and targets (what the prompt asks for; drafts
# between target and limit pass, so a model that overshoots a little is not sent back).
EMAIL_SUBJECT_MAX = 150
EMAIL_SUBJECT_TARGET = 120
# Not in the channel rules of the issue; a bound so a runaway model cannot fill the review queue.
EMAIL_BODY_MAX = 10_000
EMAIL_BODY_TARGET = 1_200
SMS_BODY_MAX = 1_600  # characters; the carriers' concatenation limit (10 GSM-7 single-part lengths)
SMS_BODY_TARGET = 320
VOICE_BRIEF_MAX = 4_000
VOICE_BRIEF_TARGET = 2_500
TASK_BODY_MAX = 4_000
TASK_BODY_TARGET = 1_500
# Connection-request and InMail style messages (reference 004: "exceeds the 1,900-character limit").
CONNECTION_MESSAGE_MAX = 1_900
# A task's title shares the email subject's limit.
TASK_SUBJECT_MAX = EMAIL_SUBJECT_MAX

# SMS segment sizes in encoding units: single message, and each part of a concatenated one
# (the user-data header takes 7 septets / 3 UCS-2 characters of every part).
GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67

# GSM 03.38 default alphabet (escape 0x1B left out) and its extension table, whose characters
# take two septets (escape + code).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

# The line an SMS carries so its recipient can opt out (what the offline model writes). Drafts
# without it have always been accepted, so it is not a rule yet; ``carries_sms_opt_out`` lets a
# caller look for it.
SMS_OPT_OUT_LINE = "Reply STOP to opt out."
_OPT_OUT_WORD = re.compile(r"\bSTOP\b")


class RuleCode(StrEnum):
    empty_message = "empty_message"
    missing_subject = "missing_subject"
    message_too_long = "message_too_long"
    subject_too_long = "subject_too_long"
    unrendered_template = "unrendered_template"
    placeholder_left = "placeholder_left"


# Only codes with an exact enrollment error substatus; the others have none (None).
_SUBSTATUS: dict[RuleCode, Substatus] = {
    RuleCode.empty_message: Substatus.empty_message,
    RuleCode.missing_subject: Substatus.missing_subject,
    RuleCode.message_too_long: Substatus.message_too_long,
}

Field = Literal["subject", "body"]

# The parts a message of each kind must have; a task's title (its subject) is optional.
REQUIRED_PARTS: dict[ChannelKind, frozenset[Field]] = {
    ChannelKind.email: frozenset({"subject", "body"}),
    ChannelKind.sms: frozenset({"body"}),
    ChannelKind.voice: frozenset({"body"}),
    ChannelKind.task: frozenset({"body"}),
}


@dataclass(frozen=True)
class RuleProblem:
    """One rule a message breaks: a machine code, the field it is in, and a sentence for people."""

    code: RuleCode
    field: Field
    message: str

    @property
    def substatus(self) -> Substatus | None:
        """The enrollment's error substatus for this problem, where one matches exactly."""
        return _SUBSTATUS.get(self.code)


@dataclass(frozen=True)
class ChannelLimits:
    """What a channel allows; templates read it as ``limits``."""

    channel: ChannelKind
    body_max: int
    body_target: int
    subject_required: bool
    subject_max: int | None
    subject_target: int | None


@dataclass(frozen=True)
class SmsSegments:
    encoding: Literal["GSM-7", "UCS-2"]
    units: int  # septets for GSM-7 (extension characters count 2), UTF-16 code units for UCS-2
    segments: int


def limits_for(channel: ChannelKind | str, *, connection_style: bool = False) -> ChannelLimits:
    kind = ChannelKind(channel)
    subject_required = "subject" in REQUIRED_PARTS[kind]
    if kind is ChannelKind.email:
        limits = ChannelLimits(kind, EMAIL_BODY_MAX, EMAIL_BODY_TARGET, subject_required, EMAIL_SUBJECT_MAX,
                               EMAIL_SUBJECT_TARGET)
    elif kind is ChannelKind.sms:
        limits = ChannelLimits(kind, SMS_BODY_MAX, SMS_BODY_TARGET, subject_required, None, None)
    elif kind is ChannelKind.voice:
        limits = ChannelLimits(kind, VOICE_BRIEF_MAX, VOICE_BRIEF_TARGET, subject_required, None, None)
    else:
        limits = ChannelLimits(kind, TASK_BODY_MAX, TASK_BODY_TARGET, subject_required, TASK_SUBJECT_MAX, None)
    if connection_style:
        limits = ChannelLimits(kind, min(limits.body_max, CONNECTION_MESSAGE_MAX),
                               min(limits.body_target, CONNECTION_MESSAGE_MAX), limits.subject_required,
                               limits.subject_max, limits.subject_target)
    return limits


def sms_segments(text: str) -> SmsSegments:
    """How many SMS parts ``text`` takes: GSM-7 when every character is in the GSM alphabet,
    else UCS-2. Splitting is counted as a plain ceiling; a real sender never splits an escape
    pair or a surrogate pair, which can add a part at the boundary."""
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text):
        units = sum(2 if c in GSM7_EXTENSION else 1 for c in text)
        single, part, encoding = GSM7_SINGLE, GSM7_PART, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part, encoding = UCS2_SINGLE, UCS2_PART, "UCS-2"
    segments = 1 if units <= single else math.ceil(units / part)
    return SmsSegments(encoding, units, segments)


# Closed fragments first; an opening left unclosed is reported with the text after it.
_TEMPLATE_FRAGMENT = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}|(?:\{\{|\{%|\{#)[^\n{}]{0,20}", re.DOTALL)
_PLACEHOLDERS = [
    # [First Name], [Company], [first_name], [INSERT LINK]
    re.compile(r"\[(?:[A-Z][A-Za-z]*(?:[ _][A-Za-z]+)*|[a-z]+(?:_[a-z]+)+)\]"),
    # {first_name}, {First Name}, ${name}
    re.compile(r"\$?\{\s*[A-Za-z_][\w .-]{0,40}\s*\}"),
    # <NAME>, <First Name>, <first_name>; not HTML such as <br> or an address such as <a@b.com>
    re.compile(r"<(?:[A-Z][A-Za-z]*(?:[ _][A-Za-z]+)*|[a-z]+(?:_[a-z]+)+)>"),
    # XXX, XXXX (uppercase only: "xxx" closes friendly texts)
    re.compile(r"\bX{3,}\b"),
    # Merge tags of mail tools: *|FNAME|*, %FIRSTNAME%
    re.compile(r"\*\|[A-Z0-9_]+\|\*|%[A-Z][A-Z0-9_]*%"),
]
# A character every template fragment and placeholder pattern above contains, "XXX" aside.
_MAY_LEAVE = frozenset("{[<%*")
_SHOWN = 3  # fragments quoted in a message


def carries_sms_opt_out(body: str) -> bool:
    """Whether an SMS body tells its recipient how to opt out (the word STOP, in capitals)."""
    return _OPT_OUT_WORD.search(body) is not None


def check_message(kind: ChannelKind | str, *, subject: str | None, body: str,
                  connection_style: bool = False) -> list[RuleProblem]:
    """Every rule the message breaks, subject first; an empty list means it may be stored or sent.

    ``connection_style`` marks connection-request and InMail style messages, which have a lower
    body limit. An unknown ``kind`` raises ``ValueError``.
    """
    limits = limits_for(kind, connection_style=connection_style)
    found: list[RuleProblem] = []
    if limits.subject_max is not None and subject is not None and not _blank(subject):
        if len(subject) > limits.subject_max:
            found.append(RuleProblem(RuleCode.subject_too_long, "subject",
                                   f"The subject has {len(subject)} characters; the limit is {limits.subject_max}."))
        found += _leftovers("subject", subject)
    elif limits.subject_required:
        found.append(RuleProblem(RuleCode.missing_subject, "subject", "An email needs a subject."))

    if _blank(body):
        found.append(RuleProblem(RuleCode.empty_message, "body", "The message body is empty."))
        return found
    if len(body) > limits.body_max:
        found.append(RuleProblem(RuleCode.message_too_long, "body", _too_long(limits, body, connection_style)))
    found += _leftovers("body", body)
    return found


def _blank(text: str | None) -> bool:
    # Invisible format characters (zero-width space, joiners, BOM) count as blank too.
    return text is None or all(c.isspace() or unicodedata.category(c) == "Cf" for c in text)


def _too_long(limits: ChannelLimits, body: str, connection_style: bool) -> str:
    what = "connection-style message" if connection_style else f"{limits.channel.value} body"
    message = f"The {what} has {len(body)} characters; the limit is {limits.body_max}."
    if limits.channel is ChannelKind.sms:
        seg = sms_segments(body)
        message += f" It would take {seg.segments} {seg.encoding} SMS segments."
    return message


def _leftovers(field: Field, text: str) -> list[RuleProblem]:
    if _MAY_LEAVE.isdisjoint(text) and "XXX" not in text:
        return []  # every pattern needs one of these characters (or XXX): most texts need no scan
    found: list[RuleProblem] = []
    fragments = _TEMPLATE_FRAGMENT.findall(text)
    if fragments:
        found.append(RuleProblem(RuleCode.unrendered_template, field,
                               f"Unrendered template syntax in the {field}: {_quote(fragments)}."))
    # Template fragments are reported once, above, not again as placeholders.
    rest = _TEMPLATE_FRAGMENT.sub(" ", text)
    placeholders = [m.group(0) for pattern in _PLACEHOLDERS for m in pattern.finditer(rest)]
    if placeholders:
        found.append(RuleProblem(RuleCode.placeholder_left, field,
                               f"Placeholder left in the {field}: {_quote(placeholders)}."))
    return found


def _quote(fragments: list[str]) -> str:
    unique = list(dict.fromkeys(f if len(f) <= 40 else f[:37] + "..." for f in fragments))
    shown = ", ".join(repr(f) for f in unique[:_SHOWN])
    return shown + (f" and {len(unique) - _SHOWN} more" if len(unique) > _SHOWN else "")
