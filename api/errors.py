"""Every error leaves as application/problem+json with a stable machine-readable ``code``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent.errors import OvertureError

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"
_TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
           409: "Conflict", 413: "Payload too large", 415: "Unsupported media type", 422: "Validation failed",
           428: "Precondition required", 500: "Internal server error"}
_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
          409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type", 422: "validation_error",
          500: "internal_error"}


class ProblemError(BaseModel):
    loc: list[str | int]
    message: str
    row: int | None = None
    code: str | None = None


class Problem(BaseModel):
    """The body of every error answer (RFC 9457 plus ``code`` and ``errors``)."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[ProblemError] | None = None


def problem(status: int, code: str, detail: str, errors: list[dict[str, Any]] | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": f"https://overture.dev/problems/{code}", "title": _TITLES.get(status, "Error"),
                            "status": status, "detail": detail, "code": code}
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _loc(loc: Any) -> list[str | int]:
    return [p if isinstance(p, int) else str(p) for p in loc]


def install(app: FastAPI) -> None:
    @app.exception_handler(OvertureError)
    async def _overture(_: Request, exc: OvertureError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if exc.status == 429:
            headers = {"Retry-After": str(exc.extra.get("retry_after", 1))}
        return problem(exc.status, exc.code, exc.detail, exc.errors, headers=headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": _loc(e["loc"]), "message": e["msg"]} for e in exc.errors()]
        first = errors[0] if errors else {"loc": [], "message": "invalid request"}
        detail = f"{'.'.join(str(p) for p in first['loc'])}: {first['message']}"
        return problem(422, "validation_error", detail, errors)

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        # Two requests wrote the same unique row at once; the loser's transaction rolled back whole.
        return problem(409, "conflict", "another request changed the same records at the same time; "
                       "nothing was applied, retry the request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # The only 400s are a body the framework could not parse (not UTF-8, broken multipart):
            # invalid input like any other, so the 422 every operation documents.
            return problem(422, "invalid_body", f"the request body could not be read: {exc.detail}",
                           [{"loc": ["body"], "message": str(exc.detail)}])
        return problem(exc.status_code, _CODES.get(exc.status_code, "error"), str(exc.detail),
                       headers=dict(exc.headers or {}) or None)


class Unhandled:
    """An exception no handler took becomes a problem+json 500 here, and goes no further.

    Starlette's outermost middleware answers 500 too but then re-raises, and uvicorn closes a
    connection whose app raised: the client's next request on that keep-alive connection was
    reset. Raw ASGI, just inside ``RequestContext`` (the 500 carries the request id). An error
    after the answer started (a stream cut short) still propagates: that answer is broken and
    closing the connection is the only way to say so.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception:
            if started:
                raise
            log.exception("unhandled error answering %s %s", scope["method"], scope["path"])
            await problem(500, "internal_error", "an unexpected error occurred; it has been logged with this "
                          "request's id")(scope, receive, send)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {PROBLEM: {}}, "description": _TITLES[status]}
    for status in (401, 403, 404, 409, 422)
}


def documented(status: int, description: str) -> dict[int | str, dict[str, Any]]:
    """A route's extra problem answer for ``responses=`` (e.g. 428 when a confirmation is missing)."""
    return {status: {"model": Problem, "content": {PROBLEM: {}}, "description": description}}
