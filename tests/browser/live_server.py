"""The browser tests' server: ``python -m tests.browser.live_server PORT SETTINGS_JSON``.

The app ``overture serve`` runs (``create_app``, its in-process worker included, no scheduler:
the tests move time themselves), on uvicorn, with the settings the test fixture built. It stops
when its stdin closes (the test's end, or the test process's death). Requests are watched: one
still unanswered after 10 s gets a report on stderr (see :class:`SlowRequestWatchdog`).
"""

from __future__ import annotations

import faulthandler
import json
import sys
import threading
import time

import anyio
import uvicorn
from sqlalchemy.pool import NullPool


class SlowRequestWatchdog:
    """The live server's app, watched: a request still unanswered after ``after`` seconds gets
    one report on stderr (pytest shows it with the failure), with every thread's stack (is the
    server's event loop blocked, and by what?) and, on PostgreSQL, the database's sessions that
    wait on a lock or sit in an open transaction, with who blocks them. A CI run once saw a
    seeding request here time out after 30 s, and nothing said why."""

    def __init__(self, app, database_url: str, after: float = 10.0) -> None:  # noqa: ANN001 - an ASGI app
        self.app, self.database_url, self.after = app, database_url, after
        self.pending: dict[int, tuple[float, str]] = {}
        self.reported: set[int] = set()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, name="live-server-watchdog", daemon=True)

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001 - ASGI
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        key = id(scope)
        self.pending[key] = (time.monotonic(), f"{scope['method']} {scope['path']}")
        try:
            await self.app(scope, receive, send)
        finally:
            self.pending.pop(key, None)
            self.reported.discard(key)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.done.set()
        self.thread.join(timeout=5)

    def _watch(self) -> None:
        while not self.done.wait(1.0):
            now = time.monotonic()
            slow = [(k, now - t0, what) for k, (t0, what) in list(self.pending.items())
                    if now - t0 > self.after and k not in self.reported]
            if slow:
                self.reported.update(k for k, _, _ in slow)
                self._report(slow)

    def _report(self, slow: list[tuple[int, float, str]]) -> None:
        lines = [f"live server: {what} unanswered after {age:.1f} s" for _, age, what in slow]
        print("\n".join(lines), file=sys.stderr, flush=True)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        if self.database_url.startswith("postgresql"):
            try:
                print(anyio.run(self._sessions), file=sys.stderr, flush=True)
            except Exception as exc:  # noqa: BLE001 - a report, never a second failure
                print(f"live server: could not read pg_stat_activity: {exc!r}", file=sys.stderr, flush=True)

    async def _sessions(self) -> str:
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(self.database_url, poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                rows = (await conn.execute(text(
                    "SELECT pid, pg_blocking_pids(pid), state, wait_event_type, wait_event, "
                    "now() - xact_start, left(query, 300) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"))).all()
        finally:
            await engine.dispose()
        return "\n".join(["pg_stat_activity (pid, blocked by, state, wait, in transaction for, query):",
                          *(repr(tuple(r)) for r in rows)])


def main(port: int, fields: dict) -> None:
    from agent.settings import Settings
    from api.app import create_app

    settings = Settings(_env_file=None, **fields)
    watchdog = SlowRequestWatchdog(create_app(settings, run_scheduler=False), settings.db_url)
    server = uvicorn.Server(uvicorn.Config(watchdog, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))

    def stop_when_stdin_closes() -> None:
        sys.stdin.buffer.read()
        server.should_exit = True

    threading.Thread(target=stop_when_stdin_closes, name="stdin-watch", daemon=True).start()
    watchdog.start()
    try:
        server.run()
    finally:
        watchdog.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]), json.loads(sys.argv[2]))
