"""``overture mail-receiver``: an SMTP server (aiosmtpd) for self-hosters whose MX points at
Overture. Each message goes through :func:`ingest_email`, the path the API route takes.

The server runs on the caller's event loop (not aiosmtpd's threaded Controller) so the database
engine, which belongs to one loop, is the one the rest of the process uses. A message that cannot
be kept is answered 451 so the sending server retries it later; one over the size cap is refused
552 by aiosmtpd itself.
"""

from __future__ import annotations

import asyncio
import logging

from aiosmtpd.smtp import SMTP, Envelope, Session

from agent.inbound.email.ingest import MAX_BYTES, ingest_email

log = logging.getLogger(__name__)


class InboundHandler:
    """aiosmtpd's handler: every recipient is accepted (the message finds its outreach itself)."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        try:
            message = await ingest_email(raw, provider="smtp")
        except Exception:
            log.exception("inbound email from %s could not be kept", envelope.mail_from)
            return "451 4.3.0 could not keep the message now; try again later"
        log.info("inbound email %s kept: %s/%s", message.id, message.kind.value, message.status.value)
        return "250 2.0.0 OK"


async def start(host: str = "127.0.0.1", port: int = 2525) -> asyncio.Server:
    """The listening server on the running loop; close it with ``server.close()``."""
    loop = asyncio.get_running_loop()
    handler = InboundHandler()
    return await loop.create_server(
        lambda: SMTP(handler, data_size_limit=MAX_BYTES, enable_SMTPUTF8=True, hostname=host), host=host, port=port)


async def serve_forever(host: str, port: int) -> None:
    server = await start(host, port)
    async with server:
        await server.serve_forever()
