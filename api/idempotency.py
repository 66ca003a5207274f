"""``Idempotency-Key`` on mutating POSTs: the first answer is stored and every repeat gets it back.

A key is scoped to the caller's workspace and bound to the request it first came with (method,
path and body); reusing it for another request is refused. While the first request is still
running a repeat gets 409 ``idempotency_in_progress``. Server errors are not stored, so the
client may retry them.

A record is scoped to the API key that made it (a viewer replaying an admin's key and body runs
its own request and gets its own 403; the admin after that gets a real answer). A record whose
request never finished (the server died mid-request) expires after
``OVERTURE_IDEMPOTENCY_PENDING_S`` seconds, so the key can be retried.
"""

from __future__ import annotations

import datetime as dt
import hashlib

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
            status = start.get("status", 500)
            async with session_scope() as session:
                if status >= 500:
                    await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))
                else:
                    kept = {k.decode("latin-1"): v.decode("latin-1") for k, v in start.get("headers", [])
                            if k.decode("latin-1").lower() in _KEEP_HEADERS}
                    await session.execute(update(IdempotencyRecord).where(IdempotencyRecord.id == record_id)
                                          .values(status_code=status, headers=kept, body=b"".join(chunks)))

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




async def _expire_pending(workspace_id: str, key: str) -> None:
    """Drop this key's record if its request never finished within the pending window."""
    cutoff = utcnow() - dt.timedelta(seconds=get_settings().idempotency_pending_s)
    async with session_scope() as session:
        await session.execute(delete(IdempotencyRecord).where(
            IdempotencyRecord.workspace_id == workspace_id, IdempotencyRecord.key == key,
            IdempotencyRecord.status_code.is_(None), IdempotencyRecord.created_at < cutoff))
