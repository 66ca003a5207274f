"""Outbound channels: one small adapter per provider behind the same ``send`` call.

The executor owns the outreach's state; a channel only delivers a message and answers with the
provider's message id. Real channels (SMTP, SMS, voice) come later; ``sandbox`` sends nothing.
The interface lives in ``base`` and the rules a message must pass in ``rules``.
"""

from __future__ import annotations

from agent.channels.base import OutboundChannel, OutboundMessage, SendResult
from agent.channels.sandbox import SANDBOX

__all__ = ["OutboundChannel", "OutboundMessage", "SendResult", "channel_for"]


def channel_for(kind: str) -> OutboundChannel:
    """The adapter for a channel kind. Only the sandbox exists in this release, for every kind."""
    return SANDBOX
