"""A local HTTP server standing in for an SMS or voice provider's API (Twilio, Vapi, Retell).

It checks what the real API checks first (the path and the credentials: a wrong one gets the
provider's 404 or 401 answer), records every request (path, headers, parsed form or JSON body),
and answers from a script: the next ``Reply`` per request, ``default`` when the script is empty.
A reply may hang after reading the whole request (a provider that took the message and never
answered); the stop event cuts the hang short so teardown never waits.

``http.server`` in a thread: the socket is bound before ``start`` returns.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None  # JSON-encoded unless bytes
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # read the request, then answer nothing until the server stops


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    raw: bytes

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.raw.decode(), keep_blank_values=True).items()}

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


class ProviderServer:
    def __init__(self, *, path: str, authorization: str, default: Reply, unauthorized: Reply,
                 not_found: Reply | None = None) -> None:
        self.path, self.authorization = path, authorization
        self.default, self.unauthorized = default, unauthorized
        self.not_found = not_found or Reply(404, {"message": "not found"})
        self.script: deque[Reply] = deque()
        self.seen: list[Seen] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def then(self, *replies: Reply) -> ProviderServer:
        self.script.extend(replies)
        return self

    def _next(self, seen: Seen) -> Reply:
        with self._lock:
            self.seen.append(seen)
            if seen.path != self.path or seen.method != "POST":
                return self.not_found
            if seen.headers.get("authorization") != self.authorization:
                return self.unauthorized
            return self.script.popleft() if self.script else self.default

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                reply = server._next(Seen("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, raw))
                if reply.hang:
                    server.stop.wait(30)
                    self.close_connection = True
                    return
                data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> ProviderServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._http.shutdown()
        self._http.server_close()


class Adapters(list):
    """The adapters a test made, kept alive until their clients close on the test's own loop
    (an adapter collected first would leave its sockets open)."""

    async def close(self) -> None:
        while self:
            await self.pop().http.aclose()


def refused_url() -> str:
    """A local URL nothing listens on (the port was free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
