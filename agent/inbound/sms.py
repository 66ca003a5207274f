"""What an incoming text asks for: to stop (opt out), to start again (opt in), or neither (a reply).

The carriers' and Twilio's keywords decide: STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE,
OPT OUT / OPTOUT to opt out; START, UNSTOP, YES to opt back in (Twilio's default opt-in words; a
consumer may always re-subscribe by texting one, FCC 2024 rules). A keyword counts when it is
the clear intent of a short message: after dropping punctuation, case and a small list of filler
words ("please", "me", "now", "texting"...), nothing but opt-out words may remain. So "STOP!!",
"stop please" and "Please unsubscribe me" opt out, while "don't stop the delivery, I need it
Friday" or "cancel my appointment" are replies (a word outside the list remains). A missed
STOP is the worse error, but a false one ends a conversation the contact wanted, and Twilio's
own opt-out handling (which blocks later sends with error 21610) remains the backstop.

Opt-in words count only alone: "yes" is far more often an answer than a re-subscription, so the
caller treats a bare YES as an opt-in only when the number is actually opted out.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

OPT_OUT_WORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout",
                           "unsub", "remove"})
OPT_IN_WORDS = frozenset({"start", "unstop", "yes"})
# Words that add no intent of their own around an opt-out keyword.
_FILLER = frozenset({
    "please", "pls", "plz", "me", "now", "thanks", "thank", "you", "thx", "ok", "okay", "all", "just", "already",
    "i", "said", "want", "to", "be", "can", "could", "would", "will", "sms", "text", "texts", "texting",
    "message", "messages", "messaging", "sending", "send", "from", "this", "these", "list", "your", "my", "number",
    "contact", "contacting", "off", "hi", "hello", "sorry", "us", "it", "of", "take", "at", "once", "immediately",
    "right", "asap", "again", "subscription", "mailing", "them",
})
# "remove" and "cancel" alone are requests about something else unless they are about us:
# they need the message to be nothing but keywords and filler, as every keyword does.
_MAX_WORDS = 8  # beyond this, a message says more than "stop"
_OPT_OUT_PHRASE = re.compile(r"\bopt\s*-?\s*(?:me\s+)?out\b")
_WORD = re.compile(r"[a-z']+")


class SmsIntent(StrEnum):
    opt_out = "opt_out"
    opt_in = "opt_in"
    reply = "reply"


def _words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    folded = _OPT_OUT_PHRASE.sub(" optout ", folded)
    return [w.strip("'") for w in _WORD.findall(folded) if w.strip("'")]


def classify(text: str | None) -> SmsIntent:
    """The intent of one incoming SMS body."""
    words = _words(text or "")
    if not words:
        return SmsIntent.reply
    if len(words) == 1 and words[0] in OPT_IN_WORDS:
        return SmsIntent.opt_in
    if len(words) > _MAX_WORDS:
        return SmsIntent.reply
    keywords = [w for w in words if w in OPT_OUT_WORDS]
    if keywords and all(w in OPT_OUT_WORDS or w in _FILLER for w in words):
        if keywords == ["remove"] and "me" not in words:
            return SmsIntent.reply  # "remove it" is not about us; "remove me" is
        return SmsIntent.opt_out
    return SmsIntent.reply
