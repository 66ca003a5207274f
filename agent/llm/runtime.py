"""Importing litellm, once, lazily and offline.

litellm takes seconds to import and, unless told otherwise, fetches its model cost map (and
Anthropic beta-header config) from GitHub on import. These switches keep it on the copies it
ships with, so nothing but the configured model endpoint is ever contacted.
"""

from __future__ import annotations

import os
import threading
from typing import Any

LOCAL_SWITCHES = ("LITELLM_LOCAL_MODEL_COST_MAP", "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS", "LITELLM_LOCAL_BLOG_POSTS")

_lock = threading.Lock()
_litellm: Any = None
_warm = False


def set_local_switches() -> None:
    for name in LOCAL_SWITCHES:
        os.environ[name] = "True"


def litellm() -> Any:
    """The litellm module, configured, with the offline model registered."""
    global _litellm
    if _litellm is None:
        with _lock:
            if _litellm is None:
                set_local_switches()
                import litellm as module

                # litellm prints "Give Feedback / Get Help" banners to stdout on every error.
                module.suppress_debug_info = True
                from agent.llm.provider import register

                register(module)
                _settle_heap()
                _litellm = module
    return _litellm


def _settle_heap() -> None:
    """Take what the process holds now (litellm's import: ~320,000 objects, over half of a
    worker's heap, all of them module state that lives as long as the process) out of the
    garbage collector's full collections.

    A full collection walks every tracked object; with litellm in the heap each one took
    0.2-0.8 s of CPU, and planning 1,000 contacts 32 at a time ran three of them (2.3 ms of CPU
    a contact, a sixth of the plan). ``gc.freeze`` moves the objects alive now to a generation
    the collector never walks, so later full collections walk only what was made since. One
    collection first, so that garbage of the import itself is freed rather than frozen; objects
    of requests in flight at this moment (a lazy first call) stay frozen, once, which only means
    that if they end in a reference cycle their memory is not reclaimed."""
    import gc

    gc.collect()
    gc.freeze()


async def warm(model: str) -> None:
    """Import litellm (in a thread: seconds) and stream one mock answer through its path for
    ``model`` on this loop, so its lazily loaded streaming machinery is loaded before any real
    call (a first voice turn paid ~2 s for it even after the import). Sends nothing anywhere."""
    import asyncio

    global _warm
    lm = await asyncio.to_thread(litellm)
    try:
        response = await lm.acompletion(model=model, messages=[{"role": "user", "content": "warm-up"}],
                                        mock_response="ok", stream=True)
        async for _ in response:
            pass
    except Exception:  # noqa: BLE001 - a model litellm cannot route fails on its first real call, with its reason
        pass
    _warm = True


def is_warm() -> bool:
    """The model layer is ready for a first call without a cold start (``warm`` ran)."""
    return _warm
