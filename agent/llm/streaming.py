"""``stream``: a model's answer as text deltas (for voice), with the same retries and limits.

Retries and fallbacks apply until the first delta arrives; after that a failure raises
``LLMUnavailable``, since text already handed out cannot be taken back.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from pydantic import SecretStr

from agent.llm import runtime
from agent.llm.calls import (Chain, Endpoint, LLMResult, Messages, Tally, endpoint_for, observed, price_unknown,
                             provider_of, request, semaphore)
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


_REHEARSAL = [{"role": "assistant", "content": ""}, {"content": "ok"}, {}]


async def rehearse(model: str, config: LLMConfig) -> None:
    """``prepare`` (off the loop), then, for a model litellm reads through the OpenAI SDK, one
    real stream of it through ``stream`` against a loopback stand-in speaking OpenAI's SSE: the
    provider's request building, its client, the SDK's chunk types and this module's reader all
    run once before the first caller (a first turn after ``/readyz`` paid ~40 ms of CPU for them
    even after the mock stream of ``runtime.warm``). Sends nothing off this machine."""
    await asyncio.to_thread(prepare, model)
    if model == OFFLINE_MODEL or provider_of(runtime.litellm(), model) not in _OPENAI_COMPATIBLE:
        return

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        await reader.readexactly(length)
        base = {"id": "rehearsal", "object": "chat.completion.chunk", "created": 0, "model": model}
        events = [{**base, "choices": [{"index": 0, "delta": d, "finish_reason": "stop" if not d else None}]}
                  for d in _REHEARSAL]
        events.append({**base, "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1,
                                                         "total_tokens": 2}})
        body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        stand_in = config.model_copy(update={"retries": 0, "fallbacks": [], "timeout": 10.0})
        async with stream("rehearsal", [{"role": "user", "content": "warm-up"}], model=model, config=stand_in,
                          api_base=f"http://127.0.0.1:{port}/v1", api_key="rehearsal") as s:
            async for _ in s:
                pass
    except Exception:  # noqa: BLE001 - a provider that will not stream here still streams (or fails) for real
        pass
    finally:
        server.close()
        await server.wait_closed()


def prepare(model: str) -> None:
    """Do now (at start-up, blocking) what the first stream of ``model`` would otherwise do on
    its way to the first token: look up whether it takes ``stream_options``, give a model
    litellm's price map does not know its price of nothing, and load the tokenizer litellm
    counts the prompt with as it opens a stream (o200k_base: over a second of CPU, paid by the
    first caller after ``/readyz`` before this)."""
    lm = runtime.litellm()
    _takes_stream_options(lm, model)
    price_unknown(lm, model)
    try:
        lm.token_counter(model=model, messages=[{"role": "user", "content": "warm-up"}])
    except Exception:  # noqa: BLE001 - a model litellm cannot count for fails on its first call, with its reason
        pass


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


# OpenAI-compatible providers, which take ``api_base`` and so can be rehearsed on loopback.
_OPENAI_COMPATIBLE = {"openai", "hosted_vllm", "openai_like", "lm_studio", "llamafile", "deepseek", "groq",
                      "together_ai", "fireworks_ai", "openrouter"}


def _sdk_stream(response: Any) -> Any:
    """The OpenAI SDK's own stream under litellm's ``CustomStreamWrapper``, when that is what it
    wraps (the ``openai/`` provider and every OpenAI-compatible one), else None."""
    raw = getattr(response, "completion_stream", None)
    if raw is None or type(raw).__name__ != "AsyncStream":
        return None
    from openai import AsyncStream  # loaded with litellm by now

    return raw if isinstance(raw, AsyncStream) else None


async def _provider_chunks(lm: Any, model: str, response: Any, listened: bool) -> AsyncIterator[Any]:
    """The stream's chunks, each with ``choices[0].delta.content`` and maybe ``usage``.

    litellm asks the model (request building, auth, the provider's client), but reading its
    wrapper costs about twice the OpenAI SDK's own CPU per turn: every chunk rebuilt as litellm's
    type and kept, and at the end the whole answer rebuilt, priced (twice, raising for a local
    server's unpriced model) and handed to its success logging, all on the event loop the other
    live calls wait on. Voice needs only the text and the usage, which the SDK's chunks carry
    as they are, so where the wrapper holds an SDK stream and nobody listens to litellm's logging
    (``listened``: no callback registered or passed, see ``calls.observed``) this reads that stream
    itself; a stream someone listens to, and other providers (the offline model among them), go
    through the wrapper, so every registered callback still hears every stream. Errors are mapped
    the way the wrapper maps them, so retries and fallbacks see litellm's exception types either way."""
    raw = None if listened else _sdk_stream(response)
    if raw is None:
        async for chunk in response:
            yield chunk
        return
    try:
        async for chunk in raw:
            yield chunk
    except Exception as exc:  # noqa: BLE001 - mapped, then raised
        from litellm.litellm_core_utils.exception_mapping_utils import exception_type

        raise exception_type(model=model, original_exception=exc,
                             custom_llm_provider=getattr(response, "custom_llm_provider", None)) from exc


async def _deltas(holder: LLMStream, task: str, models: list[str], messages: Messages, config: LLMConfig,
                  endpoint: Endpoint, params: dict[str, Any]) -> AsyncIterator[str]:
    lm = runtime.litellm()
    tally = Tally()
    chain = Chain(lm, config, models, tally, task)
    slots = semaphore(config.concurrency)
    listened = observed(lm, params)
    for model, attempt in chain.attempts():
        price_unknown(lm, model)
        tally.attempts += 1
        parts: list[str] = []
        usage = None
        try:
            async with slots:
                response = await request(lm, model, messages, config, endpoint,
                                         {**_usage_option(lm, model), **params}, stream=True)
                try:
                    chunks = _provider_chunks(lm, model, response, listened)
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

