"""``stream`` over litellm's ``openai/`` provider reads the OpenAI SDK's stream itself (see
``agent.llm.streaming._provider_chunks``): retries, errors, usage and prices must come out as they
did through litellm's wrapper, and the start-up rehearsal must stay on loopback."""

from __future__ import annotations

import pytest

from agent.llm import LLMConfig, LLMUnavailable, rehearse, stream
from agent.llm import runtime
from tests import llm_server
from tests.agent.test_llm import _Counting, _settle, no_callbacks
from tests.llm_server import LLMServer, ok

pytestmark = pytest.mark.filterwarnings("ignore:.*ReadOnly.*:UserWarning")

USER = [{"role": "user", "content": "Is Tuesday free?"}]


@pytest.fixture
def server():
    with LLMServer() as srv:
        yield srv


def config(server: LLMServer, **overrides) -> LLMConfig:
    values = dict(model="openai/test-model", timeout=5.0, retries=0, backoff=0.01, backoff_max=0.02,
                  api_base=server.api_base, api_key="test")
    return LLMConfig(**{**values, **overrides})


def breaking(monkeypatch, words: list[str], times: int) -> None:
    """The next ``times`` streams send ``words`` and then an error event, as an overloaded provider does."""
    original, left = llm_server._Handler._stream, [times]

    def stream_then_fail(self, body, text, first_delay):
        if left[0] <= 0:
            return original(self, body, text, first_delay)
        left[0] -= 1
        self._stream_then_error(body, words)

    monkeypatch.setattr(llm_server._Handler, "_stream", stream_then_fail)


async def test_an_error_event_before_the_first_words_is_retried(server, monkeypatch):
    breaking(monkeypatch, [], times=1)
    server.script(ok("overloaded once"), ok("Tuesday works"))
    async with stream("voice", USER, config=config(server, retries=1)) as s:
        text = "".join([d async for d in s])
    assert text == "Tuesday works" and s.result.attempts == 2 and len(server.requests) == 2


async def test_an_error_event_after_words_ends_the_stream_as_unavailable(server, monkeypatch):
    breaking(monkeypatch, ["Sure,", " one"], times=1)
    said = []
    with pytest.raises(LLMUnavailable, match="broke after 2 deltas"):
        async for delta in stream("voice", USER, config=config(server, retries=2)):
            said.append(delta)
    assert said == ["Sure,", " one"] and len(server.requests) == 1  # nothing said is taken back or retried


async def test_the_last_chunks_usage_is_counted_and_an_unpriced_model_costs_nothing(server, monkeypatch):
    lm = runtime.litellm()
    priced = []
    real = lm.cost_per_token
    monkeypatch.setattr(lm, "cost_per_token", lambda **kw: priced.append(kw["model"]) or real(**kw))
    server.script(ok("Tuesday at ten works"))
    async with stream("voice", USER, config=config(server, model="openai/local-unpriced")) as s:
        assert "".join([d async for d in s]) == "Tuesday at ten works"
    assert (s.result.input_tokens, s.result.output_tokens, s.result.cost_usd) == (3, 4, 0.0)
    assert priced == []  # known to cost nothing: its usage is not priced on the loop
    assert server.requests[0]["stream_options"] == {"include_usage": True}
    # Priced at nothing once, so litellm no longer fails to price it on every stream.
    assert lm.get_model_info(model="openai/local-unpriced")["input_cost_per_token"] == 0.0


async def test_a_priced_models_stream_keeps_its_price(server):
    server.script(ok("Tuesday at ten works"))
    async with stream("voice", USER, config=config(server, model="openai/gpt-4o-mini")) as s:
        [d async for d in s]
    lm = runtime.litellm()
    prompt, completion = lm.cost_per_token(model="gpt-4o-mini", prompt_tokens=3, completion_tokens=4)
    assert s.result.cost_usd == pytest.approx(prompt + completion) and s.result.cost_usd > 0


async def test_an_unobserved_stream_skips_litellms_wrapper(server, monkeypatch):
    """Nobody listens to litellm's logging: the SDK's stream is read under the wrapper, which
    never rebuilds, prices or logs a chunk."""
    from litellm.litellm_core_utils.streaming_handler import CustomStreamWrapper

    no_callbacks(monkeypatch)
    read = []
    real = CustomStreamWrapper.__anext__
    monkeypatch.setattr(CustomStreamWrapper, "__anext__", lambda self: read.append(1) or real(self))
    server.script(ok("Tuesday works"))
    async with stream("voice", USER, config=config(server)) as s:
        assert "".join([d async for d in s]) == "Tuesday works"
    assert read == [] and s.result.output_tokens == 2


async def test_a_registered_callback_hears_every_stream(server, monkeypatch):
    """The rule for every model call: a callback registered with litellm, or passed for the call,
    hears it, streams included (through litellm's own wrapper, with the usage the voice turn reads)."""
    registered, passed = _Counting(), _Counting()
    no_callbacks(monkeypatch)
    runtime.litellm().callbacks = [registered]
    server.script(ok("Tuesday works"), ok("Wednesday works"))
    async with stream("voice", USER, config=config(server)) as s:
        assert "".join([d async for d in s]) == "Tuesday works"
    await _settle()
    no_callbacks(monkeypatch)
    async with stream("voice", USER, config=config(server), callbacks=[passed]) as t:
        assert "".join([d async for d in t]) == "Wednesday works"
    await _settle()
    assert len(registered.successes) == 1 and len(passed.successes) == 1
    assert (s.result.input_tokens, s.result.output_tokens) == (3, 2) and t.result.output_tokens == 2


async def test_the_rehearsal_streams_on_loopback_only(server):
    cfg = config(server, model="openai/rehearsed-model")
    await rehearse("openai/rehearsed-model", cfg)
    assert server.requests == []  # the configured server was never asked
    assert runtime.litellm().get_model_info(model="openai/rehearsed-model")["output_cost_per_token"] == 0.0
    async with stream("voice", USER, config=cfg) as s:
        assert [d async for d in s]
    assert len(server.requests) == 1
