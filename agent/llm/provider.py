"""The offline model as a litellm custom provider (``overture/offline``).

Plugging it in behind ``litellm.acompletion`` means the offline model runs the same code path
as a hosted one: retries, structured output, streaming and accounting are all exercised.
Importing this module imports litellm; ``agent.llm.runtime`` does that lazily.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
from litellm import CustomLLM
from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler, HTTPHandler
from litellm.llms.custom_llm import CustomLLMError
from litellm.types.utils import GenericStreamingChunk, ModelResponse, Usage

from agent.llm import offline
from agent.llm.config import OFFLINE_MODEL

PROVIDER = "overture"


def _answer(messages: list[dict[str, Any]], optional_params: dict[str, Any]) -> tuple[str, Usage]:
    try:
        text = offline.reply(messages, optional_params.get("response_format"))
    except Exception as exc:  # noqa: BLE001 - a responder bug
        # 400: litellm maps it to BadRequestError, which is not retried (the answer is
        # deterministic, so a retry would fail the same way). Anything else it calls a
        # connection error.
        raise CustomLLMError(status_code=400, message=f"offline model failed: {exc!r}") from exc
    prompt, completion = offline.count_words(messages), len(text.split())
    return text, Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def _fill(model_response: ModelResponse, messages: list[dict[str, Any]],
          optional_params: dict[str, Any]) -> ModelResponse:
    text, usage = _answer(messages, optional_params)
    model_response.choices[0].message.content = text  # type: ignore[union-attr]
    model_response.choices[0].finish_reason = "stop"
    model_response.model = OFFLINE_MODEL
    # Stable ids and no clock: the same messages give the same response object.
    digest = hashlib.sha256(json.dumps(messages, sort_keys=True, default=str).encode()).hexdigest()
    model_response.id = f"offline-{digest[:24]}"
    model_response.created = 0
    model_response.usage = usage  # type: ignore[attr-defined]
    return model_response


def _chunks(messages: list[dict[str, Any]], optional_params: dict[str, Any]) -> Iterator[GenericStreamingChunk]:
    text, usage = _answer(messages, optional_params)
    words = text.split(" ")
    for i, word in enumerate(words):
        yield GenericStreamingChunk(text=word if i == 0 else " " + word, tool_use=None, is_finished=False,
                                    finish_reason="", usage=None, index=0)
    yield GenericStreamingChunk(text="", tool_use=None, is_finished=True, finish_reason="stop", index=0,
                                usage={"prompt_tokens": usage.prompt_tokens,
                                       "completion_tokens": usage.completion_tokens,
                                       "total_tokens": usage.total_tokens})


class OfflineLLM(CustomLLM):
    """Signatures mirror ``litellm.llms.custom_llm.CustomLLM`` (litellm 1.106), which calls them by keyword."""

    def completion(self, model: str, messages: list, api_base: str, custom_prompt_dict: dict,
                   model_response: ModelResponse, print_verbose: Callable, encoding: Any, api_key: Any,
                   logging_obj: Any, optional_params: dict, acompletion: Any = None, litellm_params: Any = None,
                   logger_fn: Any = None, headers: dict | None = None,
                   timeout: float | httpx.Timeout | None = None, client: HTTPHandler | None = None) -> ModelResponse:
        return _fill(model_response, messages, optional_params)

    async def acompletion(self, model: str, messages: list, api_base: str, custom_prompt_dict: dict,
                          model_response: ModelResponse, print_verbose: Callable, encoding: Any, api_key: Any,
                          logging_obj: Any, optional_params: dict, acompletion: Any = None,
                          litellm_params: Any = None, logger_fn: Any = None, headers: dict | None = None,
                          timeout: float | httpx.Timeout | None = None,
                          client: AsyncHTTPHandler | None = None) -> ModelResponse:
        return _fill(model_response, messages, optional_params)

    def streaming(self, model: str, messages: list, api_base: str, custom_prompt_dict: dict,
                  model_response: ModelResponse, print_verbose: Callable, encoding: Any, api_key: Any,
                  logging_obj: Any, optional_params: dict, acompletion: Any = None, litellm_params: Any = None,
                  logger_fn: Any = None, headers: dict | None = None,
                  timeout: float | httpx.Timeout | None = None,
                  client: HTTPHandler | None = None) -> Iterator[GenericStreamingChunk]:
        yield from _chunks(messages, optional_params)

    async def astreaming(self, model: str, messages: list, api_base: str, custom_prompt_dict: dict,
                         model_response: ModelResponse, print_verbose: Callable, encoding: Any, api_key: Any,
                         logging_obj: Any, optional_params: dict, acompletion: Any = None,
                         litellm_params: Any = None, logger_fn: Any = None, headers: dict | None = None,
                         timeout: float | httpx.Timeout | None = None,
                         client: AsyncHTTPHandler | None = None) -> AsyncIterator[GenericStreamingChunk]:
        for chunk in _chunks(messages, optional_params):
            yield chunk


def register(litellm: Any) -> None:
    """Put the offline model in ``litellm.custom_provider_map`` and its price (nothing) in
    litellm's cost map (idempotent). Unpriced, every offline call made litellm raise and format
    a traceback twice while costing it, once on a thread of its own."""
    others = [item for item in litellm.custom_provider_map if item.get("provider") != PROVIDER]
    litellm.custom_provider_map = [*others, {"provider": PROVIDER, "custom_handler": OfflineLLM()}]
    free = {"input_cost_per_token": 0.0, "output_cost_per_token": 0.0, "litellm_provider": PROVIDER,
            "cache_creation_input_token_cost": 0.0, "cache_read_input_token_cost": 0.0, "mode": "chat",
            "max_input_tokens": 1_000_000, "max_output_tokens": 100_000}
    litellm.register_model({f"{PROVIDER}/offline": free, "offline": free})
