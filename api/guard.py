"""Answer 401 before anything else when a /v1 request carries no Bearer key.

FastAPI reads and validates the body before dependencies run, so without this an anonymous
caller would learn the body's validation errors (422) before being told to authenticate.
Checking the key itself stays with the route's dependency. Signed webhooks carry no key: their
paths are exempt and their route checks the signature first, before the body is parsed.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import problem

# Signed with X-Overture-Signature instead of a key (api/routes/conversations.py checks it).
SIGNED_PATHS = frozenset({"/v1/voice/events", "/v1/inbound/email"})


class RequireBearer:
    def __init__(self, app: ASGIApp, prefix: str = "/v1/") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix) and scope["path"] not in SIGNED_PATHS:
            auth = dict(scope["headers"]).get(b"authorization", b"")
            if not auth[:7].lower() == b"bearer " or not auth[7:].strip():
                response = problem(401, "unauthorized", "send an API key as 'Authorization: Bearer <key>'",
                                   headers={"WWW-Authenticate": "Bearer"})
                return await response(scope, receive, send)
        await self.app(scope, receive, send)
