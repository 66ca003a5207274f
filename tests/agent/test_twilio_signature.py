"""X-Twilio-Signature as Twilio computes it: Twilio's documented example, and signatures made by the
official twilio-python RequestValidator (a test dependency) for the requests our routes receive."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from agent.channels import twilio_signature
from agent.webhooks import SignatureError

# The example of Twilio's "Webhooks security" page: token 12345, this URL, these parameters.
DOC_TOKEN = "12345"
DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = [("CallSid", "CA1234567890ABCDE"), ("Caller", "+12349013030"), ("Digits", "1234"),
              ("From", "+12349013030"), ("To", "+18005551212")]
DOC_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="

TOKEN = "tw-secret-token-0f9e8d7c"
URL = "https://overture.example/v1/inbound/sms"
FORM = [("MessageSid", "SM1f0e3c1e2b9a4f5d8c7b6a5f4e3d2c1b"), ("AccountSid", "AC0123"), ("From", "+14155550199"),
        ("To", "+14155550100"), ("Body", "STOP please"), ("NumMedia", "0"), ("SmsStatus", "received"),
        ("FromCity", ""), ("ApiVersion", "2010-04-01")]


def test_twilios_documented_example():
    assert twilio_signature.compute(DOC_URL, DOC_PARAMS, DOC_TOKEN) == DOC_SIGNATURE
    twilio_signature.verify(DOC_URL, DOC_PARAMS, DOC_SIGNATURE, DOC_TOKEN)


@pytest.mark.parametrize("url", [URL, "https://overture.example:443/v1/inbound/sms", URL + "?campaign=c1",
                                 "http://localhost:8000/v1/inbound/sms/status"])
def test_what_the_official_validator_signs_is_accepted_with_and_without_the_port(url):
    signature = RequestValidator(TOKEN).compute_signature(url, dict(FORM))
    assert twilio_signature.compute(url, FORM, TOKEN) == signature
    twilio_signature.verify(url, FORM, signature, TOKEN)
    if ":8000" in url:
        return  # a real port is part of the URL; only the default one may come and go
    # Twilio may sign the URL with the default port while we know it without (and the reverse).
    parts = url.split("/", 3)
    other = f"{parts[0]}//{parts[2].split(':')[0]}/{parts[3]}" if ":" in parts[2] else \
        f"{parts[0]}//{parts[2]}:{443 if url.startswith('https') else 80}/{parts[3]}"
    twilio_signature.verify(other, FORM, signature, TOKEN)
    assert RequestValidator(TOKEN).validate(other, dict(FORM), signature)


def test_order_of_the_posted_fields_does_not_matter():
    assert twilio_signature.compute(URL, FORM, TOKEN) == twilio_signature.compute(URL, list(reversed(FORM)), TOKEN)


@pytest.mark.parametrize("change", [
    lambda url, form, token: (url, [(k, "STOP" if k == "Body" else v) for k, v in form], token),  # tampered body
    lambda url, form, token: (url, [*form, ("Extra", "1")], token),  # a field added
    lambda url, form, token: (url.replace("/sms", "/sms/status"), form, token),  # another endpoint
    lambda url, form, token: ("https://evil.example/v1/inbound/sms", form, token),  # another host
    lambda url, form, token: (url, form, "not-the-token"),  # another account's token
])
def test_any_change_breaks_the_signature(change):
    signature = RequestValidator(TOKEN).compute_signature(URL, dict(FORM))
    url, form, token = change(URL, FORM, TOKEN)
    with pytest.raises(SignatureError) as err:
        twilio_signature.verify(url, form, signature, token)
    assert err.value.code == "signature_invalid"


@pytest.mark.parametrize("header", [None, ""])
def test_no_signature_is_missing(header):
    with pytest.raises(SignatureError) as err:
        twilio_signature.verify(URL, FORM, header, TOKEN)
    assert err.value.code == "signature_missing"
