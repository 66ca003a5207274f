"""How the model layer calls models: which model per task, timeouts, retries, fallbacks, limits.

Values come from ``agent.settings`` where a field exists and from ``OVERTURE_MODEL_*`` environment
variables otherwise, so the layer works before the settings grow these fields:

``OVERTURE_MODEL`` (settings.model)   the default litellm model; ``offline`` is the built-in one
``OVERTURE_MODEL_<TASK>``             per-task override, e.g. ``OVERTURE_MODEL_PLANNER=openai/gpt-4o``
``OVERTURE_MODEL_FALLBACKS``          comma list, tried in order once a model's retries run out
``OVERTURE_MODEL_TIMEOUT``            seconds per attempt
``OVERTURE_MODEL_RETRIES``            retries per model after the first attempt
``OVERTURE_MODEL_BACKOFF``            first backoff delay in seconds (doubles, with jitter)
``OVERTURE_MODEL_CONCURRENCY``        calls in flight at once, per event loop
``OVERTURE_MODEL_API_BASE`` / ``_API_KEY``  endpoint for every non-offline model (local servers)
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

OFFLINE_MODEL = "overture/offline"
_PREFIX = "OVERTURE_MODEL_"
# OVERTURE_MODEL_<NAME> variables that configure the layer rather than name a task's model.
_RESERVED = {"TIMEOUT", "RETRIES", "BACKOFF", "BACKOFF_MAX", "CONCURRENCY", "FALLBACKS", "API_BASE", "API_KEY",
             "TASKS"}


def canonical_model(name: str) -> str:
    """``offline`` is shorthand for the built-in model's full litellm name."""
    name = name.strip()
    return OFFLINE_MODEL if name in ("offline", OFFLINE_MODEL) else name


def task_key(task: str) -> str:
    """``planner``, ``voice-reply`` -> ``PLANNER``, ``VOICE_REPLY`` (the env var suffix)."""
    return re.sub(r"[^A-Z0-9]+", "_", task.upper()).strip("_")


class LLMConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: str = "offline"
    task_models: dict[str, str] = Field(default_factory=dict, description="task key -> model")
    fallbacks: list[str] = Field(default_factory=list)
    timeout: float = Field(default=60.0, gt=0)
    retries: int = Field(default=2, ge=0, le=10)
    backoff: float = Field(default=0.5, ge=0)
    backoff_max: float = Field(default=8.0, ge=0)
    concurrency: int = Field(default=8, ge=1, le=1024)
    api_base: str | None = None
    api_key: SecretStr | None = None

    @field_validator("fallbacks", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("task_models", mode="before")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {task_key(k): v for k, v in value.items()}
        return value

    def model_for(self, task: str) -> str:
        return canonical_model(self.task_models.get(task_key(task)) or self.model)

    def chain_for(self, task: str, model: str | None = None) -> list[str]:
        """The task's model, then each fallback once, in order."""
        chain: list[str] = []
        for name in [canonical_model(model) if model else self.model_for(task), *self.fallbacks]:
            name = canonical_model(name)
            if name not in chain:
                chain.append(name)
        return chain

    @classmethod
    def load(cls, settings: Any = None, environ: Mapping[str, str] | None = None) -> LLMConfig:
        """Build from settings fields where they exist, ``OVERTURE_MODEL_*`` variables otherwise."""
        if settings is None:
            from agent.settings import get_settings

            settings = get_settings()
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {"model": getattr(settings, "model", None) or "offline"}
        for field, var in [("timeout", "TIMEOUT"), ("retries", "RETRIES"), ("backoff", "BACKOFF"),
                           ("backoff_max", "BACKOFF_MAX"), ("concurrency", "CONCURRENCY"),
                           ("fallbacks", "FALLBACKS"), ("api_base", "API_BASE"), ("api_key", "API_KEY")]:
            value = getattr(settings, f"model_{field}", None)
            if value is None:
                value = env.get(_PREFIX + var) or None
            if value is not None:
                values[field] = value
        tasks = {key[len(_PREFIX):]: value for key, value in env.items()
                 if key.startswith(_PREFIX) and key[len(_PREFIX):] not in _RESERVED and value.strip()}
        tasks.update(getattr(settings, "model_tasks", None) or {})
        values["task_models"] = tasks
        return cls(**values)


_installed: LLMConfig | None = None


def get_config() -> LLMConfig:
    """The installed config, else one read fresh from settings and env (settings swap in tests)."""
    return _installed if _installed is not None else LLMConfig.load()


def use_config(config: LLMConfig | None) -> LLMConfig | None:
    """Install ``config`` process-wide (``None`` goes back to reading settings and env)."""
    global _installed
    _installed = config
    return config
