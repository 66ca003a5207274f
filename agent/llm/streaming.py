"""``stream``: a model's answer as text deltas (for voice), with the same retries and limits.

Retries and fallbacks apply until the first delta arrives; after that a failure raises
``LLMUnavailable``, since text already handed out cannot be taken back.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from typing import Any

from pydantic import SecretStr

from agent.llm import runtime
from agent.llm.calls import (Chain, Endpoint, LLMResult, Messages, Tally, endpoint_for, provider_of, request,
                             semaphore)
from agent.llm.config import OFFLINE_MODEL, LLMConfig, get_config
from agent.llm.errors import LLMUnavailable


class LLMStream(AsyncIterator[str]):
    """Text deltas as they arrive; ``result`` (tokens, cost, model) once the stream is exhausted.

    Retries and fallbacks apply until the first delta; after that a failure raises
    ``LLMUnavailable``, since text already handed out cannot be taken back. Use ``async with``
    (or read to the end) so an abandoned stream frees its concurrency slot at once.
    """

    def __init__(self, deltas: Callable[[LLMStream], AsyncIterator[str]]):
        self.result: LLMResult | None = None
        self._deltas = deltas(self)

    def __aiter__(self) -> LLMStream:
        return self

    async def __anext__(self) -> str:
        return await self._deltas.__anext__()

    async def aclose(self) -> None:
        await self._deltas.aclose()  # type: ignore[attr-defined]

    async def __aenter__(self) -> LLMStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def stream(task: str, messages: Messages, *, model: str | None = None, api_base: str | None = None,
           api_key: str | SecretStr | None = None, config: LLMConfig | None = None, **params: Any) -> LLMStream:
    """Stream the ``task``'s answer as text deltas (``async for delta in stream(...)``)."""
    config = config or get_config()
    endpoint = endpoint_for(config, api_base, api_key)
    models = config.chain_for(task, model)
    return LLMStream(lambda holder: _deltas(holder, task, models, list(messages), config, endpoint, params))


def _usage_option(lm: Any, model: str) -> dict[str, Any]:
    """Ask for usage in the last chunk where the provider takes OpenAI's ``stream_options``."""
    return {"stream_options": {"include_usage": True}} if _takes_stream_options(lm, model) else {}


@functools.lru_cache(maxsize=256)
def _takes_stream_options(lm: Any, model: str) -> bool:
    """Per model, once a process: asking litellm costs more than the rest of a turn's set-up."""
    if model != OFFLINE_MODEL:
        try:
            supported = lm.get_supported_openai_params(model=model, custom_llm_provider=provider_of(lm, model))
        except Exception:  # noqa: BLE001 - unknown provider: send nothing it might refuse
            supported = None
        if "stream_options" not in (supported or ()):
            return False
    return True


async def _deltas(holder: LLMStream, task: str, models: list[str], messages: Messages, config: LLMConfig,
                  endpoint: Endpoint, params: dict[str, Any]) -> AsyncIterator[str]:
    lm = runtime.litellm()
    tally = Tally()
    chain = Chain(lm, config, models, tally, task)
    slots = semaphore(config.concurrency)
    for model, attempt in chain.attempts():
        tally.attempts += 1
        parts: list[str] = []
        usage = None
        try:
            async with slots:
                response = await request(lm, model, messages, config, endpoint,
                                         {**_usage_option(lm, model), **params}, stream=True)
                try:
                    chunks = response.__aiter__()
                    while True:
                        try:
                            # A stalled stream counts as a timeout, chunk by chunk.
                            async with asyncio.timeout(config.timeout):
                                chunk = await chunks.__anext__()
                        except StopAsyncIteration:
                            break
                        usage = getattr(chunk, "usage", None) or usage
                        delta = chunk.choices[0].delta.content if chunk.choices else None
                        if delta:
                            parts.append(delta)
                            yield delta
                finally:
                    close = getattr(response, "aclose", None)
                    if close is not None:
                        await close()
        except Exception as exc:  # noqa: BLE001 - classified below
            if parts:
                raise LLMUnavailable(f"{model} stream for {task} broke after {len(parts)} deltas: {exc}",
                                     models=models, attempts=tally.attempts, last_error=exc) from exc
            await chain.failed(model, attempt, exc)
            continue
        tally.add(lm, model, usage)
        holder.result = tally.result("".join(parts), None, model)
        return
    raise chain.unavailable()

