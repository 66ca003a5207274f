"""What every outbound channel adapter shares: the message it is handed, the answer it gives, and
the ``send`` interface. Adapters import this module, never the package, so the package can import
every adapter at its top to build the registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class OutboundMessage:
    outreach_id: str
    idempotency_key: str  # providers that support one dedupe on it; ours becomes the message id
    channel: str
    to: str | None
    subject: str | None
    body: str


@dataclass(frozen=True)
class SendResult:
    provider: str
    provider_message_id: str


class OutboundChannel(Protocol):
    name: str

    async def send(self, message: OutboundMessage) -> SendResult: ...
