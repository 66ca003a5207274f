"""Every authenticated JSON body is checked by ``agent.validation.check_json`` before a route
sees it: NUL and other control characters (tab, newline and CR allowed in values) and nesting
deeper than ``MAX_DEPTH`` answer 422 with ``code`` ``control_character``, ``invalid_unicode`` (a lone surrogate escape) or ``too_deep`` and
the offending field's ``loc`` (``["body", ...]``, as pydantic names it).

Raw ASGI, just inside ``Limits`` (so the body is already capped): the body is read, checked,
then handed on unchanged; later ``receive`` calls go to the client again, so a streaming
answer still hears a disconnect. Signed webhooks are left to their routes, which check the
signature before the body (their schemas use ``SafeStr``/``SafeText``); bodies that are not
JSON, or not valid JSON, pass on untouched for the route's own answer.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent.validation import InputRefused, loads_checked
from api.errors import problem
from api.guard import PRINCIPAL


def _is_json(scope: Scope) -> bool:
    kind = dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip().lower()
    return kind == b"application/json" or kind.endswith(b"+json")


class BodyCheck:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH")
                or PRINCIPAL not in scope.get("state", {}) or not _is_json(scope)):
            return await self.app(scope, receive, send)
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left: let the app hear it
                return await self.app(scope, _replay([message], receive), send)
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            loads_checked(body, ["body"])
        except InputRefused as exc:
            return await problem(422, exc.code, f"{'.'.join(str(p) for p in exc.loc)}: {exc.message}",
                                 [{"loc": exc.loc, "message": exc.message, "code": exc.code}])(scope, receive, send)
        except ValueError:
            pass  # not JSON (or not UTF-8): the route answers its own 422
        await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    async def replayed() -> Message:
        return messages.pop(0) if messages else await receive()

    return replayed
