"""The one exception hierarchy services raise; ``api/errors.py`` maps it to problem+json."""

from __future__ import annotations

from typing import Any


class OvertureError(Exception):
    status = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(self, detail: str, *, code: str | None = None, errors: list[dict[str, Any]] | None = None,
                 status: int | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        if status:
            self.status = status
        self.errors = errors
        self.extra = extra


class NotFound(OvertureError):
    status, code, title = 404, "not_found", "Not found"


class InvalidTransition(OvertureError):
    status, code, title = 409, "invalid_transition", "Invalid transition"


class Conflict(OvertureError):
    status, code, title = 409, "conflict", "Conflict"


class ValidationFailed(OvertureError):
    status, code, title = 422, "validation_error", "Validation failed"


class Unauthorized(OvertureError):
    status, code, title = 401, "unauthorized", "Unauthorized"


class Forbidden(OvertureError):
    status, code, title = 403, "forbidden", "Forbidden"
