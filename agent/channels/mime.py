"""An outreach email as the bytes sent: headers, the body and its CAN-SPAM footer, plain text.

:func:`build_email` writes it with the standard library's ``EmailMessage``, which handles any
input (non-ASCII names and subjects, odd addresses) but parses every header it is given and
costs milliseconds a message. :func:`render_email` writes the same bytes by hand for the common
case (plain ASCII headers of simple addresses; a body the library would send as 7bit, 8bit or
quoted-printable) and hands anything else to :func:`build_email`, so the result is always what
``build_email(...).as_bytes(policy=SMTP_POLICY)`` would give (tests/agent/test_mime.py compares
the two byte for byte).
"""

from __future__ import annotations

import binascii
import datetime as dt
import re
from email import quoprimime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formatdate
from typing import Any

from agent.channels.base import OutboundMessage

# CRLF line ends; headers fold only past RFC 5322's hard limit, so a long unsubscribe link stays
# on its header's line (some receivers read List-Unsubscribe without unfolding it).
SMTP_POLICY = SMTP.clone(max_line_length=998)
# Characters a Message-ID's left part may carry (RFC 5322 dot-atom-text, without the dot rules).
_NOT_ATEXT = re.compile(r"[^A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]")

# What render_email writes itself; anything else goes through EmailMessage.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_SIMPLE_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
_SIMPLE_NAME = re.compile(r"[A-Za-z0-9]+(?: [A-Za-z0-9]+)*")
_SIMPLE_TEXT = re.compile(r"[!-~]+(?: [!-~]+)*")  # printable ASCII, single spaces inside
_SIMPLE_KEY = re.compile(r"[A-Za-z0-9_-]+")
# EmailMessage's body heuristic reads lines against the default policy's 78 characters.
_BODY_LINE = 78
_LONGEST_HEADER = 900


def message_id_for(idempotency_key: str, from_address: str) -> str:
    """``<key@domain-of-sender>``: the same on every attempt of one outreach."""
    domain = from_address.rpartition("@")[2] or "localhost"
    return f"<{_NOT_ATEXT.sub('-', idempotency_key)}@{domain}>"


def footer(postal_address: str | None, unsubscribe_url: str | None) -> str:
    """The lines CAN-SPAM asks of a commercial email, added below the body at send time."""
    lines = [line for line in (postal_address, f"Unsubscribe: {unsubscribe_url}" if unsubscribe_url else None)
             if line]
    return "\n\n-- \n" + "\n".join(lines) + "\n" if lines else ""


def config_str(message: OutboundMessage, key: str) -> str | None:
    value: Any = message.config.get(key)
    return str(value) if value else None


def _body(message: OutboundMessage) -> str:
    return message.body.rstrip("\n") + footer(config_str(message, "postal_address"), message.unsubscribe_url)


def build_email(message: OutboundMessage, *, date: str | None = None) -> EmailMessage:
    """The message as sent: headers, the body and its footer, plain text."""
    sender = config_str(message, "from_address") or ""
    email = EmailMessage()
    email["From"] = Address(display_name=config_str(message, "from_name") or "", addr_spec=sender)
    email["To"] = message.to or ""
    email["Subject"] = message.subject or ""
    reply_to = config_str(message, "reply_to")
    if reply_to:
        email["Reply-To"] = reply_to
    email["Date"] = date or formatdate(usegmt=True)
    email["Message-ID"] = message_id_for(message.idempotency_key, sender)
    if message.unsubscribe_url:
        # RFC 8058 one-click: mail clients POST to the URL without opening a page.
        email["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email.set_content(_body(message))
    return email


def render_email(message: OutboundMessage, *, date: str | None = None) -> bytes:
    """``build_email(message).as_bytes(policy=SMTP_POLICY)``, written directly when it can be."""
    date = date or format_datetime(dt.datetime.now(dt.UTC).replace(microsecond=0))
    fast = _render(message, date)
    return fast if fast is not None else build_email(message, date=date).as_bytes(policy=SMTP_POLICY)


def _render(message: OutboundMessage, date: str) -> bytes | None:
    sender = config_str(message, "from_address") or ""
    name = config_str(message, "from_name")
    reply_to = config_str(message, "reply_to")
    subject = message.subject or ""
    if not (_SIMPLE_ADDRESS.fullmatch(sender) and _SIMPLE_ADDRESS.fullmatch(message.to or "")
            and (name is None or _SIMPLE_NAME.fullmatch(name))
            and (reply_to is None or _SIMPLE_ADDRESS.fullmatch(reply_to))
            and (not subject or _SIMPLE_TEXT.fullmatch(subject))
            and _SIMPLE_KEY.fullmatch(message.idempotency_key)
            and (message.unsubscribe_url is None or _SIMPLE_TEXT.fullmatch(message.unsubscribe_url))) \
            or "=?" in subject + (message.unsubscribe_url or ""):
        return None  # encoded words, quoting or folding: the library's to write
    encoded = _encode_body(_body(message))
    if encoded is None:
        return None
    cte, payload = encoded
    headers = [f"From: {name} <{sender}>" if name else f"From: {sender}", f"To: {message.to}",
               f"Subject: {subject}" if subject else "Subject:"]
    if reply_to:
        headers.append(f"Reply-To: {reply_to}")
    headers += [f"Date: {date}", f"Message-ID: {message_id_for(message.idempotency_key, sender)}"]
    if message.unsubscribe_url:
        headers += [f"List-Unsubscribe: <{message.unsubscribe_url}>",
                    "List-Unsubscribe-Post: List-Unsubscribe=One-Click"]
    if any(len(h) > _LONGEST_HEADER for h in headers):
        return None
    headers += ['Content-Type: text/plain; charset="utf-8"', f"Content-Transfer-Encoding: {cte}",
                "MIME-Version: 1.0"]
    head = ("\r\n".join(headers) + "\r\n\r\n").encode("ascii")
    return head + b"\r\n".join(payload.split(b"\n")[:-1]) + b"\r\n"


def _encode_body(text: str) -> tuple[str, bytes] | None:
    """The transfer encoding ``EmailMessage.set_content`` picks and the payload it writes (lines
    ending in LF), or None where it would pick base64."""
    lines = text.encode("utf-8").splitlines()
    normal = b"\n".join(lines) + b"\n"
    if max((len(x) for x in lines), default=0) <= _BODY_LINE:
        return ("7bit" if normal.isascii() else "8bit"), normal
    sniff = b"\n".join(lines[:10]) + b"\n"
    sniff_qp = quoprimime.body_encode(sniff.decode("latin-1"), _BODY_LINE)
    if len(sniff_qp) > len(binascii.b2a_base64(sniff)):
        return None
    data = sniff_qp if len(lines) <= 10 else quoprimime.body_encode(normal.decode("latin-1"), _BODY_LINE)
    return "quoted-printable", data.encode("latin-1")
