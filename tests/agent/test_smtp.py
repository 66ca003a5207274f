"""The smtp email adapter against a real SMTP server (aiosmtpd) started by each test: what the
recipient receives, connection reuse, STARTTLS with login, and each SMTP failure typed."""

from __future__ import annotations

import asyncio
import base64
import email.policy
import logging
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser

import dkim
import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from agent.channels import PROVIDERS, AmbiguousFailure, OutboundMessage, PermanentFailure, TransientFailure
from agent.channels.dkim_sign import SIGNED_HEADERS, DkimKey
from agent.channels.mime import SMTP_POLICY
from agent.channels.smtp import SmtpChannel, SmtpServer, smtp_channel
from agent.settings import Settings, use_settings
from agent.states import Substatus

PASSWORD = "s3cret-Pa55word"
CONFIG = {"provider": "smtp", "from_address": "ann@clinic.example", "from_name": "Ann Lee",
          "reply_to": "desk@clinic.example", "postal_address": "1 Main St, Springfield, IL 62701"}
UNSUBSCRIBE = "https://overture.example/u/tok_123"


def outreach(key: str = "idk_01abc", to: str = "bo@example.com", **over) -> OutboundMessage:
    fields = dict(outreach_id="out_1", idempotency_key=key, channel="email", to=to, subject="Spring webinar",
                  body="Hi Bo,\nwould you like a seat?\n", config=CONFIG, unsubscribe_url=UNSUBSCRIBE)
    return OutboundMessage(**{**fields, **over})


@dataclass
class Mailbox:
    """The server side: what it received, from which connections, and how it should answer."""

    received: list[EmailMessage] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)  # the bytes as the server got them
    peers: list[tuple] = field(default_factory=list)  # the client's (host, port) of every delivery
    rcpt_replies: dict[str, str] = field(default_factory=dict)  # recipient -> reply instead of 250
    data_reply: str | None = None
    drop_after_data: bool = False
    stall_after_data_s: float = 0
    # Answer the second transaction of each connection with 421, as a server that closed it would.
    refuse_reused: bool = False

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.refuse_reused and getattr(session, "delivered", False):
            return "421 4.4.2 idle connection closed"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.raw.append(envelope.original_content)
        self.received.append(BytesParser(policy=email.policy.default).parsebytes(envelope.original_content))
        self.peers.append(session.peer)
        session.delivered = True
        if self.drop_after_data:
            server.transport.close()
        if self.stall_after_data_s:
            await asyncio.sleep(self.stall_after_data_s)
        return self.data_reply or "250 OK queued"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mailbox():
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=_free_port())
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


@pytest.fixture
def tls_ca():
    return trustme.CA()


@pytest.fixture
def tls_mailbox(tls_ca):
    """A server that requires STARTTLS and a login (ann / PASSWORD) before any mail."""
    box = Mailbox()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("127.0.0.1").configure_cert(server_ctx)

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"ann" and auth_data.password == PASSWORD.encode()
        return AuthResult(success=ok, handled=False)

    controller = Controller(box, hostname="127.0.0.1", port=_free_port(), tls_context=server_ctx,
                            require_starttls=True, auth_required=True, authenticator=authenticate)
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


def channel(box: Mailbox, **kw) -> SmtpChannel:
    return SmtpChannel(SmtpServer.from_url(f"smtp://127.0.0.1:{box.port}"), **kw)


# --- what is delivered ----------------------------------------------------------------------


async def test_the_message_arrives_with_every_header_and_the_footer(mailbox):
    result = await channel(mailbox).send(outreach())
    [got] = mailbox.received
    assert got["From"] == "Ann Lee <ann@clinic.example>" and got["To"] == "bo@example.com"
    assert got["Subject"] == "Spring webinar" and got["Reply-To"] == "desk@clinic.example"
    assert got["Message-ID"] == "<idk_01abc@clinic.example>" == result.provider_message_id
    assert result.provider == "smtp" and got["Date"].datetime.tzinfo is not None
    assert got["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert got["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert got.get_content_type() == "text/plain"
    text = got.get_content().replace("\r\n", "\n")  # CRLF on the wire
    assert text.startswith("Hi Bo,\nwould you like a seat?\n")
    assert text.endswith(f"\n-- \n1 Main St, Springfield, IL 62701\nUnsubscribe: {UNSUBSCRIBE}\n")


async def test_without_an_unsubscribe_url_there_are_no_list_headers(mailbox):
    await channel(mailbox).send(outreach(unsubscribe_url=None,
                                         config={k: v for k, v in CONFIG.items() if k not in ("reply_to", "from_name")}))
    [got] = mailbox.received
    assert got["List-Unsubscribe"] is None and got["List-Unsubscribe-Post"] is None and got["Reply-To"] is None
    assert got["From"] == "ann@clinic.example"
    assert "Unsubscribe" not in got.get_content() and "1 Main St" in got.get_content()


async def test_the_message_id_is_the_same_on_every_attempt_of_one_outreach(mailbox):
    ch = channel(mailbox)
    first = await ch.send(outreach(key="idk_same"))
    second = await ch.send(outreach(key="idk_same"))
    other = await ch.send(outreach(key="idk_other"))
    assert first.provider_message_id == second.provider_message_id == "<idk_same@clinic.example>"
    assert [m["Message-ID"] for m in mailbox.received] == ["<idk_same@clinic.example>"] * 2 + [other.provider_message_id]
    assert other.provider_message_id != first.provider_message_id


# --- connections ----------------------------------------------------------------------------


async def test_sends_reuse_one_connection(mailbox):
    ch = channel(mailbox)
    for i in range(5):
        await ch.send(outreach(key=f"idk_{i}"))
    assert len(mailbox.received) == 5
    assert len(set(mailbox.peers)) == 1 and ch.connections_opened == 1


async def test_concurrent_sends_open_no_more_connections_than_the_pool_holds(mailbox):
    ch = channel(mailbox, pool_size=2)
    await asyncio.gather(*(ch.send(outreach(key=f"idk_{i}")) for i in range(12)))
    assert len(mailbox.received) == 12
    assert len(set(mailbox.peers)) == ch.connections_opened == 2


async def test_a_connection_the_server_dropped_is_replaced_and_the_send_goes_through(mailbox):
    mailbox.refuse_reused = True
    ch = channel(mailbox)
    await ch.send(outreach(key="idk_1"))
    await ch.send(outreach(key="idk_2"))
    assert [m["Message-ID"] for m in mailbox.received] == ["<idk_1@clinic.example>", "<idk_2@clinic.example>"]
    assert len(set(mailbox.peers)) == ch.connections_opened == 2


async def test_starttls_and_login_from_the_url(tls_mailbox, tls_ca):
    url = f"smtp://ann:{PASSWORD}@127.0.0.1:{tls_mailbox.port}"
    ch = SmtpChannel(SmtpServer.from_url(url), tls_context=client_tls(tls_ca))
    await ch.send(outreach())
    assert [m["Message-ID"] for m in tls_mailbox.received] == ["<idk_01abc@clinic.example>"]
    # Without the login (or without trusting the certificate) the server takes nothing.
    with pytest.raises(TransientFailure):
        await SmtpChannel(SmtpServer.from_url(f"smtp://127.0.0.1:{tls_mailbox.port}"),
                          tls_context=client_tls(tls_ca)).send(outreach())
    with pytest.raises(TransientFailure):
        await SmtpChannel(SmtpServer.from_url(url)).send(outreach())
    assert len(tls_mailbox.received) == 1


async def test_implicit_tls_with_smtps(tls_ca):
    box = Mailbox()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    controller = Controller(box, hostname="127.0.0.1", port=_free_port(), ssl_context=server_ctx)
    controller.start()
    try:
        ch = SmtpChannel(SmtpServer.from_url(f"smtps://127.0.0.1:{controller.port}"), tls_context=client_tls(tls_ca))
        await ch.send(outreach())
    finally:
        controller.stop()
    assert len(box.received) == 1


def test_the_url_gives_host_port_tls_and_login():
    s = SmtpServer.from_url("smtps://ann%40clinic:p%2Fw@mail.example")
    assert (s.host, s.port, s.implicit_tls, s.username, s.password) == ("mail.example", 465, True, "ann@clinic", "p/w")
    s = SmtpServer.from_url("smtp://mail.example")
    assert (s.port, s.implicit_tls, s.username, s.password) == (587, False, None, None)
    with pytest.raises(ValueError, match="smtp:// or smtps://") as exc:
        SmtpServer.from_url(f"http://ann:{PASSWORD}@mail.example")
    assert PASSWORD not in str(exc.value)


@pytest.fixture
def restore_settings():
    import agent.settings

    before = agent.settings._current
    yield
    agent.settings._current = before


def test_the_registered_adapter_is_built_from_the_setting(restore_settings):
    use_settings(Settings(_env_file=None, smtp_url=SecretStr("smtp://ann:pw@mail.example:2525")))
    ch = PROVIDERS["smtp"]()
    assert isinstance(ch, SmtpChannel) and (ch.server.host, ch.server.port) == ("mail.example", 2525)
    assert PROVIDERS["smtp"]() is ch  # one adapter, so its pool is shared by every send
    use_settings(Settings(_env_file=None))
    with pytest.raises(TransientFailure, match="OVERTURE_SMTP_URL"):
        smtp_channel()


def _dkim_pair() -> tuple[bytes, bytes]:
    """A PEM private key and the DNS TXT record that publishes its public half."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


async def test_dkim_signs_the_exact_bytes_received(mailbox, tmp_path, restore_settings):
    pem, record = _dkim_pair()
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(pem)
    use_settings(Settings(_env_file=None, smtp_url=SecretStr(f"smtp://127.0.0.1:{mailbox.port}"),
                          dkim_selector="s1", dkim_private_key_path=key_file))
    ch = smtp_channel()
    assert pem.decode() not in repr(ch)
    await ch.send(outreach())
    [raw] = mailbox.raw
    looked_up = []

    def dns(name: bytes, timeout: int = 5) -> bytes:
        looked_up.append(name)
        return record

    assert dkim.verify(raw, dnsfunc=dns)
    assert looked_up == [b"s1._domainkey.clinic.example."]
    assert mailbox.received[0]["DKIM-Signature"] is not None
    # The signature covers the body: one changed byte and it no longer verifies.
    assert not dkim.verify(raw.replace(b"a seat", b"a sea7"), dnsfunc=dns)


# --- failures ---------------------------------------------------------------------------------


@pytest.mark.parametrize("reply,substatus", [
    ("550 5.1.1 no such user", Substatus.bounced),
    ("554 5.7.1 rejected by policy", Substatus.blocked),
])
async def test_a_5xx_at_rcpt_is_permanent(mailbox, reply, substatus):
    mailbox.rcpt_replies["gone@example.com"] = reply
    ch = channel(mailbox)
    with pytest.raises(PermanentFailure) as exc:
        await ch.send(outreach(to="gone@example.com"))
    assert exc.value.substatus == substatus and exc.value.code == reply[:3]
    # The connection is not left mid-transaction: the next send goes through.
    await ch.send(outreach(to="bo@example.com"))
    assert [m["To"] for m in mailbox.received] == ["bo@example.com"]


async def test_a_5xx_after_data_is_a_bounce(mailbox):
    mailbox.data_reply = "552 5.3.4 message too big"
    with pytest.raises(PermanentFailure) as exc:
        await channel(mailbox).send(outreach())
    assert exc.value.substatus == Substatus.bounced


@pytest.mark.parametrize("where", ["rcpt", "data"])
async def test_a_4xx_is_transient(mailbox, where):
    if where == "rcpt":
        mailbox.rcpt_replies["bo@example.com"] = "451 4.3.0 try again later"
    else:
        mailbox.data_reply = "451 4.3.0 try again later"
    with pytest.raises(TransientFailure) as exc:
        await channel(mailbox).send(outreach())
    assert exc.value.code == "451"


async def test_a_refused_connection_is_transient():
    ch = SmtpChannel(SmtpServer.from_url(f"smtp://127.0.0.1:{_free_port()}"), timeout_s=2)
    with pytest.raises(TransientFailure):
        await ch.send(outreach())


async def test_the_server_dropping_the_connection_after_data_is_ambiguous(mailbox):
    mailbox.drop_after_data = True
    with pytest.raises(AmbiguousFailure):
        await channel(mailbox).send(outreach())
    assert len(mailbox.received) == 1  # it did arrive: resending would deliver it twice


async def test_no_answer_after_data_is_ambiguous(mailbox):
    mailbox.stall_after_data_s = 3
    with pytest.raises(AmbiguousFailure):
        await channel(mailbox, timeout_s=0.5).send(outreach())


@pytest.mark.parametrize("to,substatus", [(None, Substatus.missing_email), ("", Substatus.missing_email),
                                          ("not an address <", Substatus.invalid_email)])
async def test_a_message_without_a_usable_address_is_refused_before_connecting(mailbox, to, substatus):
    ch = channel(mailbox)
    with pytest.raises(PermanentFailure) as exc:
        await ch.send(outreach(to=to))
    assert exc.value.substatus == substatus and ch.connections_opened == 0


# --- secrets --------------------------------------------------------------------------------------


async def test_the_password_is_in_no_exception_repr_or_log_record(tls_mailbox, tls_ca, caplog):
    caplog.set_level(logging.DEBUG)
    good = SmtpChannel(SmtpServer.from_url(f"smtp://ann:{PASSWORD}@127.0.0.1:{tls_mailbox.port}"),
                       tls_context=client_tls(tls_ca))
    tls_mailbox.refuse_reused = True  # the second send reconnects, and says so in the log
    await good.send(outreach())
    await good.send(outreach())
    wrong = f"{PASSWORD}-old"
    bad = SmtpChannel(SmtpServer.from_url(f"smtp://ann:{wrong}@127.0.0.1:{tls_mailbox.port}"),
                      tls_context=client_tls(tls_ca))
    with pytest.raises(TransientFailure) as exc:
        await bad.send(outreach())
    secrets = {PASSWORD, base64.b64encode(f"\0ann\0{PASSWORD}".encode()).decode(), wrong}
    shown = [str(exc.value), repr(exc.value), repr(good), repr(good.server), repr(bad)]
    assert exc.value.__cause__ is None and exc.value.__suppress_context__
    # The server's own log (aiosmtpd's "mail.log") is the test's server, not Overture.
    records = [r.getMessage() for r in caplog.records if not r.name.startswith("mail.log")]
    assert any("reconnecting" in r for r in records) and len(tls_mailbox.received) == 2
    assert not [s for s in secrets for text in shown + records if s in text]
    assert "login" in str(exc.value)


@pytest.mark.parametrize("body", [
    "Plain line.\r\n", "Trailing spaces   \r\n\r\n\r\n", "Tabs\tand  runs  of   spaces\r\nline two\r\n",
    "Na\u00efve caf\u00e9 \u2014 accents and a dash\r\n", "x" * 2000 + "\r\n", ""])
def test_the_openssl_signature_verifies_with_dkimpy_as_dkimpys_own_does(body):
    """Same canonicalisation and folding as dkimpy's signer, so its verifier accepts ours on bodies
    that stress relaxed canonicalisation (trailing blanks, runs of spaces, 8-bit text, long lines)."""
    pem, record = _dkim_pair()
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"], msg["To"] = "Clinic <front-desk@clinic.example>", "maria@example.org"
    msg["Subject"] = "A very long subject line " * 6
    msg["Message-ID"], msg["Date"] = "<abc@clinic.example>", "Wed, 02 Dec 2026 15:00:00 +0000"
    msg.set_content(body)
    data = msg.as_bytes()
    ours = DkimKey("s1", pem).sign(data, "clinic.example")
    theirs = dkim.sign(data, b"s1", b"clinic.example", pem, canonicalize=(b"relaxed", b"relaxed"),
                       include_headers=list(SIGNED_HEADERS)) + data
    dns = lambda name, timeout=5: record
    assert dkim.verify(ours, dnsfunc=dns) and dkim.verify(theirs, dnsfunc=dns)
    # The same tags as dkimpy's, in the same order; and a changed byte fails.
    def tags(raw: bytes) -> list[str]:
        header = str(BytesParser(policy=email.policy.compat32).parsebytes(raw)["DKIM-Signature"])
        return [t.split("=")[0].strip() for t in header.replace("\r\n", "").split(";")]

    assert tags(ours) == tags(theirs) == ["v", "a", "c", "d", "i", "q", "s", "t", "h", "bh", "b"]
    assert not dkim.verify(ours.replace(b"clinic.example>", b"clinic.examp1e>"), dnsfunc=dns)
