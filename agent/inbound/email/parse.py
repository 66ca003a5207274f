"""One raw RFC 5322 message, parsed and classified (pure: no database, no network).

Order matters: a delivery status report first (bounces often carry ``Auto-Submitted`` too), then
an auto-reply, then a person's reply (an unsubscribe request when its new text asks for it).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import getaddresses, parseaddr

from agent.inbound.email import autoreply, body, dsn
from agent.states import BounceType, InboundKind

_MSGID = re.compile(r"<[^<>\s]+>")
# Local parts mail systems send their notices from.
_SYSTEM_SENDERS = {"mailer-daemon", "postmaster", "post_master", "mail-daemon", "mailerdaemon", "double-bounce"}


@dataclass
class ParsedEmail:
    """What a message is and whom it concerns; ``kind`` is ``receipt`` for a status report that is
    not a failure (``Action: delayed``, ``delivered``), which changes nothing."""

    kind: InboundKind
    message_id: str | None
    external_id: str
    from_address: str | None
    to_addresses: list[str]
    subject: str
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    reply_text: str | None = None
    bounce_type: BounceType | None = None
    action: str | None = None
    recipient: str | None = None
    status_code: str | None = None
    diagnostic: str | None = None
    original_message_id: str | None = None

    @property
    def to_address(self) -> str | None:
        return self.to_addresses[0] if self.to_addresses else None

    @property
    def thread_ids(self) -> list[str]:
        """Message-IDs this message points at, the most specific first."""
        ids = [*self.in_reply_to, *reversed(self.references)]
        if self.original_message_id:
            ids.insert(0, self.original_message_id)
        return list(dict.fromkeys(ids))


def parse_email(raw: bytes) -> ParsedEmail:
    message = message_from_bytes(raw, policy=default_policy)
    assert isinstance(message, EmailMessage)
    message_id = _ids(_header(message, "Message-ID"))
    parsed = ParsedEmail(
        kind=InboundKind.reply,
        message_id=message_id[0] if message_id else None,
        # The sender's identity of this delivery; a message without one is known by its bytes.
        external_id=(message_id[0] if message_id else "sha256:" + hashlib.sha256(raw).hexdigest())[:300],
        from_address=_address(_header(message, "From")),
        to_addresses=[a.lower() for _, a in getaddresses([_header(message, "To"), _header(message, "Delivered-To")])
                      if a],
        subject=_header(message, "Subject"),
        in_reply_to=_ids(_header(message, "In-Reply-To")),
        references=_ids(_header(message, "References")),
    )
    status = dsn.read_report(message)
    if status is None and _from_mail_system(message, parsed):
        # A mail system's notice is never a person's reply, even when no detector can read it.
        status = dsn.heuristic_failure(message) or dsn.unreadable_failure(message)
    if status is not None:
        parsed.action, parsed.recipient = status.action, status.recipient
        parsed.status_code, parsed.diagnostic = status.status_code, status.diagnostic
        parsed.original_message_id = status.original_message_id
        parsed.bounce_type = status.bounce_type
        parsed.kind = InboundKind.bounce if status.action == "failed" else InboundKind.receipt
        return parsed
    if autoreply.is_auto_reply(message):
        parsed.kind = InboundKind.auto_reply
        parsed.reply_text = body.body_text(message).strip()[:5000] or None
        return parsed
    parsed.reply_text = body.reply_text(body.body_text(message))
    if body.asks_to_unsubscribe(parsed.reply_text):
        parsed.kind = InboundKind.unsubscribe
    return parsed


def _from_mail_system(message: EmailMessage, parsed: ParsedEmail) -> bool:
    """The heuristic detectors run only on mail from a mail system, never on a person's reply
    (a reply quoting an error message stays a reply)."""
    local = (parsed.from_address or "").partition("@")[0]
    return (not parsed.from_address or local in _SYSTEM_SENDERS
            or message.get_content_type() == "multipart/report")


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
    except (IndexError, ValueError):  # a header the parser cannot read
        value = None
    return str(value) if value is not None else ""


def _address(value: str) -> str | None:
    _, addr = parseaddr(value)
    return addr.lower() or None


def _ids(value: str) -> list[str]:
    return _MSGID.findall(value)
