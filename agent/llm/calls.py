"""The machinery under every call: results and accounting, the concurrency limit, retries.

A call walks a chain of models (the task's model, then the fallbacks). Each model gets
``retries`` more attempts after the first on 429, 5xx, timeouts and connection errors, with
exponential backoff and jitter; any other 4xx ends the call at once (``LLMRequestRejected``),
since retrying or falling back would only hide a bad request or a bad key. Attempts share a
concurrency limit per event loop: the app and the in-process worker run separate loops, and an
asyncio semaphore belongs to one loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, SecretStr

from agent import metrics
from agent.llm.config import OFFLINE_MODEL, LLMConfig
from agent.llm.errors import LLMRequestRejected, LLMUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)
Messages = list[dict[str, Any]]


@dataclass(frozen=True)
class LLMResult(Generic[T]):
    text: str
    parsed: T | None
    model: str  # the litellm model name that answered, e.g. "overture/offline"
    input_tokens: int
    output_tokens: int
    cost_usd: float
    attempts: int  # requests made, counting retries, fallbacks and the repair

    @property
    def offline(self) -> bool:
        return self.model == OFFLINE_MODEL


@dataclass
class Tally:
    attempts: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, lm: Any, model: str, usage: Any, response: Any = None) -> None:
        prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion = int(getattr(usage, "completion_tokens", 0) or 0)
        self.input_tokens += prompt
        self.output_tokens += completion
        if model != OFFLINE_MODEL:
            self.cost_usd += cost_of(lm, model, response, prompt, completion)

    def result(self, text: str, parsed: Any, model: str) -> LLMResult:
        metrics.MODEL_CALLS.labels(model, "ok").inc()
        metrics.MODEL_TOKENS.labels(model, "input").inc(self.input_tokens)
        metrics.MODEL_TOKENS.labels(model, "output").inc(self.output_tokens)
        metrics.MODEL_COST.labels(model).inc(self.cost_usd)
        return LLMResult(text=text, parsed=parsed, model=model, input_tokens=self.input_tokens,
                         output_tokens=self.output_tokens, cost_usd=self.cost_usd, attempts=self.attempts)


# Models litellm's price map does not know: looking them up raises, which costs ~2 ms of CPU a
# call (on the event loop, after every voice turn); they cost 0, so ask once per process.
_unpriced: set[str] = set()


def mark_unpriced(model: str) -> None:
    """``model`` costs nothing (a local server's, priced at 0 by :func:`price_unknown`): its
    streams' usage need not be priced, which litellm does in ~0.3 ms of CPU on the loop."""
    _unpriced.add(model)


@functools.lru_cache(maxsize=256)
def price_unknown(lm: Any, model: str) -> None:
    """Put a model missing from litellm's price map (a local OpenAI-compatible server's) in it at
    no cost, once a process. litellm prices every answer as it returns it (a stream as it opens
    it), and for an unknown model the lookup tried every spelling of the name and raised, on
    every voice turn and every planner call (~0.4 ms of CPU a call); the cost was 0 all the
    same. A model the map knows keeps its price."""
    if model == OFFLINE_MODEL:
        return  # provider.register priced it
    try:
        lm.get_model_info(model=model)
        return
    except Exception:  # noqa: BLE001 - not in the price map
        pass
    lm.register_model({model: {"input_cost_per_token": 0.0, "output_cost_per_token": 0.0, "mode": "chat",
                               "cache_creation_input_token_cost": 0.0, "cache_read_input_token_cost": 0.0,
                               "litellm_provider": provider_of(lm, model) or "openai"}})
    mark_unpriced(model)  # and its usage is not priced again on our side either


def cost_of(lm: Any, model: str, response: Any, prompt: int, completion: int) -> float:
    if model in _unpriced:
        return 0.0
    try:
        if response is not None:
            # litellm prices every non-streamed response as it returns it (``_hidden_params``);
            # pricing it a second time was about a seventh of the call's CPU in the profile.
            # None there means litellm found no price (a local server's model): it costs 0.
            hidden = getattr(response, "_hidden_params", None) or {}
            if "response_cost" in hidden:
                return float(hidden["response_cost"] or 0.0)
            return float(lm.completion_cost(completion_response=response) or 0.0)
        # A stream leaves no response object, only the usage of its last chunk.
        return float(sum(lm.cost_per_token(model=model, prompt_tokens=prompt, completion_tokens=completion)))
    except Exception:  # noqa: BLE001 - models missing from litellm's price map cost 0, never fail
        if response is None:
            _unpriced.add(model)
        return 0.0


# -- concurrency -----------------------------------------------------------------------------

_limits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[int, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary())
_limits_lock = threading.Lock()


def semaphore(limit: int) -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    with _limits_lock:
        held = _limits.get(loop)
        # A changed limit takes effect for new calls; calls in flight keep the old semaphore.
        if held is None or held[0] != limit:
            held = (limit, asyncio.Semaphore(limit))
            _limits[loop] = held
        return held[1]


# -- retries ---------------------------------------------------------------------------------

def _retryable(lm: Any, exc: BaseException) -> bool:
    import httpx  # loaded with litellm by now; importing it up front would cost ~0.1 s

    if isinstance(exc, (TimeoutError, ConnectionError, httpx.TransportError, lm.Timeout, lm.APIConnectionError)):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and (status == 429 or status >= 500)


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or getattr(exc, "litellm_response_headers", None) or {}
    try:
        return float(headers.get("retry-after"))
    except (TypeError, ValueError, AttributeError):
        return None


class Chain:
    """Walks models x attempts, deciding after each failure whether to wait, move on or stop."""

    def __init__(self, lm: Any, config: LLMConfig, models: list[str], tally: Tally, task: str):
        self.lm, self.config, self.models, self.tally, self.task = lm, config, models, tally, task
        self.last_error: BaseException | None = None

    def attempts(self) -> list[tuple[str, int]]:
        return [(model, n) for model in self.models for n in range(self.config.retries + 1)]

    async def failed(self, model: str, attempt: int, exc: BaseException) -> None:
        """Raise if ``exc`` must end the call; otherwise back off when the same model goes again."""
        if not _retryable(self.lm, exc):
            status = getattr(exc, "status_code", None)
            if isinstance(status, int):
                raise LLMRequestRejected(f"{model} rejected the {self.task} request ({status}): {exc}",
                                         model=model, status_code=status, attempts=self.tally.attempts) from exc
            raise exc  # not a provider error: a bug, let it surface as itself
        self.last_error = exc
        if attempt < self.config.retries:
            delay = min(self.config.backoff_max, self.config.backoff * 2**attempt) * (0.5 + random.random() / 2)
            hint = _retry_after(exc)
            if hint is not None:
                delay = max(delay, min(hint, self.config.backoff_max))
            log.warning("model %s failed for %s (attempt %d, %s); retrying in %.2fs",
                        model, self.task, attempt + 1, type(exc).__name__, delay)
            await asyncio.sleep(delay)
        else:
            log.warning("model %s gave up for %s after %d attempts (%s)",
                        model, self.task, attempt + 1, type(exc).__name__)

    def unavailable(self) -> LLMUnavailable:
        return LLMUnavailable(
            f"no model answered the {self.task} request ({', '.join(self.models)}; "
            f"{self.tally.attempts} attempts; last error {type(self.last_error).__name__}: {self.last_error})",
            models=self.models, attempts=self.tally.attempts, last_error=self.last_error)


# -- requests --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Endpoint:
    api_base: str | None
    api_key: str | None

    def kwargs(self, model: str) -> dict[str, Any]:
        if model == OFFLINE_MODEL:
            return {}
        out: dict[str, Any] = {}
        if self.api_base:
            out["api_base"] = self.api_base
        if self.api_key:
            out["api_key"] = self.api_key
        return out


def endpoint_for(config: LLMConfig, api_base: str | None, api_key: str | SecretStr | None) -> Endpoint:
    key = api_key if api_key is not None else config.api_key
    if isinstance(key, SecretStr):
        key = key.get_secret_value()
    return Endpoint(api_base or config.api_base, key)


async def request(lm: Any, model: str, messages: Messages, config: LLMConfig, endpoint: Endpoint,
                  params: dict[str, Any], stream: bool = False) -> Any:
    quiet = contextlib.nullcontext() if stream or observed(lm, params) else _unlogged()
    async with asyncio.timeout(config.timeout):
        with quiet:
            # Our retries replace litellm's and the OpenAI SDK's (2 by default): one request per attempt.
            return await lm.acompletion(model=model, messages=messages, timeout=config.timeout, max_retries=0,
                                        num_retries=0, stream=stream, **endpoint.kwargs(model), **params)


# Where litellm keeps the callbacks a user registered, process-wide or for one call.
_CALLBACK_LISTS = ("callbacks", "success_callback", "failure_callback", "_async_success_callback",
                   "_async_failure_callback", "input_callback", "_async_input_callback", "service_callback")
_CALLBACK_PARAMS = ("callbacks", "success_callback", "failure_callback", "logger_fn")


def observed(lm: Any, params: dict[str, Any]) -> bool:
    """Someone listens to litellm's logging: a callback registered with litellm or passed for the call."""
    return any(getattr(lm, name, None) for name in _CALLBACK_LISTS) or any(params.get(k) for k in _CALLBACK_PARAMS)


def _unlogged() -> Any:
    """A non-streamed answer without litellm's success logging, when nobody listens to it.

    After every answer litellm builds its standard logging payload, prices the response a second
    time and hands both to a thread and a background task for the callbacks, about a third of
    the CPU of an offline planner call, for callbacks nobody registered. Marking the call as
    litellm's own sub-call (``internal_sub_call``) skips that work and nothing else the call
    needs: the exception mapping, the request, the price on the response (``_hidden_params``,
    which :func:`cost_of` reads) all happen before it. With any callback registered, calls are
    logged as litellm always did."""
    from litellm._internal_context import internal_sub_call  # loaded with litellm by now

    return internal_sub_call()


def provider_of(lm: Any, model: str) -> str | None:
    try:
        return lm.get_llm_provider(model)[1]
    except Exception:  # noqa: BLE001 - unknown to litellm: it will say so on the call itself
        return None

