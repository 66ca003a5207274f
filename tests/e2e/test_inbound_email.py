"""Inbound email end to end: emails sent through the smtp provider to a real SMTP server, then the
contacts' replies, a bounce and an out-of-office taken in through the signed endpoint and through
``overture mail-receiver``'s SMTP server, each moving the campaign once."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import aiosmtplib
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from agent.db import session_scope
from agent.inbound.email import receiver
from agent.models import InboundMessage, Suppression
from agent.webhooks import HEADER, sign
from tests.builders import add_outreach, count, enrollment_row, outreach_row, turns
from tests.conftest import drain_queue
from tests.e2e import test_send_email
from tests.flows import (
    assert_problem,
    by_name,
    live_campaign,
    people,
    queue_with_drafts,
    zone_at_noon,
)

SENDER = test_send_email.SENDER
inbox = test_send_email.inbox  # the SMTP server the smtp provider delivers to
SECRET = "whsec_inbound_email_test"
FIXTURE = "tests/fixtures/mail/autoreply-exchange.eml"


@pytest.fixture
def secret(settings) -> str:
    settings.webhook_secret = SecretStr(SECRET)
    return SECRET


async def _sent(client, admin, inbox, n: int = 4) -> tuple[str, dict]:
    """``n`` contacts each sent one email (through the SMTP server) with a step-2 draft waiting."""
    cid, items = await queue_with_drafts(client, admin, n, channels=(SENDER,),
                                         contacts=people(n, timezone=zone_at_noon()))
    for item in items:
        assert (await client.post(f"/v1/outreaches/{item['id']}/approve", headers=admin)).status_code == 200
    assert (await client.post(f"/v1/campaigns/{cid}/execute-approved", headers=admin)).json() == {"queued": n}
    await drain_queue()
    named = by_name(items)
    out = {}
    for name, item in named.items():
        row = await outreach_row(item["id"])
        assert row.status == "sent", row.error
        mail = next(m for m in inbox.received if m["To"] == row_to(item))
        nxt = await add_outreach(cid, row.enrollment_id, status="awaiting_approval", channel="email",
                                 body="A second note", step=2)
        out[name] = {"outreach": row, "mail": mail, "next": nxt, "email": row_to(item)}
    return cid, out


def row_to(item: dict) -> str:
    return f"{item['contact']['name'].split()[0].lower()}@example.com"


def reply_to(mail, text: str, *, sender: str | None = None) -> bytes:
    """A Gmail-style answer to ``mail``: the new text above the quoted original."""
    reply = EmailMessage()
    reply["From"] = sender or mail["To"]
    reply["To"] = mail["From"]
    reply["Subject"] = "Re: " + str(mail["Subject"])
    reply["Message-ID"] = f"<reply-{mail['Message-ID'][1:-1]}>"
    reply["In-Reply-To"] = mail["Message-ID"]
    reply["References"] = mail["Message-ID"]
    quoted = "\n".join("> " + line for line in mail.get_content().splitlines())
    reply.set_content(f"{text}\n\nOn Mon, Nov 24, 2025 at 9:12 AM Ann Lee <ann@clinic.example> wrote:\n\n{quoted}\n")
    return reply.as_bytes(policy=SMTP)


def bounce_of(mail, *, action: str = "failed", status: str = "5.1.1") -> bytes:
    """The RFC 3464 report Postfix writes for an unknown user, with the original's headers."""
    original = "".join(f"{k}: {v}\r\n" for k, v in mail.items())
    return f"""From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\r
To: {mail["From"]}\r
Subject: Undelivered Mail Returned to Sender\r
Message-ID: <20251124091300.AB12C3@mx.example.com>\r
Auto-Submitted: auto-replied\r
MIME-Version: 1.0\r
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"\r
\r
--B1\r
Content-Type: text/plain; charset=us-ascii\r
\r
This is the mail system at host mx.example.com.\r
\r
I'm sorry to have to inform you that your message could not be delivered.\r
\r
--B1\r
Content-Type: message/delivery-status\r
\r
Reporting-MTA: dns; mx.example.com\r
\r
Final-Recipient: rfc822; {mail["To"]}\r
Action: {action}\r
Status: {status}\r
Diagnostic-Code: smtp; 550 {status} Recipient address rejected: User unknown\r
\r
--B1\r
Content-Type: text/rfc822-headers\r
\r
{original}\r
--B1--\r
""".encode()


def out_of_office_from(address: str) -> bytes:
    """A real Exchange "Automatic reply", from our contact's address."""
    raw = Path(FIXTURE).read_bytes()
    return raw.replace(b"nekonyaan@example.org", address.encode())


async def post(client, raw: bytes, *, key: str = SECRET, content_type: str = "message/rfc822"):
    return await client.post("/v1/inbound/email", content=raw,
                             headers={"Content-Type": content_type, HEADER: sign(raw, key)})


async def status_of(client, admin, cid: str) -> dict[str, tuple[str, str | None]]:
    r = await client.get(f"/v1/campaigns/{cid}/contacts", headers=admin)
    return {i["contact"]["first_name"]: (i["status"], i.get("substatus")) for i in r.json()["items"]}


async def test_replies_bounces_and_out_of_office_move_the_campaign_once(client, admin, inbox, secret):
    cid, sent = await _sent(client, admin, inbox)
    ann, bo, cy, di = (sent[n] for n in ("Ann", "Bo", "Cy", "Di"))

    # Ann answers through the signed endpoint; the same delivery twice is kept once.
    raw = reply_to(ann["mail"], "Yes, Tuesday at 10 works for me.")
    first = await post(client, raw)
    assert first.status_code == 202, first.text
    again = await post(client, raw)
    assert again.status_code == 202 and again.json() == first.json()
    assert await count(InboundMessage) == 1
    shown = (await client.get(f"/v1/inbound-messages/{first.json()['id']}", headers=admin)).json()
    assert shown["status"] == "applied" and shown["kind"] == "reply"
    assert shown["text"] == "Yes, Tuesday at 10 works for me."
    assert shown["outreach_id"] == ann["outreach"].id and shown["enrollment_id"] == ann["outreach"].enrollment_id
    assert shown["contact_id"]
    async with session_scope() as s:
        conversation_id = (await s.get(InboundMessage, shown["id"])).conversation_id
    # Applied once: the thread holds our email and one answer, however often it was delivered.
    assert [role for role, _ in await turns(conversation_id)] == ["assistant", "user"]
    assert (await outreach_row(ann["next"])).status == "cancelled"

    # Bo answers through the SMTP receiver.
    server = await receiver.start("127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        await aiosmtplib.send(reply_to(bo["mail"], "Please call me next week instead."), sender=bo["email"],
                              recipients=["ann@clinic.example"], hostname="127.0.0.1", port=port)
    finally:
        server.close()
        await server.wait_closed()
    async with session_scope() as s:
        via_smtp = (await s.scalars(select(InboundMessage).where(InboundMessage.provider == "smtp"))).one()
    assert via_smtp.status == "applied" and via_smtp.text == "Please call me next week instead."
    assert (await outreach_row(bo["next"])).status == "cancelled"

    # Cy's address bounced (matched by the returned Message-ID); Di is out of office (matched by sender).
    assert (await post(client, bounce_of(cy["mail"]))).status_code == 202
    assert (await post(client, out_of_office_from(di["email"]))).status_code == 202

    await drain_queue()
    statuses = await status_of(client, admin, cid)
    assert statuses["Ann"][0] == statuses["Bo"][0] == "replied"
    assert statuses["Cy"] == ("finished", "bounced") and statuses["Di"] == ("finished", "out_of_office")
    assert (await outreach_row(cy["outreach"].id)).status == "failed"
    assert await count(Suppression, email_key=cy["email"]) == 1
    for person in (cy, di):
        assert (await outreach_row(person["next"])).status == "cancelled"
    # Nothing more goes out: every step-2 draft is void.
    assert (await client.post(f"/v1/campaigns/{cid}/execute-approved", headers=admin)).json() == {"queued": 0}
    assert len(inbox.received) == 4
    assert await count(InboundMessage) == 4


async def test_a_delayed_report_changes_nothing_and_a_stranger_is_unmatched(client, admin, inbox, secret):
    _, sent = await _sent(client, admin, inbox, n=1)
    ann = sent["Ann"]
    delayed = bounce_of(ann["mail"], action="delayed", status="4.4.7")
    r = await post(client, delayed)
    shown = (await client.get(f"/v1/inbound-messages/{r.json()['id']}", headers=admin)).json()
    assert (shown["kind"], shown["status"], shown["outreach_id"]) == ("receipt", "ignored", ann["outreach"].id)
    assert (await outreach_row(ann["outreach"].id)).status == "sent"
    stranger = reply_to(ann["mail"], "Who is this?", sender="nobody@elsewhere.example").replace(
        ann["mail"]["Message-ID"].encode(), b"<unknown@elsewhere.example>")
    r = await post(client, stranger)
    assert r.status_code == 202
    async with session_scope() as s:
        row = await s.get(InboundMessage, r.json()["id"])
    assert (row.kind, row.status, row.workspace_id) == ("unmatched", "unmatched", None)
    # Unmatched messages belong to no workspace: an admin cannot read them by id.
    assert (await client.get(f"/v1/inbound-messages/{row.id}", headers=admin)).status_code == 404
    assert (await enrollment_row(ann["outreach"].enrollment_id)).status != "replied"


async def test_unsigned_tampered_oversized_and_wrong_type_are_refused(client, secret):
    raw = b"From: a@example.net\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nHello\r\n"
    assert_problem(await client.post("/v1/inbound/email", content=raw, headers={"Content-Type": "message/rfc822"}),
                   401, "signature_missing")
    signed = sign(raw, SECRET)
    assert_problem(await client.post("/v1/inbound/email", content=raw + b"!",
                                     headers={"Content-Type": "message/rfc822", HEADER: signed}),
                   401, "signature_invalid")
    assert_problem(await post(client, raw, key="another secret"), 401, "signature_invalid")
    assert_problem(await post(client, raw, content_type="application/json"), 415, "unsupported_media_type")
    big = raw + b"x" * (10 * 1024 * 1024)
    assert_problem(await post(client, big), 413, "payload_too_large")  # api/limits.py, before the body is read
    assert await count(InboundMessage) == 0


def test_the_cli_names_the_receiver():
    from typer.testing import CliRunner

    from api.cli import app

    result = CliRunner().invoke(app, ["mail-receiver", "--help"])
    assert result.exit_code == 0 and "--port" in result.output


def import_mail(to: str, sender: str, csv: bytes, *, message_id: str) -> bytes:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, to, "Contacts for the webinar"
    mail["Message-ID"] = message_id
    mail.set_content("New sign-ups attached.")
    mail.add_attachment(csv, maintype="text", subtype="csv", filename="signups.csv")
    return mail.as_bytes(policy=SMTP)


async def test_import_by_email_from_the_authorized_sender_only(client, admin, settings, secret):
    settings.inbound_domain = "in.overture.example"
    cid = await live_campaign(client, admin)
    r = await client.put(f"/v1/campaigns/{cid}/email-import", headers=admin,
                         json={"mapping": {"Full name": "name", "E-mail": "email"},
                               "authorized_sender": "Ops@Clinic.example"})
    assert r.status_code == 200, r.text
    config = r.json()
    assert config["address"].startswith("import-") and config["address"].endswith("@in.overture.example")
    assert config["authorized_sender"] == "ops@clinic.example"
    again = await client.put(f"/v1/campaigns/{cid}/email-import", headers=admin,
                             json={"mapping": {"Full name": "name", "E-mail": "email"},
                                   "authorized_sender": "ops@clinic.example"})
    assert again.json()["address"] == config["address"]  # the address a sender saved keeps working
    csv = b"Full name,E-mail\nAnn Lee,ann@example.com\nBo Chen,bo@example.com\n"

    ok = await post(client, import_mail(config["address"], "ops@clinic.example", csv, message_id="<imp1@clinic>"))
    assert ok.status_code == 202
    refused = await post(client, import_mail(config["address"], "mallory@evil.example", csv,
                                             message_id="<imp2@evil>"))
    assert refused.status_code == 202
    await drain_queue()
    shown = (await client.get(f"/v1/inbound-messages/{refused.json()['id']}", headers=admin)).json()
    assert shown["status"] == "refused"
    assert (await client.get(f"/v1/inbound-messages/{ok.json()['id']}", headers=admin)).json()["status"] == "applied"
    history = (await client.get(f"/v1/campaigns/{cid}/imports", headers=admin)).json()["items"]
    by_status = {item["status"]: item for item in history}
    assert set(by_status) == {"succeeded", "failed"} and len(history) == 2
    assert by_status["succeeded"]["added"] == 2 and by_status["succeeded"]["filename"] == "signups.csv"
    assert by_status["failed"]["error_code"] == "sender_not_authorized" and by_status["failed"]["added"] == 0
    contacts = (await client.get(f"/v1/campaigns/{cid}/contacts", headers=admin)).json()["items"]
    assert sorted(c["contact"]["email"] for c in contacts) == ["ann@example.com", "bo@example.com"]


async def test_import_address_needs_the_inbound_domain(client, admin):
    cid = await live_campaign(client, admin)
    r = await client.put(f"/v1/campaigns/{cid}/email-import", headers=admin,
                         json={"mapping": {}, "authorized_sender": "ops@clinic.example"})
    assert_problem(r, 409, "inbound_domain_not_set")
    r = await client.put(f"/v1/campaigns/{cid}/email-import", headers=admin,
                         json={"mapping": {}, "authorized_sender": "not an address"})
    assert r.status_code == 422


async def test_a_reply_asking_to_be_removed_suppresses_the_address(client, admin, inbox, secret):
    cid, sent = await _sent(client, admin, inbox, n=1)
    ann = sent["Ann"]
    r = await post(client, reply_to(ann["mail"], "Please remove me from your mailing list."))
    shown = (await client.get(f"/v1/inbound-messages/{r.json()['id']}", headers=admin)).json()
    assert (shown["kind"], shown["status"], shown["outreach_id"]) == ("unsubscribe", "applied", ann["outreach"].id)
    assert shown["text"] == "Please remove me from your mailing list."
    assert (await status_of(client, admin, cid))["Ann"] == ("finished", "opted_out")
    assert await count(Suppression, email_key=ann["email"], channel="email") == 1
    assert (await outreach_row(ann["next"])).status == "cancelled"
