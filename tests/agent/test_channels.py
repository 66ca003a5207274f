"""The channel registry: every kind has an adapter, and the package needs no import inside a
function to reach its adapters (the interface lives in ``agent.channels.base``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import agent.channels
from agent.channels import OutboundMessage, SendResult, channel_for
from agent.channels.sandbox import SANDBOX
from agent.states import ChannelKind

PACKAGE = Path(agent.channels.__file__).parent


@pytest.mark.parametrize("kind", list(ChannelKind))
async def test_every_channel_kind_is_sent_through_the_sandbox(kind):
    channel = channel_for(kind)
    assert channel is SANDBOX
    message = OutboundMessage(outreach_id="o1", idempotency_key=f"key-{kind}", channel=kind, to=None,
                              subject=None, body="Hi")
    assert await channel.send(message) == SendResult(provider="sandbox", provider_message_id=f"key-{kind}")
    assert SANDBOX.outbox[-1] == message


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_no_channel_module_imports_inside_a_function(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    nested = [f"{path.name}:{inner.lineno}" for node in ast.walk(tree)
              if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
              for inner in ast.walk(node) if isinstance(inner, (ast.Import, ast.ImportFrom))]
    assert nested == []
