"""A local OpenAI-compatible chat server for tests and benchmarks, scripted per request.

Tests reach it through litellm's real ``openai/`` provider (``api_base=server.api_base``), so
retries, timeouts, streaming and structured output are exercised over real HTTP. Each request
pops the next scripted behaviour (``ok``, ``json``, ``status``, ``slow``, ``invalid_json``,
``first_token_delay``); an empty script falls back to ``default`` (schema-valid JSON when the
request carries a JSON schema, else a short text). Every request body is recorded, and the
server tracks the most requests it ever had in flight at once.

It is ``http.server`` in a thread: the socket is bound before ``start`` returns, so nothing has
to poll for readiness, and a stop event cuts every delay short so teardown never hangs.
"""

from __future__ import annotations

import json as jsonlib
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Behaviour:
    kind: str  # "text" | "status" | "auto"
    text: str = ""
    status: int = 200
    delay: float = 0.0  # before anything is sent
    first_token_delay: float = 0.0  # streaming: between the headers and the first delta
    gap: float = 0.0  # streaming: between one delta and the next


def ok(text: str) -> Behaviour:
    return Behaviour("text", text=text)


def json(obj: Any) -> Behaviour:  # noqa: A001 - mirrors the name tests read naturally
    return Behaviour("text", text=jsonlib.dumps(obj))


def invalid_json(text: str = '{"not": "closed"') -> Behaviour:
    return Behaviour("text", text=text)


def status(code: int, message: str = "scripted failure") -> Behaviour:
    return Behaviour("status", status=code, text=message)


def auto() -> Behaviour:
    """Schema-valid JSON (the offline model's generator) when asked for a schema, else text."""
    return Behaviour("auto")


def slow(seconds: float, then: Behaviour | None = None) -> Behaviour:
    base = then or auto()
    return Behaviour(base.kind, text=base.text, status=base.status, delay=seconds + base.delay,
                     first_token_delay=base.first_token_delay)


def first_token_delay(ms: float, then: Behaviour | None = None) -> Behaviour:
    base = then or auto()
    return Behaviour(base.kind, text=base.text, status=base.status, delay=base.delay,
                     first_token_delay=ms / 1000)


def dribble(seconds: float, then: Behaviour | None = None) -> Behaviour:
    """Stream ``then``'s words ``seconds`` apart (a reply still being said)."""
    base = then or auto()
    return Behaviour(base.kind, text=base.text, status=base.status, delay=base.delay,
                     first_token_delay=base.first_token_delay, gap=seconds)


_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
                429: "rate_limit_exceeded"}


@dataclass
class LLMServer:
    """``with LLMServer() as server:`` then ``server.script(ok("hi"), status(429))``."""

    default: Behaviour = field(default_factory=auto)
    latency: float = 0.0  # added to every request (benchmarks)
    requests: list[dict[str, Any]] = field(default_factory=list)
    max_in_flight: int = 0
    finished: int = 0  # requests answered, or given up on when the client left

    def __post_init__(self) -> None:
        self._queue: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._stop = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- scripting -------------------------------------------------------------------------
    def script(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self._queue.extend(behaviours)

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def pending(self) -> int:
        """Scripted behaviours not yet consumed."""
        with self._lock:
            return len(self._queue)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> LLMServer:
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="llm-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- used by the handler ---------------------------------------------------------------
    def _next(self, body: dict[str, Any]) -> Behaviour:
        with self._lock:
            self.requests.append(body)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            return self._queue.popleft() if self._queue else self.default

    def _done(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self.finished += 1

    def _wait(self, seconds: float) -> bool:
        """Sleep, unless the server is stopping (then say so)."""
        return seconds > 0 and self._stop.wait(seconds)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # benchmarks open many connections at once
    owner: LLMServer


def _auto_text(body: dict[str, Any]) -> str:
    fmt = body.get("response_format") or {}
    schema = (fmt.get("json_schema") or {}).get("schema") if fmt.get("type") == "json_schema" else None
    if schema is None:
        return "ok"
    from agent.llm.offline import example_for_schema

    return jsonlib.dumps(example_for_schema(schema, body.get("messages") or []))


def _words(text: str) -> list[str]:
    # Split keeping the separators, so joined deltas equal the text exactly.
    parts: list[str] = []
    for i, word in enumerate(text.split(" ")):
        parts.append(word if i == 0 else " " + word)
    return [p for p in parts if p]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as separate writes; with Nagle on, the client's delayed ACK adds
    # ~40 ms to every request.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found_error"}})
            return
        body = jsonlib.loads(raw or b"{}")
        owner = self.server.owner
        behaviour = owner._next(body)
        try:
            if owner._wait(behaviour.delay + owner.latency):
                self.close_connection = True
                return
            if behaviour.kind == "status":
                self._send_json(behaviour.status, {"error": {
                    "message": behaviour.text, "type": _ERROR_TYPES.get(behaviour.status, "server_error"),
                    "param": None, "code": str(behaviour.status)}})
                return
            text = _auto_text(body) if behaviour.kind == "auto" else behaviour.text
            if body.get("stream"):
                self._gap = behaviour.gap
                self._stream(body, text, behaviour.first_token_delay)
            else:
                if owner._wait(behaviour.first_token_delay):
                    self.close_connection = True
                    return
                self._send_json(200, _completion(body, text))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout under test); nothing to answer
        finally:
            owner._done()

    def _send_json(self, code: int, payload: dict[str, Any]) -> None:
        data = jsonlib.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, body: dict[str, Any], text: str, first_delay: float) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")  # no length: the body ends when we close
        self.end_headers()
        self.close_connection = True
        self.wfile.flush()
        if self.server.owner._wait(first_delay):
            return
        model = body.get("model", "test-model")
        base = {"id": "chatcmpl-local", "object": "chat.completion.chunk", "created": 0, "model": model}
        deltas = [{"role": "assistant", "content": ""}] + [{"content": w} for w in _words(text)]
        for n, delta in enumerate(deltas):
            if n > 1 and self.server.owner._wait(self._gap):
                return
            self._event({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        final: dict[str, Any] = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        if (body.get("stream_options") or {}).get("include_usage"):
            final["usage"] = _usage(body, text)
        self._event(final)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _open_events(self, body: dict[str, Any]) -> dict[str, Any]:
        """Send a stream's headers (the body ends when the connection closes); the fields every
        chunk of it carries."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        return {"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 0, "model": body["model"]}

    def _stream_then_error(self, body: dict[str, Any], words: list[str]) -> None:
        """Stream ``words`` as deltas, then an error event instead of an end, as an overloaded
        provider does mid-answer (subclasses and patches of ``_stream`` call it)."""
        base = self._open_events(body)
        for delta in [{"role": "assistant", "content": ""}, *({"content": w} for w in words)]:
            self._event({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        self._event({"error": {"message": "overloaded", "type": "server_error", "code": "overloaded"}})

    def _event(self, payload: dict[str, Any]) -> None:
        self.wfile.write(b"data: " + jsonlib.dumps(payload).encode() + b"\n\n")
        self.wfile.flush()


def _usage(body: dict[str, Any], text: str) -> dict[str, int]:
    prompt = sum(len(str(m.get("content") or "").split()) for m in body.get("messages") or [])
    completion = len(text.split())
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _completion(body: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-local", "object": "chat.completion", "created": 0,
        "model": body.get("model", "test-model"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": _usage(body, text),
    }
