"""Typed failures of the model layer, so callers can tell "try later" from "fix the request"."""

from __future__ import annotations

from typing import Any


class LLMError(Exception):
    """Base of every model-layer failure."""


class LLMUnavailable(LLMError):
    """Every model in the chain failed with retryable errors (429, 5xx, timeouts, connection)
    until retries and fallbacks ran out. Worth trying again later."""

    def __init__(self, message: str, *, models: list[str], attempts: int, last_error: BaseException | None = None):
        super().__init__(message)
        self.models = models
        self.attempts = attempts
        self.last_error = last_error


class LLMRequestRejected(LLMError):
    """The provider refused the request itself (a 4xx other than 429: bad request, auth, unknown
    model, context too long). Retrying or falling back would hide a configuration or prompt bug."""

    def __init__(self, message: str, *, model: str, status_code: int | None, attempts: int):
        super().__init__(message)
        self.model = model
        self.status_code = status_code
        self.attempts = attempts


class LLMOutputInvalid(LLMError):
    """The model answered, twice, with output that does not validate against the schema.

    Carries the last raw text and the validation errors, and what the calls cost, so the row
    that asked can record the spend and the reason.
    """

    def __init__(self, message: str, *, raw: str, errors: list[dict[str, Any]], model: str, attempts: int,
                 input_tokens: int = 0, output_tokens: int = 0, cost_usd: float = 0.0):
        super().__init__(message)
        self.raw = raw
        self.errors = errors
        self.model = model
        self.attempts = attempts
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.cost_usd = cost_usd
