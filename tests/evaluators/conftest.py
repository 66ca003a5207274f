"""Fixtures the evaluator tests share."""

from __future__ import annotations

import pytest

from agent.llm import LLMConfig, use_config
from tests.llm_server import LLMServer


@pytest.fixture
def model_server():
    """The local model server as the evaluator's model, through litellm's openai/ path."""
    with LLMServer() as server:
        use_config(LLMConfig(model="openai/judge-model", api_base=server.api_base, api_key="test", timeout=5,
                             retries=0, backoff=0.01, backoff_max=0.02))
        yield server
    use_config(None)
