"""Webhook signatures (agent/webhooks.py): HMAC-SHA256 over "<t>.<raw body>", 5 minutes either way,
several v1 values for secret rotation. Pure, so no database; the HTTP side is in test_events.py."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from agent.webhooks import SignatureError, WebhooksDisabled, sign, signature, verify

SECRET = "whsec_test_0123456789"
BODY = b'{"call_id":"call_1","answer_status":"human"}'
T = 1_760_000_000


def code_of(header, body=BODY, secrets=SECRET, now=T) -> str:
    with pytest.raises(SignatureError) as info:
        verify(header, body, secrets, now=now)
    assert info.value.status == 401
    return info.value.code


def test_signature_is_the_documented_hmac_of_t_dot_body():
    # Written out from API.md, independently of the module, so the scheme cannot drift.
    want = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signature(BODY, SECRET, T) == want
    assert sign(BODY, SECRET, timestamp=T) == f"t={T},v1={want}"


def test_a_good_signature_verifies_and_returns_its_timestamp():
    assert verify(sign(BODY, SECRET, timestamp=T), BODY, SECRET, now=T) == T
    # Spaces after commas and upper-case hex are tolerated.
    t, v1 = sign(BODY, SECRET, timestamp=T).split(",")
    assert verify(f"{t}, {v1.upper().replace('V1=', 'v1=')}", BODY, SECRET, now=T) == T


def test_missing_or_garbled_header_is_signature_missing():
    good_v1 = signature(BODY, SECRET, T)
    for header in (None, "", "garbage", f"v1={good_v1}", f"t={T}", f"t=soon,v1={good_v1}",
                   f"t={T},v1=nothex", f"t={T},v2={good_v1}", f"t={'9' * 40},v1={good_v1}"):
        assert code_of(header) == "signature_missing", header


def test_wrong_secret_or_changed_body_is_signature_invalid():
    assert code_of(sign(BODY, "another-secret", timestamp=T)) == "signature_invalid"
    assert code_of(sign(BODY, SECRET, timestamp=T), body=BODY + b" ") == "signature_invalid"
    # The timestamp is signed: moving it breaks the signature.
    assert code_of(f"t={T + 1},v1={signature(BODY, SECRET, T)}") == "signature_invalid"


def test_more_than_five_minutes_either_way_is_signature_expired():
    header = sign(BODY, SECRET, timestamp=T)
    assert verify(header, BODY, SECRET, now=T + 300) == T
    assert verify(header, BODY, SECRET, now=T - 300) == T
    assert code_of(header, now=T + 301) == "signature_expired"
    assert code_of(header, now=T - 301) == "signature_expired"


def test_a_stale_forgery_is_invalid_not_expired():
    # "Expired" is only said of deliveries really signed with the secret.
    assert code_of(sign(BODY, "another-secret", timestamp=T - 3600)) == "signature_invalid"


def test_rotation_any_of_several_v1_values_may_match():
    header = sign(BODY, ["old-secret", SECRET], timestamp=T)
    assert header.count("v1=") == 2
    assert verify(header, BODY, SECRET, now=T) == T
    assert verify(header, BODY, "old-secret", now=T) == T
    assert code_of(header, secrets="third-secret") == "signature_invalid"
    # The receiver may hold several secrets too.
    assert verify(sign(BODY, "old-secret", timestamp=T), BODY, ["new-secret", "old-secret"], now=T) == T


def test_no_secret_configured_refuses_everything():
    with pytest.raises(WebhooksDisabled) as info:
        verify(sign(BODY, SECRET, timestamp=T), BODY, [], now=T)
    assert (info.value.status, info.value.code) == (503, "webhooks_disabled")
    with pytest.raises(WebhooksDisabled):
        verify(sign(BODY, "", timestamp=T), BODY, "", now=T)
