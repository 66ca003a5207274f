"""The sandbox channel: records what would be sent and sends nothing.

The record that matters is the ``outreach.sent`` activity event the executor writes with the
message; the in-process ``outbox`` is a bounded convenience for tests and demos (it is per
process, so it is never the source of truth).
"""

from __future__ import annotations

from collections import deque

from agent.channels.base import OutboundMessage, SendResult


class SandboxChannel:
    name = "sandbox"

    def __init__(self, keep: int = 1000) -> None:
        self.outbox: deque[OutboundMessage] = deque(maxlen=keep)

    async def send(self, message: OutboundMessage) -> SendResult:
        self.outbox.append(message)
        return SendResult(provider=self.name, provider_message_id=message.idempotency_key)


SANDBOX = SandboxChannel()
