"""Model-layer configuration: settings fields first, ``OVERTURE_MODEL_*`` variables otherwise."""

from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from agent.llm import OFFLINE_MODEL, LLMConfig


def test_env_variables_fill_what_settings_lack():
    env = {"OVERTURE_MODEL_TIMEOUT": "12.5", "OVERTURE_MODEL_RETRIES": "4", "OVERTURE_MODEL_CONCURRENCY": "3",
           "OVERTURE_MODEL_FALLBACKS": "openai/gpt-4o-mini, offline ,", "OVERTURE_MODEL_PLANNER": "openai/gpt-4o",
           "OVERTURE_MODEL_VOICE_REPLY": "offline", "OVERTURE_MODEL_API_BASE": "http://127.0.0.1:8000/v1",
           "OVERTURE_BROKER_URL": "redis://x"}
    cfg = LLMConfig.load(SimpleNamespace(model="anthropic/claude-3-5-haiku-latest"), env)
    assert (cfg.timeout, cfg.retries, cfg.concurrency) == (12.5, 4, 3)
    assert cfg.fallbacks == ["openai/gpt-4o-mini", "offline"]
    assert cfg.task_models == {"PLANNER": "openai/gpt-4o", "VOICE_REPLY": "offline"}  # reserved names excluded
    assert cfg.model_for("planner") == "openai/gpt-4o"
    assert cfg.model_for("voice-reply") == OFFLINE_MODEL
    assert cfg.model_for("evaluator") == "anthropic/claude-3-5-haiku-latest"
    assert cfg.chain_for("planner") == ["openai/gpt-4o", "openai/gpt-4o-mini", OFFLINE_MODEL]
    assert cfg.chain_for("voice-reply") == [OFFLINE_MODEL, "openai/gpt-4o-mini"]  # no model twice
    assert cfg.api_base == "http://127.0.0.1:8000/v1"


def test_settings_fields_win_over_env_once_they_exist():
    settings = SimpleNamespace(model="offline", model_timeout=5.0, model_fallbacks=["openai/a"],
                               model_tasks={"planner": "openai/b"})
    cfg = LLMConfig.load(settings, {"OVERTURE_MODEL_TIMEOUT": "99", "OVERTURE_MODEL_FALLBACKS": "openai/z"})
    assert cfg.timeout == 5.0 and cfg.fallbacks == ["openai/a"] and cfg.model_for("planner") == "openai/b"
    assert cfg.model == "offline" and cfg.chain_for("other") == [OFFLINE_MODEL, "openai/a"]


def test_defaults_select_the_offline_model_and_bad_values_are_refused():
    cfg = LLMConfig.load(SimpleNamespace(model="offline"), {})
    assert cfg.chain_for("planner") == [OFFLINE_MODEL] and cfg.retries == 2 and cfg.concurrency == 8
    with pytest.raises(ValidationError):
        LLMConfig.load(SimpleNamespace(model="offline"), {"OVERTURE_MODEL_CONCURRENCY": "0"})
