"""Outbound channels: one small adapter per provider behind the same ``send`` call.

The executor owns the outreach's state; a channel only delivers a message and answers with the
provider's message id. Real channels (SMTP, SMS, voice) come later; ``sandbox`` sends nothing.
"""

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


def channel_for(kind: str) -> OutboundChannel:
    """The adapter for a channel kind. Only the sandbox exists in this release, for every kind."""
    from agent.channels.sandbox import SANDBOX

    return SANDBOX
