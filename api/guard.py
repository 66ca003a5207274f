"""Answer 401 before anything else when a /v1 request carries no Bearer key.

FastAPI reads and validates the body before dependencies run, so without this an anonymous
caller would learn the body's validation errors (422) before being told to authenticate.
Checking the key itself stays with the route's dependency. Signed webhooks carry no key: their
paths are exempt and their route checks the signature first, before the body is parsed.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from agent.auth import resolve_key_cached
from api import ratelimit
from api.errors import problem

# Signed with X-Overture-Signature instead of a key (api/routes/conversations.py checks it).
SIGNED_PATHS = frozenset({"/v1/voice/events", "/v1/inbound/email",
                          "/v1/inbound/sms", "/v1/inbound/sms/status"})  # X-Twilio-Signature (api/routes/inbound_sms.py)


# Where the resolved key waits for ``api.deps.get_principal`` (the request's state).
PRINCIPAL = "principal"


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
            # The key itself, before a byte of the body is read (a wrong key with a 200 MB body
            # was parsed whole and answered 422 before 401); a guesser is refused first.
            request = Request(scope)
            try:
                await ratelimit.check(request)
            except ratelimit.TooManyFailures as exc:
                response = problem(429, exc.code, exc.detail,
                                   headers={"Retry-After": str(exc.extra.get("retry_after", 1))})
                return await response(scope, receive, send)
            # Cached for a few seconds (agent.auth.KeyCache: revocations still hold within that).
            principal = await resolve_key_cached(auth[7:].decode("latin-1").strip())
            if principal is None:
                await ratelimit.failed(request)
                response = problem(401, "unauthorized", "the API key is unknown or revoked",
                                   headers={"WWW-Authenticate": "Bearer"})
                return await response(scope, receive, send)
            # The route's dependency takes this one instead of reading the key a second time.
            scope.setdefault("state", {})[PRINCIPAL] = principal
        await self.app(scope, receive, send)
