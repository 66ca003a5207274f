"""A channel's configuration over HTTP: typed per kind, smtp's CAN-SPAM fields required, and a
provider without its settings refused at go-live and at channel start, starting nothing."""

import pytest
from pydantic import SecretStr

from agent.channels.readiness import provider_configured
from agent.settings import Settings
from tests.flows import act, assert_problem, create, fetch

SMTP_EMAIL = {"kind": "email", "provider": "smtp", "from_address": "ann@clinic.example", "from_name": "Ann",
              "reply_to": "desk@clinic.example", "postal_address": "1 Main St, Springfield, IL 62701"}


@pytest.mark.parametrize("channel,field", [
    ({"kind": "email", "sender": "ann@example.com"}, "sender"),
    ({"kind": "sms", "from_address": "ann@example.com"}, "from_address"),
    ({"kind": "voice", "agent": "ava"}, "agent"),
    ({"kind": "task", "assistant_id": "ava"}, "assistant_id"),
    ({"kind": "sms", "provider": "smtp"}, "provider"),
    ({"kind": "email", "from_address": "not an address"}, "from_address"),
])
async def test_a_key_the_kind_does_not_have_is_refused_naming_it(client, admin, channel, field):
    r = await client.post("/v1/campaigns", json={"name": "x", "channels": [channel]}, headers=admin)
    body = assert_problem(r, 422, "validation_error")
    assert body["errors"][0]["loc"] == ["body", "channels", 0, field]


@pytest.mark.parametrize("missing", ["postal_address", "from_address"])
async def test_an_smtp_email_channel_needs_its_sender_and_postal_address(client, admin, missing):
    channel = {k: v for k, v in SMTP_EMAIL.items() if k != missing}
    r = await client.post("/v1/campaigns", json={"name": "x", "channels": [channel]}, headers=admin)
    body = assert_problem(r, 422, "validation_error")
    assert [e["loc"] for e in body["errors"]] == [["body", "channels", 0, missing]]
    # A draft's channels are replaced through PATCH: the same rule holds there.
    cid = (await create(client, admin))["id"]
    r = await client.patch(f"/v1/campaigns/{cid}", json={"channels": [channel]}, headers=admin)
    assert_problem(r, 422, "validation_error")


async def test_each_kind_keeps_its_typed_config_with_the_sandbox_by_default(client, admin):
    retell = {"provider": "retell", "assistant_id": "ava", "from_number": "+14155550100"}
    channels = [SMTP_EMAIL, {"kind": "sms"}, {"kind": "voice", **retell}, {"kind": "task", "provider": "tasks"}]
    body = await create(client, admin, channels=channels)
    assert [c["config"] for c in body["channels"]] == [
        {k: v for k, v in SMTP_EMAIL.items() if k != "kind"}, {"provider": "sandbox"}, retell, {"provider": "tasks"}]


@pytest.mark.parametrize("channel, missing", [
    ({"kind": "sms", "provider": "twilio"}, "from_number or messaging_service_sid"),
    ({"kind": "voice", "provider": "vapi"}, "phone_number_id"),
    ({"kind": "voice", "provider": "retell"}, "from_number"),
])
async def test_a_provider_channel_without_its_sender_is_refused(client, admin, channel, missing):
    r = await client.post("/v1/campaigns", json={"name": "No sender", "channels": [channel]}, headers=admin)
    body = assert_problem(r, 422, "validation_error")
    assert missing in body["errors"][0]["message"] and body["errors"][0]["loc"] == ["body", "channels", 0]


async def test_sms_and_voice_senders_are_typed(client, admin):
    r = await client.post("/v1/campaigns", json={"name": "Typed", "channels": [
        {"kind": "sms", "provider": "twilio", "from_number": "415-555-0100"}]}, headers=admin)
    assert assert_problem(r, 422, "validation_error")["errors"][0]["loc"] == ["body", "channels", 0, "from_number"]
    r = await client.post("/v1/campaigns", json={"name": "Typed", "channels": [
        {"kind": "email", "phone_number_id": "pn_1"}]}, headers=admin)
    assert assert_problem(r, 422, "validation_error")["errors"][0]["loc"] == ["body", "channels", 0,
                                                                              "phone_number_id"]


async def test_going_live_without_the_providers_settings_is_refused_and_starts_nothing(client, admin, settings):
    assert settings.smtp_url is None
    cid = (await create(client, admin, channels=[SMTP_EMAIL, {"kind": "sms"}]))["id"]
    before = await fetch(client, admin, cid)
    r = await client.post(f"/v1/campaigns/{cid}/go-live", headers=admin)
    body = assert_problem(r, 409, "provider_not_configured")
    assert body["setting"] == "OVERTURE_SMTP_URL" and body["channel_id"] == before["channels"][0]["id"]
    # Nothing started: the campaign and both channels (the sandbox one too) are as they were.
    assert await fetch(client, admin, cid) == before

    settings.smtp_url = SecretStr("smtp://ann:pw@127.0.0.1:2525")
    body = assert_problem(await client.post(f"/v1/campaigns/{cid}/go-live", headers=admin),
                          409, "provider_not_configured")
    assert body["setting"] == "OVERTURE_PUBLIC_URL"
    settings.public_url = "https://overture.example"
    live = await act(client, admin, cid, "go-live")
    assert live["status"] == "active" and [c["status"] for c in live["channels"]] == ["running", "running"]


async def test_starting_or_resuming_a_channel_without_its_settings_is_refused(client, admin, settings):
    settings.public_url = "https://overture.example"
    cid = (await create(client, admin, channels=[{"kind": "sms"}, SMTP_EMAIL]))["id"]
    smtp_id = (await fetch(client, admin, cid))["channels"][1]["id"]
    # Go-live with a configured server, then the setting goes away (a restart with a new env).
    settings.smtp_url = SecretStr("smtp://127.0.0.1:2525")
    await act(client, admin, cid, "go-live")
    await act(client, admin, cid, f"channels/{smtp_id}/pause")
    settings.smtp_url = None
    before = await fetch(client, admin, cid)
    r = await client.post(f"/v1/campaigns/{cid}/channels/{smtp_id}/resume", headers=admin)
    assert_problem(r, 409, "provider_not_configured")
    assert await fetch(client, admin, cid) == before

    draft = (await create(client, admin, channels=[SMTP_EMAIL]))["id"]
    chid = (await fetch(client, admin, draft))["channels"][0]["id"]
    r = await client.post(f"/v1/campaigns/{draft}/channels/{chid}/start", headers=admin)
    assert_problem(r, 409, "provider_not_configured")
    assert (await fetch(client, admin, draft))["channels"][0]["status"] == "ready"


@pytest.mark.parametrize("provider,env", [
    ("sandbox", {}), ("tasks", {}),
    ("smtp", {"smtp_url": SecretStr("smtp://h:25"), "public_url": "https://o.example"}),
])
def test_provider_configured_is_none_when_nothing_is_missing(provider, env):
    assert provider_configured("email", {"provider": provider}, Settings(_env_file=None, **env)) is None


@pytest.mark.parametrize("provider,env,missing", [
    ("smtp", {}, "OVERTURE_SMTP_URL"),
    ("smtp", {"smtp_url": SecretStr("")}, "OVERTURE_SMTP_URL"),
    ("smtp", {"smtp_url": SecretStr("smtp://h:25")}, "OVERTURE_PUBLIC_URL"),
    ("twilio", {"public_url": "https://o.example"}, "OVERTURE_TWILIO_ACCOUNT_SID"),
    ("vapi", {"public_url": "https://o.example"}, "OVERTURE_VAPI_API_KEY"),
    ("retell", {"public_url": "https://o.example"}, "OVERTURE_RETELL_API_KEY"),
])
def test_provider_configured_names_the_missing_setting(provider, env, missing):
    assert provider_configured("voice", {"provider": provider}, Settings(_env_file=None, **env)) == missing
