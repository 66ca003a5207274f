"""The Vapi and Retell call adapters against local servers speaking their create-call APIs: the
request each makes (path, Bearer key, JSON body pointing the assistant at our hook), that the hook
would find the contact from what the call carries, and how each answer is typed."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx
import pytest

from agent.channels import PROVIDERS, AmbiguousFailure, OutboundMessage, PermanentFailure, TransientFailure, channel_for
from agent.channels.retell import RETELL, RetellChannel
from agent.channels.vapi import VAPI, VapiChannel
from agent.channels.voicecall import VoiceCallChannel
from agent.models import CallerNumber
from agent.numbers.pacing import Slot, use_number
from agent.settings import Settings
from agent.states import Substatus
from agent.voice.calls import OUTBOUND, parse_call
from agent.voice.retell import RetellCall, call_info
from tests.provider_server import Adapters, ProviderServer, Reply, refused_url

KEY = "voice-secret-key-5a4b3c2d"
PUBLIC = "https://overture.example.com"
CALLER, CALLEE = "+14155550100", "+14155550199"
META = {"campaign_id": "cmp_01", "contact_id": "con_01", "enrollment_id": "enr_01"}
VAPI_CALL = {"id": "8c1e6d0a-5b7f-4f4e-9a1d-2f3c4b5a6d7e", "orgId": "org-1", "type": "outboundPhoneCall",
             "status": "queued", "phoneNumberId": "pn-1", "customer": {"number": CALLEE},
             "createdAt": "2025-01-01T00:00:00.000Z", "updatedAt": "2025-01-01T00:00:00.000Z"}
RETELL_CALL = {"call_type": "phone_call", "from_number": CALLER, "to_number": CALLEE, "direction": "outbound",
               "call_id": "Jabr9TXYYJHfvl6Syypi88rdAHYHmcq6", "agent_id": "oBeDLoLOeuAbiuaMFXRtDOLriTJ5tSxD",
               "call_status": "registered", "metadata": META, "retell_llm_dynamic_variables": META}


OPENED = Adapters()


@pytest.fixture(autouse=True)
async def _close_clients():
    yield
    await OPENED.close()


@dataclass(frozen=True)
class Provider:
    name: str
    cls: type[VoiceCallChannel]
    path: str
    success: dict
    call_id: str
    config: dict  # the channel config the provider needs

    def error(self, status: int, message: str) -> dict:
        if self.name == "vapi":  # NestJS's error shape
            return {"message": [message], "error": "Bad Request", "statusCode": status}
        return {"status": "error", "message": message}


VAPI_P = Provider("vapi", VapiChannel, "/call", VAPI_CALL, VAPI_CALL["id"], {"phone_number_id": "pn-1"})
RETELL_P = Provider("retell", RetellChannel, "/v2/create-phone-call", RETELL_CALL, RETELL_CALL["call_id"],
                    {"from_number": CALLER})


@pytest.fixture(params=[VAPI_P, RETELL_P], ids=lambda p: p.name)
def provider(request):
    return request.param


def serving(provider: Provider) -> ProviderServer:
    return ProviderServer(path=provider.path, authorization=f"Bearer {KEY}", default=Reply(201, provider.success),
                          unauthorized=Reply(401, provider.error(401, "Invalid Key")))


@pytest.fixture
def server(provider):
    with serving(provider) as s:
        yield s


@pytest.fixture
def vapi_server():
    with serving(VAPI_P) as s:
        yield s


@pytest.fixture
def retell_server():
    with serving(RETELL_P) as s:
        yield s


def adapter(provider: Provider, base_url: str, *, read_timeout: float = 5.0, key: str = KEY,
            public_url: str | None = PUBLIC) -> VoiceCallChannel:
    settings = Settings(**{f"{provider.name}_api_key": key, f"{provider.name}_base_url": base_url},
                        public_url=public_url)
    OPENED.append(made := provider.cls(settings, timeout=httpx.Timeout(5.0, read=read_timeout)))
    return made


def call(provider: Provider, **config) -> OutboundMessage:
    return OutboundMessage(outreach_id="out_1", idempotency_key="idem-1", channel="voice", to=CALLEE, subject=None,
                           body="Ask Maria whether Tuesday works.", metadata=META,
                           config={"provider": provider.name, **provider.config, **config})


def test_vapi_and_retell_are_registered_voice_providers():
    assert PROVIDERS["vapi"]() is VAPI and PROVIDERS["retell"]() is RETELL
    assert channel_for("voice", {"provider": "vapi"}) is VAPI
    assert channel_for("voice", {"provider": "retell"}) is RETELL


async def test_call_is_created_with_bearer_key_and_answered_with_its_id(provider, server):
    result = await adapter(provider, server.base_url).send(call(provider))
    assert (result.provider, result.provider_message_id) == (provider.name, provider.call_id)
    [seen] = server.seen
    assert seen.path == provider.path and seen.headers["content-type"] == "application/json"


async def test_vapi_transient_assistant_talks_through_our_hook_and_carries_the_ids(vapi_server):
    server = vapi_server
    await adapter(VAPI_P, server.base_url).send(call(VAPI_P))
    body = server.seen[0].json
    assert body["phoneNumberId"] == "pn-1" and body["customer"] == {"number": CALLEE}
    assistant = body["assistant"]
    assert assistant["model"] == {"provider": "custom-llm", "url": f"{PUBLIC}/v1/voice", "model": "overture-voice",
                                  "metadataSendMode": "variable"}
    assert assistant["metadata"] == {**META, "outreach_id": "out_1", "direction": "outbound"}
    assert "assistantId" not in body

    # What Vapi then POSTs to {url}/chat/completions: the assistant's metadata, the call, the customer.
    hook_request = {"messages": [{"role": "user", "content": "Hello?"}], "metadata": assistant["metadata"],
                    "call": {**VAPI_CALL, "metadata": {}}, "customer": body["customer"]}
    seen_by_hook = parse_call(hook_request)
    assert (seen_by_hook.call_id, seen_by_hook.campaign_id) == (VAPI_CALL["id"], "cmp_01")
    assert (seen_by_hook.direction, seen_by_hook.to_number) == (OUTBOUND, CALLEE)


async def test_vapi_calls_from_the_rotated_numbers_own_id(vapi_server):
    rotated = CallerNumber(id="num_7", number="+12125550183", provider_number_id="pn-rot-7")
    await adapter(VAPI_P, vapi_server.base_url).send(use_number(call(VAPI_P), Slot(number=rotated)))
    body = vapi_server.seen[0].json
    assert body["phoneNumberId"] == "pn-rot-7"  # not the channel's pn-1, which rotation did not count
    assert body["assistant"]["metadata"]["caller_number"] == "+12125550183"


async def test_vapi_refuses_a_rotated_number_without_its_id_before_any_request(vapi_server):
    rotated = CallerNumber(id="num_8", number="+12125550184", provider_number_id=None)
    with pytest.raises(PermanentFailure) as refused:
        await adapter(VAPI_P, vapi_server.base_url).send(use_number(call(VAPI_P), Slot(number=rotated)))
    assert refused.value.substatus == Substatus.identity_misconfigured and "+12125550184" in str(refused.value)
    assert vapi_server.seen == []


async def test_vapi_saved_assistant_gets_the_hook_and_ids_as_overrides(vapi_server):
    server = vapi_server
    await adapter(VAPI_P, server.base_url).send(call(VAPI_P, assistant_id="asst-9"))
    body = server.seen[0].json
    assert body["assistantId"] == "asst-9" and "assistant" not in body
    assert body["assistantOverrides"]["model"]["url"] == f"{PUBLIC}/v1/voice"
    assert body["assistantOverrides"]["metadata"]["campaign_id"] == "cmp_01"


async def test_vapi_refuses_to_call_without_a_public_url_for_the_hook(vapi_server):
    server = vapi_server
    with pytest.raises(PermanentFailure) as caught:
        await adapter(VAPI_P, server.base_url, public_url=None).send(call(VAPI_P))
    assert caught.value.code == "provider_not_configured" and server.seen == []


async def test_retell_call_names_numbers_agent_and_ids_the_hook_reads(retell_server):
    server = retell_server
    await adapter(RETELL_P, server.base_url).send(call(RETELL_P, assistant_id="agent-7"))
    body = server.seen[0].json
    ids = {**META, "outreach_id": "out_1", "direction": "outbound"}
    assert body == {"from_number": CALLER, "to_number": CALLEE, "override_agent_id": "agent-7",
                    "metadata": ids, "retell_llm_dynamic_variables": ids}
    # Retell hands the call back in its call_details frame; the hook reads it like this.
    info = call_info("Jabr9", RetellCall(**{**RETELL_CALL, "metadata": body["metadata"],
                                          "retell_llm_dynamic_variables": body["retell_llm_dynamic_variables"]}))
    assert (info.campaign_id, info.direction, info.to_number) == ("cmp_01", OUTBOUND, CALLEE)


async def test_retell_without_an_agent_override_uses_the_numbers_agent(retell_server):
    server = retell_server
    await adapter(RETELL_P, server.base_url).send(call(RETELL_P))
    assert "override_agent_id" not in server.seen[0].json


async def test_channel_without_a_caller_is_refused_before_any_request(provider, server):
    message = call(provider, **{key: None for key in provider.config})
    with pytest.raises(PermanentFailure) as caught:
        await adapter(provider, server.base_url).send(message)
    assert caught.value.substatus is Substatus.identity_misconfigured and server.seen == []


async def test_a_bad_request_is_a_permanent_failure(provider, server):
    server.then(Reply(400, provider.error(400, "to_number must be a valid phone number in the E.164 format.")))
    with pytest.raises(PermanentFailure) as caught:
        await adapter(provider, server.base_url).send(call(provider))
    assert caught.value.substatus is Substatus.failed and "E.164" in str(caught.value)


async def test_a_provider_out_of_credits_is_credits_exhausted(provider, server):
    server.then(Reply(402, provider.error(402, "Wallet balance is too low to start the call.")))
    with pytest.raises(PermanentFailure) as caught:
        await adapter(provider, server.base_url).send(call(provider))
    assert caught.value.substatus is Substatus.credits_exhausted and caught.value.code == "402"


@pytest.mark.parametrize("status", [408, 429, 500, 503])
async def test_timeouts_rate_limits_and_server_errors_are_transient(provider, server, status):
    server.then(Reply(status, provider.error(status, "try later"), headers={"Retry-After": "3"}))
    with pytest.raises(TransientFailure) as caught:
        await adapter(provider, server.base_url).send(call(provider))
    assert caught.value.retry_after_s == 3.0 and caught.value.code == str(status)


async def test_a_provider_that_takes_the_request_and_hangs_is_ambiguous(provider, server):
    server.then(Reply(hang=True))
    with pytest.raises(AmbiguousFailure):
        await adapter(provider, server.base_url, read_timeout=0.3).send(call(provider))
    assert len(server.seen) == 1


async def test_an_accepted_call_without_an_id_is_ambiguous(provider, server):
    server.then(Reply(201, {"status": "queued"}))
    with pytest.raises(AmbiguousFailure):
        await adapter(provider, server.base_url).send(call(provider))


async def test_connection_refused_is_transient(provider):
    with pytest.raises(TransientFailure) as caught:
        await adapter(provider, refused_url()).send(call(provider))
    assert caught.value.code == "ConnectError"


async def test_the_api_key_never_reaches_exceptions_or_logs(provider, server, caplog):
    for name in (None, "httpx", "httpcore"):  # litellm turns httpx's logger down to WARNING on import
        caplog.set_level(logging.DEBUG, logger=name)
    server.then(Reply(400, provider.error(400, f"bad key {KEY}")), Reply(hang=True))
    failures = []
    for read_timeout in (5.0, 0.3):
        with pytest.raises(Exception) as caught:
            await adapter(provider, server.base_url, read_timeout=read_timeout).send(call(provider))
        failures.append(caught.value)
    with pytest.raises(PermanentFailure) as wrong:
        await adapter(provider, server.base_url, key=KEY[::-1]).send(call(provider))
    assert wrong.value.substatus is Substatus.channel_disconnected
    failures.append(wrong.value)
    texts = [str(f) for f in failures] + [repr(f) for f in failures] + [str(f.__cause__) for f in failures]
    assert all(KEY not in t and KEY[::-1] not in t for t in texts), texts
    assert KEY not in caplog.text and KEY[::-1] not in caplog.text
    assert any(r.name.startswith("httpx") for r in caplog.records)


async def test_missing_key_refuses_without_a_request(provider, server):
    unset = provider.cls(Settings(**{f"{provider.name}_base_url": server.base_url}, public_url=PUBLIC))
    with pytest.raises(PermanentFailure) as caught:
        await unset.send(call(provider))
    assert caught.value.code == "provider_not_configured" and server.seen == []
