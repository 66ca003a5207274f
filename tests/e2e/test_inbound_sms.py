"""Twilio's webhooks over HTTP, signed by the official twilio-python RequestValidator: an SMS is
sent for real (the adapter against a local server speaking the Messages API, so the stored Sid is
the one Twilio answered), then the contact's texts and Twilio's status callbacks come back.
Unsigned or tampered requests are 401 and store nothing; a replay changes nothing."""

from __future__ import annotations

import base64
import json
from urllib.parse import urlencode

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from agent.channels.rest import close_clients
from agent.db import session_scope
from agent.models import ActivityEvent, Conversation, ConversationTurn, InboundMessage, Outreach, Suppression
from agent.webhooks import sign
from tests.builders import add_outreach, count, outreach_row
from tests.conftest import drain_queue
from tests.flows import assert_problem, enrollments, queue_with_drafts, zone_at_noon
from tests.provider_server import ProviderServer, Reply

SID, TOKEN = "AC0123456789abcdef0123456789abcdef", "tw-secret-token-0f9e8d7c"
PUBLIC = "https://overture.example"
OUR_NUMBER, ANN_PHONE = "+14155550100", "+14155550199"
MESSAGE_SID = "SM1f0e3c1e2b9a4f5d8c7b6a5f4e3d2c1b"
SMS = {"kind": "sms", "provider": "twilio", "from_number": OUR_NUMBER}
EMAIL = {"kind": "email"}


def ann() -> dict:
    return {"name": "Ann Lee", "email": "ann@example.com", "phone": ANN_PHONE, "timezone": zone_at_noon()}


@pytest.fixture
def twilio(settings):
    basic = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    created = {"sid": MESSAGE_SID, "status": "queued", "account_sid": SID, "to": ANN_PHONE, "from": OUR_NUMBER}
    with ProviderServer(path=f"/2010-04-01/Accounts/{SID}/Messages.json", authorization=basic,
                        default=Reply(201, created), unauthorized=Reply(401, {"code": 20003})) as server:
        settings.twilio_account_sid, settings.twilio_auth_token = SID, SecretStr(TOKEN)
        settings.twilio_base_url, settings.public_url = server.base_url, PUBLIC
        yield server


@pytest.fixture(autouse=True)
async def _close_provider_clients():
    yield
    await close_clients()


def signed(path: str, form: dict[str, str], token: str = TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(PUBLIC + path, form),
            "Content-Type": "application/x-www-form-urlencoded"}


async def post(client, path: str, form: dict[str, str], headers: dict[str, str] | None = None):
    return await client.post(path, content=urlencode(form), headers=signed(path, form) if headers is None else headers)


def incoming(body: str, *, sid: str = "SMin0001", frm: str = ANN_PHONE, to: str = OUR_NUMBER) -> dict[str, str]:
    """Twilio's incoming-message webhook form, as its docs list the fields."""
    return {"ToCountry": "US", "SmsMessageSid": sid, "NumMedia": "0", "SmsSid": sid, "SmsStatus": "received",
            "Body": body, "To": to, "NumSegments": "1", "MessageSid": sid, "AccountSid": SID, "From": frm,
            "ApiVersion": "2010-04-01", "FromCity": "", "FromState": "CA"}


def status(message_status: str, *, error_code: str | None = None, sid: str = MESSAGE_SID) -> dict[str, str]:
    form = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": message_status, "SmsStatus": message_status,
            "AccountSid": SID, "From": OUR_NUMBER, "To": ANN_PHONE, "ApiVersion": "2010-04-01"}
    if error_code:
        form["ErrorCode"] = error_code
    return form


def assert_twiml(r) -> None:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/xml")
    assert r.text.endswith("<Response/>")


async def sent_sms(client, admin, twilio, **campaign) -> tuple[str, str]:
    """A campaign whose SMS to Ann went out through the Twilio adapter: (campaign id, outreach id)."""
    cid, [item] = await queue_with_drafts(client, admin, 1, channels=(SMS,), contacts=[ann()], **campaign)
    assert (await client.post(f"/v1/outreaches/{item['id']}/approve", headers=admin)).status_code == 200
    assert (await client.post(f"/v1/campaigns/{cid}/execute-approved", headers=admin)).json() == {"queued": 1}
    await drain_queue()
    row = await outreach_row(item["id"])
    assert (row.status, row.provider_message_id) == ("sent", MESSAGE_SID), row.error
    assert twilio.seen[-1].form["StatusCallback"] == PUBLIC + "/v1/inbound/sms/status"
    return cid, item["id"]


async def stored() -> int:
    return await count(InboundMessage)


# -- refused ---------------------------------------------------------------------------------

async def test_unsigned_tampered_or_misaddressed_requests_are_401_and_store_nothing(client, admin, twilio):
    cid, _ = await sent_sms(client, admin, twilio)
    form = incoming("STOP")
    good = signed("/v1/inbound/sms", form)
    cases = [
        ({"Content-Type": "application/x-www-form-urlencoded"}, form, "signature_missing"),
        (good, {**form, "Body": "Sounds good"}, "signature_invalid"),  # the body changed after signing
        (good, {**form, "From": "+14155550123"}, "signature_invalid"),
        (signed("/v1/inbound/sms", form, token="another-account"), form, "signature_invalid"),
        (signed("/v1/inbound/sms/status", form), form, "signature_invalid"),  # signed for the other URL
    ]
    for headers, body, code in cases:
        r = await client.post("/v1/inbound/sms", content=urlencode(body), headers=headers)
        assert_problem(r, 401, code)
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.post("/v1/inbound/sms/status", content=urlencode(status("delivered")),
                          headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "AAAA"})
    assert_problem(r, 401, "signature_invalid")
    # JSON instead of Twilio's form, and our own webhook scheme instead of Twilio's: refused too.
    raw = json.dumps(form).encode()
    r = await client.post("/v1/inbound/sms", content=raw,
                          headers={"Content-Type": "application/json", "X-Overture-Signature": sign(raw, "x")})
    assert_problem(r, 401, "signature_missing")
    assert await stored() == 0
    assert await count(Suppression) == 0
    assert (await enrollments(client, admin, cid))["Ann"]["status"] != "finished"


async def test_without_a_token_or_public_url_twilio_webhooks_are_refused(client, admin, twilio, settings):
    settings.twilio_auth_token = None
    r = await post(client, "/v1/inbound/sms", incoming("hi"))
    assert_problem(r, 503, "webhooks_disabled")
    assert await stored() == 0


# -- replies -----------------------------------------------------------------------------------

async def test_a_reply_moves_the_enrollment_once_however_often_twilio_delivers_it(client, admin, twilio):
    cid, outreach_id = await sent_sms(client, admin, twilio)
    form = incoming("Tuesday works, thanks")
    for _ in range(3):  # Twilio retries, and anyone holding a captured request may replay it
        assert_twiml(await post(client, "/v1/inbound/sms", form))
    assert (await enrollments(client, admin, cid))["Ann"]["status"] == "replied"
    async with session_scope() as s:
        [message] = (await s.execute(select(InboundMessage))).scalars().all()
        conv = await s.get(Conversation, message.conversation_id)
        turns = (await s.execute(select(ConversationTurn.role, ConversationTurn.content)
                                 .where(ConversationTurn.conversation_id == conv.id)
                                 .order_by(ConversationTurn.seq))).all()
    assert (message.status, message.kind, message.outreach_id, message.external_id) == (
        "applied", "reply", outreach_id, "SMin0001")
    assert [t.role for t in turns] == ["assistant", "user"] and turns[1].content == "Tuesday works, thanks"
    assert await count(Suppression) == 0


async def test_a_text_from_a_number_we_never_texted_is_kept_unmatched(client, admin, twilio):
    cid, _ = await sent_sms(client, admin, twilio)
    assert_twiml(await post(client, "/v1/inbound/sms", incoming("STOP", frm="+14155550123")))
    # Ann's number, but to a number none of our channels sends from: not this workspace's thread.
    assert_twiml(await post(client, "/v1/inbound/sms", incoming("STOP", sid="SMin0002", to="+14155550177")))
    async with session_scope() as s:
        rows = (await s.execute(select(InboundMessage.status, InboundMessage.workspace_id))).all()
    assert sorted(rows) == [("unmatched", None), ("unmatched", None)]
    assert await count(Suppression) == 0
    assert (await enrollments(client, admin, cid))["Ann"]["status"] != "finished"


# -- receipts ----------------------------------------------------------------------------------

async def test_receipts_move_forward_only_and_each_applies_once(client, admin, twilio):
    _, outreach_id = await sent_sms(client, admin, twilio)
    for s in ("queued", "sent"):
        assert_twiml(await post(client, "/v1/inbound/sms/status", status(s)))
    assert (await outreach_row(outreach_id)).status == "sent"
    assert_twiml(await post(client, "/v1/inbound/sms/status", status("delivered")))
    assert (await outreach_row(outreach_id)).status == "delivered"
    # Callbacks can arrive out of order: a late "sent" must not undo "delivered".
    assert_twiml(await post(client, "/v1/inbound/sms/status", status("sent")))
    assert_twiml(await post(client, "/v1/inbound/sms/status", status("delivered")))  # a replay
    assert (await outreach_row(outreach_id)).status == "delivered"
    async with session_scope() as s:
        rows = (await s.execute(select(InboundMessage.external_id, InboundMessage.status, InboundMessage.kind)
                                .order_by(InboundMessage.external_id))).all()
        delivered_events = (await s.execute(select(func.count()).select_from(ActivityEvent).where(
            ActivityEvent.kind == "outreach.delivered"))).scalar_one()
    assert rows == [(f"{MESSAGE_SID}:delivered", "applied", "receipt"), (f"{MESSAGE_SID}:queued", "ignored", "receipt"),
                    (f"{MESSAGE_SID}:sent", "ignored", "receipt")]
    assert delivered_events == 1


async def test_an_undelivered_text_fails_and_error_21610_opts_the_number_out(client, admin, twilio):
    cid, outreach_id = await sent_sms(client, admin, twilio)
    assert_twiml(await post(client, "/v1/inbound/sms/status", status("undelivered", error_code="21610")))
    row = await outreach_row(outreach_id)
    assert row.status == "failed" and "21610" in (row.error or "")
    r = await client.get("/v1/suppressions", headers=admin)
    [entry] = r.json()["items"]
    assert (entry["phone"], entry["channel"], entry["source"]) == (ANN_PHONE, "sms", "twilio:21610")
    ann_enrollment = (await enrollments(client, admin, cid))["Ann"]
    assert (ann_enrollment["status"], ann_enrollment["substatus"]) == ("finished", "opted_out")


async def test_a_callback_for_a_message_we_did_not_send_is_kept_unmatched(client, admin, twilio):
    assert_twiml(await post(client, "/v1/inbound/sms/status", status("delivered", sid="SMnotours")))
    async with session_scope() as s:
        assert (await s.execute(select(InboundMessage.status))).scalars().all() == ["unmatched"]


# -- STOP across the workspace, START back -------------------------------------------------------

async def test_sms_stop_suppresses_across_campaigns_and_voids_approved_drafts(client, admin, twilio):
    """Ann is in two campaigns, with approved drafts on sms and email; her STOP reaches both."""
    first, _ = await sent_sms(client, admin, twilio)
    second, [item] = await queue_with_drafts(client, admin, 1, channels=(EMAIL,), contacts=[ann()])
    assert (await client.post(f"/v1/outreaches/{item['id']}/approve", headers=admin)).status_code == 200
    people = await enrollments(client, admin, first)
    approved_sms = await add_outreach(first, people["Ann"]["id"], status="approved", channel="sms", body="Hi again")
    drafted = {item["id"], approved_sms}
    async with session_scope() as s:
        channels = set((await s.execute(select(Outreach.channel).where(Outreach.id.in_(drafted)))).scalars())
    assert channels == {"sms", "email"}
    sends_before = len(twilio.seen)

    form = incoming("Stop please!!", sid="SMstop01")
    assert_twiml(await post(client, "/v1/inbound/sms", form))
    assert_twiml(await post(client, "/v1/inbound/sms", form))  # redelivered: one row, one suppression

    r = await client.get("/v1/suppressions", headers=admin)
    [entry] = r.json()["items"]
    assert (entry["phone"], entry["channel"]) == (ANN_PHONE, "sms")
    for cid in (first, second):
        e = (await enrollments(client, admin, cid))["Ann"]
        assert (e["status"], e["substatus"]) == ("finished", "opted_out"), cid
    for outreach_id in drafted:
        assert (await outreach_row(outreach_id)).status == "cancelled"
    for cid in (first, second):
        assert (await client.post(f"/v1/campaigns/{cid}/execute-approved", headers=admin)).json() == {"queued": 0}
    await drain_queue()
    assert len(twilio.seen) == sends_before  # nothing more went to Twilio
    async with session_scope() as s:
        [message] = (await s.execute(select(InboundMessage))).scalars().all()
    assert (message.kind, message.status, message.text) == ("unsubscribe", "applied", "Stop please!!")


async def test_a_longer_message_that_mentions_stop_is_a_reply_not_an_opt_out(client, admin, twilio):
    cid, _ = await sent_sms(client, admin, twilio)
    assert_twiml(await post(client, "/v1/inbound/sms", incoming("don't stop the delivery, I need it Friday")))
    assert await count(Suppression) == 0
    assert (await enrollments(client, admin, cid))["Ann"]["status"] == "replied"


async def test_start_lifts_the_sms_opt_out_and_a_bare_yes_is_just_a_reply(client, admin, twilio):
    cid, _ = await sent_sms(client, admin, twilio)
    assert_twiml(await post(client, "/v1/inbound/sms", incoming("STOP", sid="SMa")))
    assert await count(Suppression, channel="sms") == 1
    assert_twiml(await post(client, "/v1/inbound/sms", incoming("START", sid="SMb")))
    assert await count(Suppression) == 0
    e = (await enrollments(client, admin, cid))["Ann"]
    assert (e["status"], e["substatus"]) == ("finished", "opted_out")  # opting in restarts no sequence
    assert_twiml(await post(client, "/v1/inbound/sms", incoming("YES", sid="SMc")))
    async with session_scope() as s:
        kinds = dict((await s.execute(select(InboundMessage.external_id, InboundMessage.kind))).all())
    assert kinds == {"SMa": "unsubscribe", "SMb": "opt_in", "SMc": "reply"}
