"""Delivery status reports: RFC 3464 read with the stdlib, the rest with ``flufl.bounce``.

A report's ``Action`` decides what it means: only ``failed`` is a bounce; ``delayed`` (the
server is still trying), ``delivered``, ``relayed`` and ``expanded`` are receipts we ignore. The
status class decides the kind of bounce: 5.7.x is a policy block, other 5.x.x hard, 4.x.x soft.
Non-standard bounces (old Exim, qmail, Exchange, Yahoo...) carry no ``Action``; flufl.bounce's
detectors find their permanently failed recipients, and those count as hard bounces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, HeaderParser
from email.policy import default as default_policy
from email.utils import getaddresses

from flufl.bounce import all_failures

from agent.states import BounceType

# RFC 3463 enhanced status code, as a report or a diagnostic writes it.
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_ANGLE = re.compile(r"<[^<>\s]+>")


@dataclass(frozen=True)
class DeliveryStatus:
    """What a delivery status report says of one recipient."""

    action: str  # failed | delayed | delivered | relayed | expanded (lower case)
    recipient: str | None
    status_code: str | None
    diagnostic: str | None
    original_message_id: str | None

    @property
    def bounce_type(self) -> BounceType | None:
        if self.action != "failed":
            return None
        return bounce_type_of(self.status_code)


def bounce_type_of(status_code: str | None) -> BounceType:
    """5.7.x blocked, 4.x.x soft, anything else that failed hard (a failure without a code is
    permanent: a server that gives up says so)."""
    if status_code and status_code.startswith("4."):
        return BounceType.soft
    if status_code and status_code.startswith("5.7."):
        return BounceType.blocked
    return BounceType.hard


def read_report(message: EmailMessage) -> DeliveryStatus | None:
    """The first recipient of an RFC 3464 ``multipart/report``, or None when it is not one."""
    if message.get_content_type() != "multipart/report":
        return None
    fields = _status_fields(message)
    if fields is None:
        return None
    _per_message, recipients = fields
    chosen = next((r for r in recipients if r.get("action", "").lower() == "failed"), None)
    chosen = chosen or (recipients[0] if recipients else None)
    if chosen is None:
        return None
    diagnostic = _clean(chosen.get("diagnostic-code"))
    status = _status(chosen.get("status")) or _status(diagnostic)
    recipient = _address(chosen.get("final-recipient")) or _address(chosen.get("original-recipient"))
    return DeliveryStatus(action=(chosen.get("action") or "").strip().lower(), recipient=recipient,
                          status_code=status, diagnostic=diagnostic,
                          original_message_id=original_message_id(message))


def heuristic_failure(message: Message) -> DeliveryStatus | None:
    """A non-standard bounce found by flufl.bounce's detectors, or None."""
    temporary, permanent = all_failures(message)
    failed = sorted(permanent) or sorted(temporary)
    if not failed:
        return None
    recipient = failed[0].decode("utf-8", "replace").strip("<>").lower()
    text = _body_text(message)
    status = _status(text)
    if status is None:
        status = "4.0.0" if not permanent else None
    return DeliveryStatus(action="failed", recipient=recipient, status_code=status,
                          diagnostic=_diagnostic_line(text, recipient), original_message_id=original_message_id(message))


def unreadable_failure(message: Message) -> DeliveryStatus:
    """A mail system's notice no detector can read: a bounce of unknown recipient, hard only when
    its text carries a 5.x.x code, else soft (recorded, nothing ends on a guess)."""
    text = _body_text(message)
    status = _status(text)
    return DeliveryStatus(action="failed", recipient=None, status_code=status or "4.0.0",
                          diagnostic=_diagnostic_line(text, "@"), original_message_id=original_message_id(message))


def original_message_id(message: Message) -> str | None:
    """The Message-ID of the message that bounced, from its returned headers or whole copy
    (``text/rfc822-headers``, ``message/rfc822``, or a ``Message-ID:`` line quoted in the text)."""
    for part in message.walk():
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message) and inner.get("Message-ID"):
                return _msgid(inner["Message-ID"])
        elif ctype in ("text/rfc822-headers", "text/rfc822-header"):
            raw = part.get_payload(decode=True) or b""
            headers = BytesHeaderParser(policy=default_policy).parsebytes(raw)
            if headers.get("Message-ID"):
                return _msgid(headers["Message-ID"])
    # Older formats paste the original headers into the text part.
    for line in _body_text(message).splitlines():
        key, sep, value = line.strip().partition(":")
        if sep and key.strip().lower() == "message-id":
            return _msgid(value)
    return None


def _status_fields(message: EmailMessage) -> tuple[dict[str, str], list[dict[str, str]]] | None:
    """The ``message/delivery-status`` part's per-message and per-recipient field groups."""
    for part in message.walk():
        if part.get_content_type() not in ("message/delivery-status", "message/global-delivery-status"):
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            # The stdlib parses each group of fields as a headers-only message.
            groups = [{k.lower(): str(v) for k, v in block.items()} for block in payload]
        else:
            text = payload if isinstance(payload, str) else ""
            groups = [{k.lower(): str(v) for k, v in HeaderParser().parsestr(block.strip() + "\n").items()}
                      for block in re.split(r"\r?\n\s*\r?\n", text) if block.strip()]
        if not groups:
            return None
        recipients = [g for g in groups if "action" in g or "final-recipient" in g]
        return groups[0], recipients
    return None


def _address(value: str | None) -> str | None:
    """``rfc822; user@example.com`` -> ``user@example.com``."""
    if not value:
        return None
    _, _, addr = value.partition(";")
    addr = (addr or value).strip()
    parsed = getaddresses([addr])
    found = parsed[0][1] if parsed and parsed[0][1] else addr.strip("<> ")
    return found.lower() or None


def _status(value: str | None) -> str | None:
    match = _STATUS.search(value or "")
    return ".".join(match.groups()) if match else None


def _clean(value: str | None) -> str | None:
    if not value:
        return None
    _, sep, rest = value.partition(";")
    text = " ".join((rest if sep else value).split())
    return text[:1000] or None


def _msgid(value: str) -> str | None:
    match = _ANGLE.search(value)
    return match.group(0) if match else (value.strip() or None)


def _body_text(message: Message) -> str:
    chunks: list[str] = []
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True) or b""
            chunks.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    return "\n".join(chunks)


def _diagnostic_line(text: str, recipient: str) -> str | None:
    """The line of a free-text bounce that explains the failure (the one with a status code or the
    recipient), for a human reading the record."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if _STATUS.search(line) or re.search(r"\b[45]\d\d\b", line):
            return line[:1000]
    for line in lines:
        if recipient in line.lower():
            return line[:1000]
    return None
