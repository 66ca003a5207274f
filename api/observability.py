"""Every answer carries ``X-Request-ID`` and is counted by route template; ``GET /metrics`` renders the counters.

The request id is the caller's when it looks like one (letters, digits, ``.-_``, at most 128),
else a new one, so a proxy's id follows a request through our logs without letting a caller
inject text into them. It lives in ``agent.logs.REQUEST_ID`` for the request's log lines.

``/metrics`` with ``OVERTURE_METRICS_TOKEN`` set asks for ``Authorization: Bearer <token>``;
unset, it answers only clients on the loopback interface (a scraper on the same host or a
sidecar), since counts by route and outcome describe the workspace's activity.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
import uuid

from fastapi import APIRouter, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent import metrics
from agent.errors import Forbidden, Unauthorized
from agent.logs import REQUEST_ID
from agent.settings import get_settings

log = logging.getLogger("overture.http")
HEADER = "X-Request-ID"
_SANE = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class RequestContext:
    """Pure ASGI (streams and server-sent events pass through untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = dict(scope["headers"]).get(HEADER.lower().encode(), b"").decode("latin-1")
        request_id = given if _SANE.match(given) else uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        started, status = time.perf_counter(), 500

        async def tagged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (HEADER.lower().encode(), request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, tagged)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            metrics.HTTP_REQUESTS.labels(scope["method"], template, str(status)).inc()
            elapsed = time.perf_counter() - started
            metrics.HTTP_SECONDS.labels(scope["method"], template).observe(elapsed)
            log.debug("%s %s -> %s in %.1f ms", scope["method"], template, status, elapsed * 1000)
            REQUEST_ID.reset(token)


router = APIRouter(tags=["operations"])


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"},
                       401: {"description": "OVERTURE_METRICS_TOKEN is set and the bearer token is not it"},
                       403: {"description": "No OVERTURE_METRICS_TOKEN and the client is not on loopback"}})
async def scrape(request: Request) -> Response:
    """Prometheus counters: requests by route and status, planning runs and plans, sends and inbound events by
    outcome, model calls, tokens and cost, and the queue's depth. Guarded by ``OVERTURE_METRICS_TOKEN``, or
    loopback only when it is unset."""
    expected = get_settings().metrics_token
    if expected is not None:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {expected.get_secret_value()}".encode()):
            raise Unauthorized("send OVERTURE_METRICS_TOKEN as 'Authorization: Bearer <token>'")
    elif (request.client.host if request.client else "") not in LOOPBACK:
        raise Forbidden("metrics are served to loopback clients only; set OVERTURE_METRICS_TOKEN to scrape remotely")
    return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
