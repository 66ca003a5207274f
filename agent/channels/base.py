"""What every outbound channel adapter shares: the message it is handed, the answer it gives, and
the ``send`` interface. Adapters import this module, never the package, so the package can import
every adapter at its top to build the registry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.states import Substatus


@dataclass(frozen=True)
class OutboundMessage:
    outreach_id: str
    idempotency_key: str  # providers that support one dedupe on it; ours becomes the message id
    channel: str
    to: str | None
    subject: str | None
    body: str
    # The channel's own configuration (provider, sender address, postal address, assistant...).
    config: Mapping[str, Any] = field(default_factory=dict)
    # Where the recipient opts out (email footer and List-Unsubscribe), when the service has a public URL.
    unsubscribe_url: str | None = None
    # Ids a provider carries back to us (call metadata, status callbacks): campaign, contact, enrollment.
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    provider: str
    provider_message_id: str
    # A placed call: the outcome comes with the end-of-call report, so the outreach stays
    # ``executing`` (agent/voice/outbound.py) instead of being recorded as sent now.
    awaits_report: bool = False


class OutboundChannel(Protocol):
    name: str

    async def send(self, message: OutboundMessage) -> SendResult: ...


class ChannelError(Exception):
    """A send that did not go through; the subclass says whether trying again can help."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code  # the provider's own error code or reply, for the history


class PermanentFailure(ChannelError):
    """The provider refused for good (bad address, hard bounce, number opted out): never retried;
    the enrollment finishes with ``substatus``."""

    def __init__(self, message: str, *, substatus: Substatus, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.substatus = substatus


class TransientFailure(ChannelError):
    """Nothing was handed over (connection refused, 4xx at SMTP time, 429/5xx before acceptance):
    safe to try again later, within a bound."""

    def __init__(self, message: str, *, retry_after_s: float | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after_s = retry_after_s


class AmbiguousFailure(ChannelError):
    """The message may have been handed over (a timeout after the data was sent): never resent,
    the outreach becomes ``unknown`` for a person to settle."""
