"""``complete``: a model's answer, parsed into a pydantic model when a schema is given.

Calls go through ``litellm.acompletion`` only (``agent.llm.calls`` retries, falls back and
limits them). The schema goes out as a JSON schema ``response_format`` where the provider
supports one and as an instruction otherwise; an answer that does not validate gets exactly
one repair request (the bad answer and the errors sent back) before ``LLMOutputInvalid``.
Tokens and cost add up over every answered request, the invalid one included.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, SecretStr, ValidationError

from agent.llm import runtime
from agent.llm.calls import (Chain, Endpoint, LLMResult, Messages, Tally, endpoint_for, price_unknown, provider_of,
                             request, semaphore)
from agent.llm.config import OFFLINE_MODEL, LLMConfig, get_config
from agent.llm.errors import LLMOutputInvalid

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)


@functools.lru_cache(maxsize=256)
def _native_schema(model: str, provider: str | None) -> bool:
    lm = runtime.litellm()
    try:
        return bool(lm.supports_response_schema(model=model, custom_llm_provider=provider))
    except Exception:  # noqa: BLE001 - not in the price map: assume no
        return False


@functools.lru_cache(maxsize=256)
def _json_schema(schema: type[BaseModel]) -> tuple[dict[str, Any], str]:
    return schema.model_json_schema(), re.sub(r"[^A-Za-z0-9_-]", "_", schema.__name__)[:64]


def _schema_request(lm: Any, model: str, schema: type[BaseModel], endpoint: Endpoint,
                    messages: Messages) -> tuple[Messages, dict[str, Any]]:
    """The messages and extra params that ask ``model`` for JSON matching ``schema``."""
    cached, name = _json_schema(schema)
    json_schema = copy.deepcopy(cached)  # providers' transforms may edit it in place
    provider = "overture" if model == OFFLINE_MODEL else provider_of(lm, model)
    native = (model == OFFLINE_MODEL
              # An OpenAI-compatible server (vLLM, llama.cpp, a test server) is not in the price map.
              or (provider == "openai" and endpoint.api_base is not None)
              or _native_schema(model, provider))
    if native:
        return messages, {"response_format": {"type": "json_schema", "json_schema": {
            "name": name, "schema": json_schema, "strict": False}}}
    instruction = ("Reply with one JSON object that validates against this JSON schema, and nothing else "
                   f"(no prose, no code fences):\n{json.dumps(json_schema)}")
    return [{"role": "system", "content": instruction}, *messages], {}


def _text(response: Any) -> str:
    try:
        return response.choices[0].message.content or ""
    except (AttributeError, IndexError):
        return ""


_FENCE = re.compile(r"^\s*```(?:json)?\s*\n?(.*?)\n?```\s*$", re.DOTALL)


def _parse(schema: type[T], text: str) -> tuple[T | None, list[dict[str, Any]]]:
    fenced = _FENCE.match(text)  # some models wrap JSON in a code fence even when asked not to
    try:
        return schema.model_validate_json(fenced.group(1) if fenced else text), []
    except ValidationError as exc:
        return None, exc.errors(include_url=False, include_context=False, include_input=False)


def _describe(errors: list[dict[str, Any]]) -> str:
    lines = []
    for error in errors[:20]:
        where = ".".join(str(part) for part in error.get("loc", ())) or "(whole reply)"
        lines.append(f"- {where}: {error.get('msg')}")
    return "\n".join(lines)


def _repair_messages(messages: Messages, bad: str, errors: list[dict[str, Any]]) -> Messages:
    return [*messages, {"role": "assistant", "content": bad}, {"role": "user", "content": (
        "That reply does not validate against the required JSON schema. Validation errors:\n"
        f"{_describe(errors)}\nReply again with only the corrected JSON object.")}]


async def _answer(lm: Any, task: str, models: list[str], messages: Messages, config: LLMConfig,
                  endpoint: Endpoint, params: dict[str, Any], tally: Tally,
                  build: Callable[[str, Messages], tuple[Messages, dict[str, Any]]]) -> tuple[str, Any]:
    """The first answer any model in ``models`` gives: ``(model, response)``."""
    chain = Chain(lm, config, models, tally, task)
    slots = semaphore(config.concurrency)
    for model, attempt in chain.attempts():
        price_unknown(lm, model)  # litellm prices every answer; an unknown model's lookup raised each time
        sent, extra = build(model, messages)
        tally.attempts += 1
        try:
            async with slots:
                response = await request(lm, model, sent, config, endpoint, {**params, **extra})
        except Exception as exc:  # noqa: BLE001 - classified in failed()
            await chain.failed(model, attempt, exc)
            continue
        tally.add(lm, model, getattr(response, "usage", None), response)
        return model, response
    raise chain.unavailable()


async def complete(task: str, messages: Messages, *, schema: type[T] | None = None, model: str | None = None,
                   api_base: str | None = None, api_key: str | SecretStr | None = None,
                   config: LLMConfig | None = None, **params: Any) -> LLMResult[T]:
    """Ask the ``task``'s model (or ``model``) and its fallbacks; parse into ``schema`` if given.

    ``params`` (``temperature``, ``max_tokens``, ...) go to litellm unchanged. ``api_base`` and
    ``api_key`` apply to every model in the chain except the offline one.
    """
    lm = runtime.litellm()
    config = config or get_config()
    endpoint = endpoint_for(config, api_base, api_key)
    models = config.chain_for(task, model)
    tally = Tally()

    def build(name: str, base: Messages) -> tuple[Messages, dict[str, Any]]:
        return _schema_request(lm, name, schema, endpoint, base) if schema else (base, {})

    answered, response = await _answer(lm, task, models, list(messages), config, endpoint, params, tally, build)
    text = _text(response)
    if schema is None:
        return tally.result(text, None, answered)
    parsed, errors = _parse(schema, text)
    if parsed is None:
        log.warning("model %s gave invalid %s for %s; asking once to repair", answered, schema.__name__, task)
        repair = _repair_messages(list(messages), text, errors)
        answered, response = await _answer(lm, task, models[models.index(answered):], repair, config, endpoint,
                                           params, tally, build)
        text = _text(response)
        parsed, errors = _parse(schema, text)
        if parsed is None:
            raise LLMOutputInvalid(
                f"{answered} gave invalid {schema.__name__} for {task} twice:\n{_describe(errors)}",
                raw=text, errors=errors, model=answered, attempts=tally.attempts,
                input_tokens=tally.input_tokens, output_tokens=tally.output_tokens, cost_usd=tally.cost_usd)
    return tally.result(text, parsed, answered)

