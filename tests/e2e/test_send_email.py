"""An approved email goes out for real: planned, approved, executed by the in-process worker,
through the smtp provider, to an SMTP server (aiosmtpd) the test starts."""

from __future__ import annotations

import email.policy
import socket
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from aiosmtpd.controller import Controller
from pydantic import SecretStr

from tests.builders import outreach_row
from tests.conftest import drain_queue
from tests.flows import by_name, people, queue_with_drafts, zone_at_noon

SENDER = {"kind": "email", "provider": "smtp", "from_address": "ann@clinic.example", "from_name": "Ann Lee",
          "postal_address": "1 Main St, Springfield, IL 62701"}


class Inbox:
    def __init__(self) -> None:
        self.received: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append(BytesParser(policy=email.policy.default).parsebytes(envelope.original_content))
        return "250 OK queued"


@pytest.fixture
def inbox(settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    settings.smtp_url = SecretStr(f"smtp://127.0.0.1:{port}")
    settings.public_url = "https://overture.example"
    yield box
    controller.stop()


async def test_an_approved_email_reaches_the_smtp_server_once_with_its_headers_and_footer(client, admin, inbox):
    cid, items = await queue_with_drafts(client, admin, 2, channels=(SENDER,),
                                         contacts=people(2, timezone=zone_at_noon()))
    named = by_name(items)
    assert (await client.post(f"/v1/outreaches/{named['Ann']['id']}/approve", headers=admin)).status_code == 200
    assert (await client.post(f"/v1/campaigns/{cid}/execute-approved", headers=admin)).json() == {"queued": 1}
    await drain_queue()
    row = await outreach_row(named["Ann"]["id"])
    assert row.status == "sent", row.error
    [mail] = inbox.received  # Bo's draft was not approved: nothing for him
    assert mail["To"] == "ann@example.com" and mail["From"] == "Ann Lee <ann@clinic.example>"
    assert mail["Subject"] == row.subject
    assert mail["Message-ID"] == f"<{row.idempotency_key}@clinic.example>" == f"<{row.provider_message_id[1:-1]}>"
    link = f"https://overture.example/u/{row.unsubscribe_token}"
    assert mail["List-Unsubscribe"].startswith(f"<{link}>")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = mail.get_content()
    assert row.body.strip().splitlines()[0] in text
    assert "1 Main St, Springfield, IL 62701" in text and link in text
    # A redelivered message sends nothing more.
    assert (await client.post(f"/v1/campaigns/{cid}/execute-approved", headers=admin)).json() == {"queued": 0}
    await drain_queue()
    assert len(inbox.received) == 1
