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
                _litellm = module
    return _litellm
