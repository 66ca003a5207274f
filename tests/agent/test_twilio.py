"""The Twilio SMS adapter against a local server speaking the Messages API: the request it makes
(path, Basic auth, form fields, the opt-out line) and how each answer is typed."""

from __future__ import annotations

import base64
import logging

import httpx
import pytest

from agent.channels import PROVIDERS, AmbiguousFailure, OutboundMessage, PermanentFailure, TransientFailure, channel_for
from agent.channels.rest import close_clients
from agent.channels.rules import SMS_OPT_OUT_LINE
from agent.channels.twilio import TWILIO, TwilioChannel
from agent.settings import Settings
from agent.states import Substatus
from tests.provider_server import Adapters, ProviderServer, Reply, refused_url

SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "tw-secret-token-0f9e8d7c"
PATH = f"/2010-04-01/Accounts/{SID}/Messages.json"
SENDER, RECIPIENT = "+14155550100", "+14155550199"


OPENED = Adapters()


@pytest.fixture(autouse=True)
async def _close_clients():
    yield
    await OPENED.close()


def message_resource(sid: str = "SM1f0e3c1e2b9a4f5d8c7b6a5f4e3d2c1b") -> dict:
    """Twilio's answer to a create (201): the Message resource, queued."""
    return {"account_sid": SID, "api_version": "2010-04-01", "body": "...", "date_created": None,
            "direction": "outbound-api", "error_code": None, "error_message": None, "from": SENDER,
            "messaging_service_sid": None, "num_media": "0", "num_segments": "1", "price": None,
            "sid": sid, "status": "queued", "to": RECIPIENT, "uri": f"/2010-04-01/Accounts/{SID}/Messages/{sid}.json"}


def twilio_error(code: int, message: str, status: int) -> dict:
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}


@pytest.fixture
def twilio():
    basic = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    with ProviderServer(path=PATH, authorization=basic, default=Reply(201, message_resource()),
                        unauthorized=Reply(401, twilio_error(20003, "Authenticate", 401))) as server:
        yield server


def channel(base_url: str, *, read_timeout: float = 5.0, token: str = TOKEN,
            public_url: str | None = "https://overture.example.com") -> TwilioChannel:
    settings = Settings(twilio_account_sid=SID, twilio_auth_token=token, twilio_base_url=base_url,
                        public_url=public_url)
    OPENED.append(made := TwilioChannel(settings, timeout=httpx.Timeout(5.0, read=read_timeout)))
    return made


def sms(body: str = "Hi Maria, are you free Tuesday? Reply STOP to opt out.", **config) -> OutboundMessage:
    return OutboundMessage(outreach_id="out_1", idempotency_key="idem-1", channel="sms", to=RECIPIENT,
                           subject=None, body=body, config={"provider": "twilio", "from_number": SENDER, **config})


def test_twilio_is_the_registered_sms_provider():
    assert PROVIDERS["twilio"]() is TWILIO
    assert channel_for("sms", {"provider": "twilio"}) is TWILIO


async def test_message_is_posted_as_twilio_form_with_basic_auth_and_status_callback(twilio):
    result = await channel(twilio.base_url).send(sms())
    assert (result.provider, result.provider_message_id) == ("twilio", "SM1f0e3c1e2b9a4f5d8c7b6a5f4e3d2c1b")
    [seen] = twilio.seen
    assert seen.path == PATH
    assert seen.headers["content-type"] == "application/x-www-form-urlencoded"
    assert seen.form == {"To": RECIPIENT, "From": SENDER,
                         "Body": "Hi Maria, are you free Tuesday? Reply STOP to opt out.",
                         "StatusCallback": "https://overture.example.com/v1/inbound/sms/status"}


async def test_opt_out_line_is_appended_only_when_the_body_lacks_it(twilio):
    await channel(twilio.base_url).send(sms("Hi Maria, are you free Tuesday?"))
    await channel(twilio.base_url).send(sms(f"Hi again. {SMS_OPT_OUT_LINE}"))
    first, second = (s.form["Body"] for s in twilio.seen)
    assert first == f"Hi Maria, are you free Tuesday?\n{SMS_OPT_OUT_LINE}"
    assert second == f"Hi again. {SMS_OPT_OUT_LINE}"


async def test_messaging_service_picks_the_sender_when_configured(twilio):
    await channel(twilio.base_url).send(sms(messaging_service_sid="MG0123", from_number=None))
    form = twilio.seen[0].form
    assert form["MessagingServiceSid"] == "MG0123" and "From" not in form


async def test_no_status_callback_without_a_public_url(twilio):
    await channel(twilio.base_url, public_url=None).send(sms())
    assert "StatusCallback" not in twilio.seen[0].form


async def test_channel_without_a_sender_is_refused_before_any_request(twilio):
    with pytest.raises(PermanentFailure) as caught:
        await channel(twilio.base_url).send(sms(from_number=None))
    assert caught.value.substatus is Substatus.identity_misconfigured
    assert twilio.seen == []


async def test_unsubscribed_recipient_21610_is_a_permanent_opt_out(twilio):
    twilio.then(Reply(400, twilio_error(21610, "Attempt to send to unsubscribed recipient", 400)))
    with pytest.raises(PermanentFailure) as caught:
        await channel(twilio.base_url).send(sms())
    assert caught.value.substatus is Substatus.opted_out and caught.value.code == "21610"


@pytest.mark.parametrize("code", [21211, 21614])
async def test_invalid_or_landline_number_is_a_permanent_failure(twilio, code):
    twilio.then(Reply(400, twilio_error(code, f"The 'To' number {RECIPIENT} is not valid", 400)))
    with pytest.raises(PermanentFailure) as caught:
        await channel(twilio.base_url).send(sms())
    assert caught.value.substatus is Substatus.failed and caught.value.code == str(code)


async def test_rate_limit_429_is_transient_with_retry_after(twilio):
    twilio.then(Reply(429, twilio_error(20429, "Too Many Requests", 429), headers={"Retry-After": "7"}))
    with pytest.raises(TransientFailure) as caught:
        await channel(twilio.base_url).send(sms())
    assert caught.value.retry_after_s == 7.0 and caught.value.code == "20429"


async def test_server_error_500_is_transient(twilio):
    twilio.then(Reply(500, twilio_error(20500, "Internal Server Error", 500)))
    with pytest.raises(TransientFailure) as caught:
        await channel(twilio.base_url).send(sms())
    assert caught.value.retry_after_s is None


async def test_a_provider_that_takes_the_request_and_hangs_is_ambiguous(twilio):
    twilio.then(Reply(hang=True))
    with pytest.raises(AmbiguousFailure):
        await channel(twilio.base_url, read_timeout=0.3).send(sms())
    assert len(twilio.seen) == 1 and twilio.seen[0].form["To"] == RECIPIENT  # it was handed over


async def test_connection_refused_is_transient():
    with pytest.raises(TransientFailure) as caught:
        await channel(refused_url()).send(sms())
    assert caught.value.code == "ConnectError"


async def test_the_auth_token_never_reaches_exceptions_or_logs(twilio, caplog):
    for name in (None, "httpx", "httpcore"):  # litellm turns httpx's logger down to WARNING on import
        caplog.set_level(logging.DEBUG, logger=name)
    # Twilio echoing the token back is not documented; the scrub makes sure it would not leak.
    twilio.then(Reply(400, twilio_error(21604, f"bad request {TOKEN}", 400)),
                Reply(hang=True))
    failures = []
    for read_timeout in (5.0, 0.3):
        with pytest.raises(Exception) as caught:
            await channel(twilio.base_url, read_timeout=read_timeout).send(sms())
        failures.append(caught.value)
    with pytest.raises(PermanentFailure) as wrong:
        await channel(twilio.base_url, token="not-the-token-" + TOKEN[::-1]).send(sms())
    assert wrong.value.substatus is Substatus.channel_disconnected  # 401: our credentials, not the contact
    failures.append(wrong.value)
    with pytest.raises(TransientFailure) as refused:
        await channel(refused_url()).send(sms())
    failures.append(refused.value)
    texts = [str(f) for f in failures] + [repr(f) for f in failures] + [str(f.__cause__) for f in failures]
    assert all(TOKEN not in t and TOKEN[::-1] not in t for t in texts), texts
    assert TOKEN not in caplog.text and TOKEN[::-1] not in caplog.text
    assert any(r.name.startswith("httpx") for r in caplog.records)  # the client did log its requests


async def test_missing_settings_refuse_without_a_request(twilio):
    unset = TwilioChannel(Settings(twilio_base_url=twilio.base_url))
    with pytest.raises(PermanentFailure) as caught:
        await unset.send(sms())
    assert caught.value.code == "provider_not_configured" and twilio.seen == []


async def test_close_clients_closes_the_loops_client_and_the_next_send_opens_another(twilio):
    adapter = channel(twilio.base_url)
    await adapter.send(sms())
    first = adapter.http.client()
    await close_clients()
    assert first.is_closed
    await adapter.send(sms())
    assert adapter.http.client() is not first and len(twilio.seen) == 2
