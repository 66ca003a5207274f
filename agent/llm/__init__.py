"""The model layer: every model call goes through ``complete`` or ``stream`` (ARCHITECTURE.md).

    result = await complete("planner", messages, schema=OutreachDraft)
    result.parsed, result.model, result.input_tokens, result.cost_usd

Per-task models, fallbacks, timeouts, retries and the concurrency limit come from ``LLMConfig``
(settings and ``OVERTURE_MODEL_*``). The model named ``offline`` (the default) is a
deterministic local model behind the same litellm path; task code makes its answers useful
with ``register_offline_responder``.

Importing this package does not import litellm (seconds); the first call does, unless
``preload()`` ran first (``await asyncio.to_thread(preload)`` at start-up).
"""

from agent.llm import runtime

# Before anything can import litellm: its import would otherwise fetch price maps from GitHub.
runtime.set_local_switches()

from agent.llm.calls import LLMResult  # noqa: E402
from agent.llm.client import complete  # noqa: E402
from agent.llm.config import OFFLINE_MODEL, LLMConfig, get_config, use_config  # noqa: E402
from agent.llm.streaming import LLMStream, rehearse, stream  # noqa: E402
from agent.llm.errors import LLMError, LLMOutputInvalid, LLMRequestRejected, LLMUnavailable  # noqa: E402
from agent.llm.offline import (  # noqa: E402
    example_for_schema,
    register_offline_responder,
    unregister_offline_responder,
)


def preload() -> None:
    """Import and configure litellm now (blocking, ~2.5 s), so the first call is not slow."""
    runtime.litellm()


async def warm() -> None:
    """``preload`` off the loop, one mock stream through the voice model's litellm path, and
    a rehearsal of its first real stream (``streaming.rehearse``)."""
    config = get_config()
    model = config.model_for("voice")
    await runtime.warm(model)
    await rehearse(model, config)


def is_warm() -> bool:
    return runtime.is_warm()


__all__ = [
    "OFFLINE_MODEL",
    "LLMConfig",
    "LLMError",
    "LLMOutputInvalid",
    "LLMRequestRejected",
    "LLMResult",
    "LLMStream",
    "LLMUnavailable",
    "complete",
    "example_for_schema",
    "get_config",
    "is_warm",
    "preload",
    "register_offline_responder",
    "rehearse",
    "stream",
    "unregister_offline_responder",
    "use_config",
    "warm",
]
