"""The ``smtp`` email provider: delivers an outreach to an SMTP server with ``aiosmtplib``.

The server comes from ``OVERTURE_SMTP_URL`` (``smtp://`` uses STARTTLS when the server offers it,
``smtps://`` implicit TLS; user and password in the URL log in). Connections are pooled per event
loop, bounded, and replaced when the server has dropped them. The message carries a Message-ID
derived from the outreach's idempotency key (the same on every attempt), the one-click
List-Unsubscribe headers, and a plain-text footer with the sender's postal address and the
unsubscribe link, DKIM-signed when ``OVERTURE_DKIM_SELECTOR`` and ``OVERTURE_DKIM_PRIVATE_KEY_PATH``
are set. SMTP replies become the typed failures of ``agent.channels.base``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import weakref
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import aiosmtplib
from pydantic import SecretStr

from agent.channels.dkim_sign import DkimKey
from agent.channels.mime import SMTP_POLICY, build_email, config_str, footer, message_id_for, render_email
from agent.channels.base import (
    AmbiguousFailure,
    OutboundMessage,
    PermanentFailure,
    SendResult,
    TransientFailure,
)
from agent.settings import get_settings
from agent.states import Substatus

__all__ = ["SMTP_POLICY", "SmtpChannel", "build_email", "footer", "message_id_for", "smtp_channel"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# A connection lost or timed out: the socket says nothing about what the server kept.
_LOST = (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, TimeoutError, ConnectionError)


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to connect, parsed from the URL; the password stays out of the repr."""

    host: str
    port: int
    implicit_tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_url(cls, url: str | SecretStr) -> SmtpServer:
        raw = url.get_secret_value() if isinstance(url, SecretStr) else url
        # Errors name the part that is wrong, never the URL itself (it holds the password).
        try:
            parts = urlsplit(raw)
            port = parts.port
        except ValueError:
            raise ValueError("OVERTURE_SMTP_URL is not a valid URL (smtp://user:pass@host:port)") from None
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError("OVERTURE_SMTP_URL must start with smtp:// or smtps://")
        if not parts.hostname:
            raise ValueError("OVERTURE_SMTP_URL names no host")
        implicit = parts.scheme == "smtps"
        return cls(host=parts.hostname, port=port or (465 if implicit else 587), implicit_tls=implicit,
                   username=unquote(parts.username) if parts.username else None,
                   password=unquote(parts.password) if parts.password is not None else None)


class _Pool:
    """Idle connections of one event loop, at most ``size`` in use at once."""

    def __init__(self, size: int) -> None:
        self.slots = asyncio.Semaphore(size)
        self.idle: list[aiosmtplib.SMTP] = []


class SmtpChannel:
    name = "smtp"

    def __init__(self, server: SmtpServer, *, pool_size: int = 4, timeout_s: float = 30,
                 tls_context: ssl.SSLContext | None = None, dkim_key: DkimKey | None = None) -> None:
        self.server = server
        self.dkim_key = dkim_key
        self.pool_size = pool_size
        self.timeout_s = timeout_s
        self.tls_context = tls_context
        # asyncio streams belong to the loop that opened them; tests (and the CLI) run several loops.
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pool] = weakref.WeakKeyDictionary()
        self.connections_opened = 0

    def __repr__(self) -> str:
        return f"SmtpChannel({self.server!r}, pool_size={self.pool_size})"

    async def send(self, message: OutboundMessage) -> SendResult:
        sender = config_str(message, "from_address")
        if sender is None:
            # The API refuses an smtp channel without one; a row from before that check lands here.
            raise PermanentFailure("the email channel has no from_address", substatus=Substatus.identity_misconfigured)
        if not message.to:
            raise PermanentFailure("the contact has no email address", substatus=Substatus.missing_email)
        try:
            data = render_email(message)
        except (ValueError, IndexError) as exc:
            # The header parser refuses an address it cannot read.
            raise PermanentFailure(f"the address cannot be written in a message: {exc}",
                                   substatus=Substatus.invalid_email) from None
        if self.dkim_key is not None:
            data = self.dkim_key.sign(data, sender.rpartition("@")[2])
        message_id = message_id_for(message.idempotency_key, sender)
        await self._deliver(sender, message.to, data)
        return SendResult(provider=self.name, provider_message_id=message_id)

    async def close(self) -> None:
        """Close the idle connections of the running loop (the pool reopens on the next send)."""
        pool = self._pools.pop(asyncio.get_running_loop(), None)
        for conn in pool.idle if pool else ():
            await _quit(conn)

    # --- the SMTP exchange ---------------------------------------------------------------

    async def _deliver(self, sender: str, recipient: str, data: bytes) -> None:
        pool = self._pool()
        async with pool.slots:
            conn, reused = await self._checkout(pool)
            try:
                try:
                    await _step(conn.mail(sender), "MAIL", before_data=True)
                except TransientFailure:
                    if not reused:
                        raise
                    # An idle connection the server closed since its last use: nothing was handed
                    # over, so a fresh connection may try once more.
                    log.info("smtp connection to %s was dropped while idle; reconnecting", self.server.host)
                    await _quit(conn)
                    conn = await self._connect()
                    await _step(conn.mail(sender), "MAIL", before_data=True)
                await _step(conn.rcpt(recipient), "RCPT", before_data=True, recipient=True)
                await _step(conn.data(data), "DATA", before_data=False, recipient=True)
            except BaseException:
                # After a refusal the session is mid-transaction; a fresh one is simpler than RSET.
                await _quit(conn)
                raise
            pool.idle.append(conn)

    def _pool(self) -> _Pool:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            pool = self._pools[loop] = _Pool(self.pool_size)
        return pool

    async def _checkout(self, pool: _Pool) -> tuple[aiosmtplib.SMTP, bool]:
        while pool.idle:
            conn = pool.idle.pop()
            if conn.is_connected:
                return conn, True
        return await self._connect(), False

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.server
        conn = aiosmtplib.SMTP(hostname=s.host, port=s.port, timeout=self.timeout_s, use_tls=s.implicit_tls,
                               # None: STARTTLS when the server offers it, plain otherwise.
                               start_tls=None if not s.implicit_tls else False, tls_context=self.tls_context)
        try:
            await conn.connect()
            if s.username is not None:
                await conn.login(s.username, s.password or "")
        except aiosmtplib.SMTPAuthenticationError as exc:
            await _quit(conn)
            # Our settings, not the recipient: retrying after the operator fixes them can help.
            raise TransientFailure(f"the SMTP server refused the login ({exc.code})", code=str(exc.code)) from None
        except aiosmtplib.SMTPResponseException as exc:
            await _quit(conn)
            raise TransientFailure(f"the SMTP server refused the session: {exc.code} {exc.message}",
                                   code=str(exc.code)) from None
        except (aiosmtplib.SMTPException, OSError, *_LOST) as exc:
            await _quit(conn)
            raise TransientFailure(f"could not connect to the SMTP server {s.host}:{s.port}: "
                                   f"{type(exc).__name__}") from None
        self.connections_opened += 1
        return conn


async def _step(call: Awaitable[T], verb: str, *, before_data: bool, recipient: bool = False) -> T:
    """Run one SMTP command and translate its failure: a 5xx about the recipient is permanent
    (5.7.x: blocked by policy), a 4xx transient, a lost connection transient before DATA and
    ambiguous from DATA on (the server may have kept the message)."""
    try:
        return await call
    except aiosmtplib.SMTPResponseException as exc:
        code, text = exc.code, exc.message
        detail = f"{verb} refused: {code} {text}"
        if 500 <= code < 600 and recipient:
            blocked = text.lstrip().startswith("5.7.")
            raise PermanentFailure(detail, substatus=Substatus.blocked if blocked else Substatus.bounced,
                                   code=str(code)) from None
        raise TransientFailure(detail, code=str(code)) from None
    except _LOST as exc:
        if before_data:
            raise TransientFailure(f"connection lost at {verb}: {type(exc).__name__}") from None
        raise AmbiguousFailure(f"connection lost during {verb}; the server may have accepted the message: "
                               f"{type(exc).__name__}") from None


async def _quit(conn: aiosmtplib.SMTP) -> None:
    if not conn.is_connected:
        return
    try:
        await asyncio.wait_for(conn.quit(), timeout=2)
    except Exception:
        # QUIT is a courtesy; the connection is discarded either way.
        conn.close()


# --- the process-wide adapter ----------------------------------------------------------------

_channel: SmtpChannel | None = None


def smtp_channel() -> SmtpChannel:
    """The adapter built from ``OVERTURE_SMTP_URL``, one per process so its pools are shared."""
    global _channel
    settings = get_settings()
    url = settings.smtp_url
    if url is None:
        # The lifecycle refuses to start such a channel; a send that still gets here can retry later.
        raise TransientFailure("OVERTURE_SMTP_URL is not set")
    try:
        server = SmtpServer.from_url(url)
    except ValueError as exc:
        raise TransientFailure(str(exc)) from None
    dkim_key = None
    if settings.dkim_selector and settings.dkim_private_key_path:
        dkim_key = DkimKey.from_file(settings.dkim_selector, settings.dkim_private_key_path)
    if _channel is None or _channel.server != server or _channel.dkim_key != dkim_key:
        _channel = SmtpChannel(server, dkim_key=dkim_key)
    return _channel
