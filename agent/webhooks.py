"""Signed inbound webhooks: ``X-Overture-Signature: t=<unix seconds>,v1=<hex>``.

``v1`` is the hex HMAC-SHA256 of ``"<t>.<raw body>"`` keyed with ``OVERTURE_WEBHOOK_SECRET``
(Stripe's scheme). The timestamp is inside the signed text, so a captured delivery cannot be
replayed once it is older than the tolerance; several ``v1=`` values may be sent so a sender can
sign with the old and the new secret while the secret rotates. Pure: no I/O, no settings. The
caller passes the raw body bytes, before any JSON parsing (a re-serialised body would not match).

A sender (a relay in front of the voice platform, a test) signs exactly the bytes it posts::

    body = json.dumps(report).encode()
    httpx.post(f"{base}/v1/voice/events", content=body,
               headers={"Content-Type": "application/json", HEADER: sign(body, secret)})
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Sequence

from agent.errors import OvertureError

HEADER = "X-Overture-Signature"
SCHEME = "v1"
TOLERANCE_S = 300  # both ways: a sender's clock may run a little ahead of ours
_HEX = re.compile(r"^[0-9a-f]{64}$")
_MAX_T_DIGITS = 12  # far beyond any real time; keeps int() of a hostile header cheap


class SignatureError(OvertureError):
    """The delivery is not proven to come from someone holding the secret (answered 401)."""

    status, code, title = 401, "signature_invalid", "Unauthorized"


class WebhooksDisabled(OvertureError):
    """No secret is configured, so no delivery can be verified (and none is accepted)."""

    status, code, title = 503, "webhooks_disabled", "Service unavailable"


def signature(body: bytes, secret: str, timestamp: int) -> str:
    """The ``v1`` value for ``body`` sent at ``timestamp``."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str | Sequence[str], *, timestamp: int | None = None) -> str:
    """The header value a sender puts on ``body``; several secrets give several ``v1=`` values."""
    t = int(time.time()) if timestamp is None else timestamp
    secrets = [secret] if isinstance(secret, str) else list(secret)
    return ",".join([f"t={t}", *(f"{SCHEME}={signature(body, s, t)}" for s in secrets)])


def _parse(header: str | None) -> tuple[int, list[str]]:
    if not header:
        raise SignatureError(f"send the {HEADER} header", code="signature_missing")
    t: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        value = value.strip()
        if not sep:
            continue
        if key == "t" and value.isascii() and value.isdigit() and len(value) <= _MAX_T_DIGITS:
            t = int(value)
        elif key == SCHEME and _HEX.match(value.lower()):
            candidates.append(value.lower())
        # Other schemes (a future v2) are ignored, as Stripe's receivers do.
    if t is None or not candidates:
        raise SignatureError(f"{HEADER} must look like 't=<unix seconds>,{SCHEME}=<hex HMAC-SHA256>'",
                             code="signature_missing")
    return t, candidates


def verify(header: str | None, body: bytes, secrets: str | Sequence[str], *, now: float | None = None,
           tolerance_s: int = TOLERANCE_S) -> int:
    """The signed timestamp when ``header`` proves ``body``; else :class:`SignatureError`.

    Codes: ``signature_missing`` (no header, or not in the expected shape), ``signature_invalid``
    (no ``v1`` value matches any secret), ``signature_expired`` (genuine but more than
    ``tolerance_s`` away from ``now``, either way). The signature is checked first, so "expired"
    is only ever said of a delivery that really was signed with the secret.
    """
    keys = [s for s in ([secrets] if isinstance(secrets, str) else secrets) if s]
    if not keys:
        raise WebhooksDisabled("no webhook secret is configured (OVERTURE_WEBHOOK_SECRET); deliveries are refused")
    t, candidates = _parse(header)
    expected = [signature(body, key, t) for key in keys]
    # Every pair is compared (no early exit), each in constant time.
    matched = False
    for candidate in candidates:
        for want in expected:
            matched |= hmac.compare_digest(candidate, want)
    if not matched:
        raise SignatureError("the signature does not match the body and the webhook secret",
                             code="signature_invalid")
    now = time.time() if now is None else now
    if abs(now - t) > tolerance_s:
        raise SignatureError(f"the signature's timestamp is more than {tolerance_s} seconds from now; "
                             "check the sender's clock, or this is a replay", code="signature_expired")
    return t
