"""Twilio's own webhook signature, ``X-Twilio-Signature``, checked exactly as Twilio documents it.

The signed text is the full URL Twilio requested (our public URL + path + query) followed by
every POST parameter sorted by name, each name and value concatenated; the signature is the
base64 of its HMAC-SHA1 keyed with the account's Auth Token (twilio-python's
``RequestValidator.compute_signature``). Like that validator we accept the URL with and without
the default port, because Twilio's own signing is inconsistent about it.

Twilio signs no timestamp, so there is no "stale" to refuse here: replay protection is the
inbound store's dedup by ``MessageSid`` (+ status), which makes a replayed delivery change
nothing. Pure: no I/O, no settings; the caller passes the parsed form (all values, blanks kept).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

from agent.webhooks import SignatureError

HEADER = "X-Twilio-Signature"
_DEFAULT_PORTS = {"https": 443, "http": 80}


def compute(url: str, params: Iterable[tuple[str, str]], token: str) -> str:
    """The ``X-Twilio-Signature`` Twilio sends for a POST of ``params`` to ``url``."""
    values: dict[str, set[str]] = {}
    for name, value in params:
        values.setdefault(name, set()).add(value)
    text = url + "".join(name + value for name in sorted(values) for value in sorted(values[name]))
    digest = hmac.new(token.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _with_and_without_port(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    bare = urlunsplit(parts._replace(netloc=host)) if parts.port else url
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 80)
    with_port = url if parts.port else urlunsplit(parts._replace(netloc=f"{parts.netloc}:{port}"))
    return bare, with_port


def verify(url: str, params: list[tuple[str, str]], signature: str | None, token: str) -> None:
    """Raise ``SignatureError`` unless ``signature`` signs ``params`` posted to ``url``."""
    if not signature:
        raise SignatureError(f"send the {HEADER} header", code="signature_missing")
    for candidate in _with_and_without_port(url):
        if hmac.compare_digest(compute(candidate, params, token).encode(), signature.strip().encode()):
            return
    raise SignatureError(f"the {HEADER} does not match this request")
