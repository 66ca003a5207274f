"""``Idempotency-Key`` on mutating POSTs: the first answer is stored and every repeat gets it back.

A key is scoped to the caller's workspace and bound to the request it first came with (method,
path and body); reusing it for another request is refused. While the first request is still
running a repeat gets 409 ``idempotency_in_progress``. Server errors are not stored, so the
client may retry them.

A record is scoped to the API key that made it (a viewer replaying an admin's key and body runs
its own request and gets its own 403; the admin after that gets a real answer). A record whose
request never finished (the server died mid-request) expires after
``OVERTURE_IDEMPOTENCY_PENDING_S`` seconds, so the key can be retried.

The answer of a route that writes through the request's session is stored in that same
transaction (``AnsweringRoute``), so a record is answerless only when the effect
did not commit either: a server that dies after the commit and before the answer reaches the
client leaves a record a repeat replays, never a second campaign. Other answers (errors from
the exception handlers, routes without a session) are stored after the response, as before.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from fastapi.routing import APIRoute
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent.auth import resolve_key
from agent.db import session_scope, utcnow
from agent.ids import new_id
from agent.models import IdempotencyRecord
from agent.settings import get_settings
from api.errors import problem

HEADER = b"idempotency-key"
_KEEP_HEADERS = {"content-type", "location"}
RECORD = "idempotency_record"  # request state: the record this request answers
SESSION = "session"  # request state: the request's own session (api.deps.get_session)


def _kept(raw_headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in raw_headers
            if k.decode("latin-1").lower() in _KEEP_HEADERS}


def _unanswered(record_id: str):  # noqa: ANN202 (a SQL condition)
    return (IdempotencyRecord.id == record_id) & IdempotencyRecord.status_code.is_(None)


class AnsweringRoute(APIRoute):
    """A JSON API route whose POST answers are stored in their idempotency record inside the
    route's own transaction (the session dependency commits after the handler returns and
    before the answer is sent). Every bearer-authenticated router uses it (a test checks)."""

    def get_route_handler(self):  # noqa: ANN201 - Starlette's handler type
        handler = super().get_route_handler()
        return _answering(handler) if "POST" in self.methods else handler


def _answering(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        response = await handler(request)
        record_id = request.scope.get("state", {}).get(RECORD)
        session = request.scope.get("state", {}).get(SESSION)
        body = getattr(response, "body", None)
        if record_id and session is not None and response.status_code < 500 and isinstance(body, bytes):
            await session.execute(update(IdempotencyRecord).where(_unanswered(record_id)).values(
                status_code=response.status_code, headers=_kept(response.raw_headers), body=body))
        return response
    return run


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        key = headers.get(HEADER)
        auth = headers.get(b"authorization", b"").decode("latin-1")
        if not key or not auth.lower().startswith("bearer "):
            return await self.app(scope, receive, send)
        key_text = key.decode("latin-1").strip()
        if not key_text or len(key_text) > 255:
            return await problem(422, "validation_error", "Idempotency-Key must be 1-255 characters",
                                 [{"loc": ["header", "Idempotency-Key"], "message": "1-255 characters"}])(scope, receive, send)
        async with session_scope() as session:
            principal = await resolve_key(session, auth[7:].strip())
        if principal is None:  # the route's own auth answers 401
            return await self.app(scope, receive, send)

        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        digest = hashlib.sha256(b"\n".join([scope["method"].encode(), scope["path"].encode(),
                                            scope.get("query_string", b""), body])).hexdigest()
        # The stored key names the API key too: another key's request with the same header is its own.
        key_text = f"{principal.key_id}:{hashlib.sha256(key_text.encode()).hexdigest()}"
        record_id = new_id("idem")
        await _expire_pending(principal.workspace_id, key_text)
        try:
            async with session_scope() as session:
                session.add(IdempotencyRecord(id=record_id, workspace_id=principal.workspace_id, key=key_text,
                                              request_hash=digest))
        except IntegrityError:
            return await self._replay(principal.workspace_id, key_text, digest, scope, receive, send)

        scope.setdefault("state", {})[RECORD] = record_id
        replayed = False

        async def replay_receive() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_receive, capture)
        finally:
            await _store_answer(record_id, start, b"".join(chunks))

    async def _replay(self, workspace_id: str, key: str, digest: str, scope: Scope, receive: Receive,
                      send: Send) -> None:
        async with session_scope() as session:
            record = (await session.execute(select(IdempotencyRecord).where(
                IdempotencyRecord.workspace_id == workspace_id, IdempotencyRecord.key == key))).scalar_one()
        if record.request_hash != digest:
            response = problem(422, "idempotency_key_reused",
                               "this Idempotency-Key was used for a different request",
                               [{"loc": ["header", "Idempotency-Key"], "message": "already used for another request"}])
        elif record.status_code is None:
            response = problem(409, "idempotency_in_progress", "the first request with this key is still running")
        else:
            headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (record.headers or {}).items()]
            headers += [(b"idempotent-replayed", b"true"), (b"content-length", str(len(record.body or b"")).encode())]
            await send({"type": "http.response.start", "status": record.status_code, "headers": headers})
            await send({"type": "http.response.body", "body": record.body or b""})
            return
        await response(scope, receive, send)


async def _store_answer(record_id: str, start: Message, body: bytes) -> None:
    """After the response: keep the answer unless the route's transaction stored it already; a
    server error frees the key (nothing of that request committed)."""
    status = start.get("status", 500)
    async with session_scope() as session:
        if status >= 500:
            await session.execute(delete(IdempotencyRecord).where(_unanswered(record_id)))
        else:
            await session.execute(update(IdempotencyRecord).where(_unanswered(record_id)).values(
                status_code=status, headers=_kept(start.get("headers", [])), body=body))


async def _expire_pending(workspace_id: str, key: str) -> None:
    """Drop this key's record if its request never finished within the pending window."""
    cutoff = utcnow() - dt.timedelta(seconds=get_settings().idempotency_pending_s)
    async with session_scope() as session:
        await session.execute(delete(IdempotencyRecord).where(
            IdempotencyRecord.workspace_id == workspace_id, IdempotencyRecord.key == key,
            IdempotencyRecord.status_code.is_(None), IdempotencyRecord.created_at < cutoff))
