"""Limits checked before any work: a per-route body cap counted while the body streams in, and
control characters refused in the path and query string.

Raw ASGI so nothing above it has read the body: a request whose ``Content-Length`` is over the
cap is answered 413 at once, and one that streams past it is cut off at the first chunk over,
never buffered. Installed just inside RequireBearer, so an anonymous caller gets 401 without a
byte of the body being read, whatever its size.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent.contacts.csvfile import MAX_BYTES as CSV_MAX_BYTES
from agent.inbound.email.ingest import MAX_BYTES as EMAIL_MAX_BODY
from agent.voice.events import MAX_BODY as VOICE_MAX_BODY
from agent.validation import ANY_CONTROL
from api.errors import problem

UPLOAD_MAX_BODY = CSV_MAX_BYTES + 64_000  # the CSV limit plus multipart headers and boundaries
JSON_MAX_BODY = 2_000_000


def body_cap(path: str) -> int:
    """The largest body a route takes: uploads, the voice transcripts (same cap as the webhook), JSON."""
    if path.endswith("/contacts/import"):
        return UPLOAD_MAX_BODY
    if path.startswith("/v1/voice/"):
        return VOICE_MAX_BODY
    if path == "/v1/inbound/email":  # one raw message, attachments included
        return EMAIL_MAX_BODY
    return JSON_MAX_BODY


def _too_large(cap: int, path: str):  # noqa: ANN202 - a Starlette response
    """413 with the code the route itself answers for a body over its limit (a CSV upload's
    ``csv_too_large``, every other route's ``payload_too_large``)."""
    code = "csv_too_large" if cap == UPLOAD_MAX_BODY and path.endswith("/contacts/import") else "payload_too_large"
    return problem(413, code, f"the request body is over {cap} bytes",
                   [{"loc": ["body"], "message": f"at most {cap} bytes"}])


def _control_in_url(scope: Scope) -> list[str | int] | None:
    if ANY_CONTROL.search(scope["path"]):
        return ["path"]
    for name, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
        if ANY_CONTROL.search(name) or ANY_CONTROL.search(value):
            return ["query", name]
    return None


class Limits:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        loc = _control_in_url(scope)
        if loc is not None:
            return await problem(422, "control_character", "control characters are not allowed here",
                                 [{"loc": loc, "message": "control characters are not allowed"}])(scope, receive, send)
        cap = body_cap(scope["path"])
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > cap:
            return await _too_large(cap, scope["path"])(scope, receive, send)
        seen = 0
        started = answered = False

        async def counted() -> Message:
            # Past the cap: answer 413 here and tell the app the client left, so nothing reads on
            # and whatever the app then tries to answer is dropped (FastAPI turns a raised error
            # while parsing into its own 400).
            nonlocal seen, answered
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > cap and not started:
                answered = True
                await _too_large(cap, scope["path"])(scope, receive, send)
                return {"type": "http.disconnect"}
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if answered:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted, watched)
