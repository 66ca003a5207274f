"""Real-world messages of several mail systems, each with its classification, recipient and text.

The bounce and auto-reply samples come from sisimai's set-of-emails (BSD 2-clause), the replies
from talon's and mail-parser-reply's test corpora; the German, French and unsubscribe replies are
written in the exact formats Gmail and Outlook quote with.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from agent.inbound.email import parse_email
from agent.states import BounceType, InboundKind

MAIL = Path(__file__).parents[2] / "fixtures" / "mail"
B, K = BounceType, InboundKind

# file: (kind, bounce_type, recipient, status_code, original Message-ID is known)
BOUNCES = {
    "bounce-postfix-user-unknown": (K.bounce, B.hard, "r@p351355.pool.example.ne.jp", "5.1.1", False),
    "bounce-postfix-2": (K.bounce, B.hard, "kijitora@example.co.jp", "5.1.1", True),
    "bounce-postfix-nondsn": (K.bounce, B.soft, None, "4.0.0", True),
    "bounce-exim-user-unknown": (K.bounce, B.hard, "kijitora@example.jp", "5.1.1", True),
    "bounce-exim-blocked": (K.bounce, B.blocked, "kijitora@example.ed.jp", "5.7.0", True),
    "bounce-sendmail-user-unknown": (K.bounce, B.hard, "userunknown@bouncehammer.jp", "5.1.1", True),
    "bounce-sendmail-2": (K.bounce, B.hard, "kijitora@example.com", "5.1.8", True),
    "bounce-office365": (K.bounce, B.hard, "kijitora@example.com", "5.1.0", True),
    "bounce-office365-2": (K.bounce, B.hard, "otsu-sakaba-hunter-neko-nyaaaaaaan@ezweb.ne.jp", "5.1.351", True),
    "bounce-exchange2007": (K.bounce, B.hard, "kijitora@example.edu", "5.2.2", True),
    "bounce-gmail-user-unknown": (K.bounce, B.hard, "userunknown@example.jp", "5.1.1", True),
    "bounce-gmail-blocked": (K.bounce, B.blocked, "kijitora@example.com", "5.7.1", True),
    "bounce-amazonses": (K.bounce, B.hard, "shironeko@example.co.jp", "5.0.0", True),
    "bounce-amazonses-2": (K.bounce, B.hard, "kijitora@example.jp", "5.0.0", True),
    "bounce-qmail": (K.bounce, B.hard, "kijitora@example.ne.jp", "5.5.0", True),
    # Action: delayed -> not a bounce.
    "delayed-sendmail": (K.receipt, None, "this-local-part-does-not-exist-on-the-system@y-mobile.ne.jp", "4.5.0", True),
    "delayed-outlook": (K.receipt, None, "kijitora@example.com", "4.4.7", True),
    "delayed-rfc3464": (K.receipt, None, "kijitora@example.net", "4.4.0", True),
}

# file: (kind, the reply's new text, exactly)
MESSAGES = {
    "autoreply-rfc3834": (K.auto_reply, None),
    "autoreply-exchange": (K.auto_reply, None),
    "autoreply-exchange-2": (K.auto_reply, None),
    "autoreply-apple-vacation": (K.auto_reply, None),
    "autoreply-mimecast": (K.auto_reply, None),
    "reply-gmail": (K.reply, "Hello"),
    "reply-outlook": (K.reply, "Hello"),
    "reply-hotmail": (K.reply, "Hello"),
    "reply-yahoo": (K.reply, "Hello"),
    "reply-apple-mail": (K.reply, "Hello"),
    "reply-apple-mail-2": (K.reply, "Hello"),
    "reply-iphone": (K.reply, "Hello\n\nSent from my iPhone"),
    "reply-thunderbird-bottom-posted": (K.reply, "Hello"),
    "reply-gmail-html-only": (K.reply, "Hi. I am fine.\n\nThanks,\nAlex"),
    "reply-outlook-2010-html-only": (K.reply, "Hi. I am fine.\nThanks,\nAlex"),
    "reply-danish-top-posted": (K.reply, ("Hej Peter,\n\nTak for din mail. Det lyder godt.\n\nMed venlig hilsen\n"
                                         "Anders Andersen")),
    "reply-swedish-apple-mail": (K.reply, ("Hej Person A,\n\nUrsäkta mitt sena svar!\n\nKan inte se att det står "
                                          "något om vilket företag det gäller?\n\nMvh,\nPerson B")),
    "reply-dutch-outlook": (K.reply, "Outlook met een antwoord"),
    "reply-german-gmail": (K.reply, ("Hallo Herr Weber,\n\ndanke für Ihre Nachricht. Am Donnerstag um 14 Uhr passt "
                                    "es mir gut.\n\nViele Grüße\nAnna Schmidt")),
    "reply-french-gmail": (K.reply, ("Bonjour,\n\nOui, cela m'intéresse. Pouvez-vous m'envoyer une documentation ?"
                                    "\n\nCordialement,\nMarie")),
    "unsubscribe-gmail": (K.unsubscribe, "Please remove me from your list."),
    "unsubscribe-french-outlook": (K.unsubscribe, "Merci de me désinscrire de vos envois."),
}


def _parse(name: str):
    return parse_email((MAIL / f"{name}.eml").read_bytes())


@pytest.mark.parametrize("name", sorted(BOUNCES))
def test_delivery_reports(name: str) -> None:
    kind, bounce_type, recipient, status, has_original = BOUNCES[name]
    parsed = _parse(name)
    assert (parsed.kind, parsed.bounce_type, parsed.recipient, parsed.status_code) == (
        kind, bounce_type, recipient, status)
    assert (parsed.original_message_id is not None) is has_original
    assert parsed.reply_text is None


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_replies_and_auto_replies(name: str) -> None:
    kind, text = MESSAGES[name]
    parsed = _parse(name)
    assert parsed.kind is kind
    assert parsed.bounce_type is None
    if text is not None:
        assert parsed.reply_text.replace("\r\n", "\n").strip() == text
        assert ">" not in parsed.reply_text


def test_every_fixture_has_an_expectation() -> None:
    files = {p.stem for p in MAIL.glob("*.eml")}
    assert files == set(BOUNCES) | set(MESSAGES)
    counts = Counter(kind.value for kind, *_ in (*BOUNCES.values(), *MESSAGES.values()))
    assert counts == {"bounce": 15, "receipt": 3, "auto_reply": 5, "reply": 15, "unsubscribe": 2}


def test_reply_threading_headers() -> None:
    parsed = _parse("reply-german-gmail")
    assert parsed.in_reply_to == ["<outreach-1@example.com>"]
    assert parsed.thread_ids == ["<outreach-1@example.com>"]
    assert parsed.from_address == "anna@example.net" and parsed.to_address == "sales@example.com"
    assert parsed.external_id == "<reply-german-gmail@mail.example.net>"


def test_a_message_without_message_id_is_known_by_its_bytes() -> None:
    raw = b"From: a@example.net\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nHello\r\n"
    assert parse_email(raw).external_id == parse_email(raw).external_id != parse_email(raw + b"!").external_id
