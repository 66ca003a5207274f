"""Outbound channels: one small adapter per provider behind the same ``send`` call.

The executor owns the outreach's state; a channel only delivers a message and answers with the
provider's message id. ``sandbox`` sends nothing; ``smtp`` delivers email.
The interface lives in ``base`` and the rules a message must pass in ``rules``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from agent.channels.base import (
    AmbiguousFailure,
    ChannelError,
    OutboundChannel,
    OutboundMessage,
    PermanentFailure,
    SendResult,
    TransientFailure,
)
from agent.channels.retell import RETELL
from agent.channels.sandbox import SANDBOX
from agent.channels.smtp import smtp_channel
from agent.channels.tasks import TASKS
from agent.channels.twilio import TWILIO
from agent.channels.vapi import VAPI

__all__ = ["AmbiguousFailure", "ChannelError", "OutboundChannel", "OutboundMessage", "PermanentFailure",
           "SendResult", "TransientFailure", "channel_for", "PROVIDERS"]

# provider name -> factory of its adapter (each provider module registers one line here).
PROVIDERS: dict[str, Callable[[], OutboundChannel]] = {
    "sandbox": lambda: SANDBOX,
    "smtp": smtp_channel,
    "twilio": lambda: TWILIO,
    "vapi": lambda: VAPI,
    "retell": lambda: RETELL,
    "tasks": lambda: TASKS,
}


def channel_for(kind: str, config: Mapping[str, Any] | None = None) -> OutboundChannel:
    """The adapter the channel's ``config["provider"]`` names (the sandbox when it names none)."""
    provider = (config or {}).get("provider") or "sandbox"
    try:
        return PROVIDERS[provider]()
    except KeyError:
        raise ValueError(f"no {provider!r} provider for {kind} channels") from None
