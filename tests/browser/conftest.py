"""A real Overture server on a loopback port and Debian's Chromium driven by Playwright.

The server is the app ``overture serve`` runs (its in-process worker included), on the test's
database; the browser is the system ``chromium`` (never a downloaded one), started with the
network switches a closed machine needs.
"""

from __future__ import annotations

import faulthandler
import os
import shutil
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import anyio
import pytest
import uvicorn
from sqlalchemy.pool import NullPool

from agent.db import dispose_engines
from agent.settings import Settings
from agent.states import Role
from tests.conftest import make_key

T = TypeVar("T")
CHROMIUM = os.environ.get("OVERTURE_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("OVERTURE_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "artifacts"))
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def run_async(fn: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine function to completion on a thread of its own: Playwright's sync API
    keeps an event loop running on the test's thread, so ``anyio.run`` cannot run there."""

    async def wrapped() -> T:
        try:
            return await fn()
        finally:
            await dispose_engines()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(anyio.run, wrapped).result()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


class LiveServer:
    def __init__(self, settings: Settings) -> None:
        from api.app import create_app

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.watchdog = SlowRequestWatchdog(create_app(settings, run_scheduler=False), settings.db_url)
        config = uvicorn.Config(self.watchdog, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="live-server", daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        self.watchdog.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the live server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.watchdog.stop()
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def key(self, role: Role = Role.admin, workspace: str = "acme") -> str:
        return run_async(lambda: make_key(role, workspace))


@pytest.fixture
def live(settings: Settings) -> Iterator[LiveServer]:
    with LiveServer(settings) as server:
        yield server


# Module scope, not session: Playwright's sync API keeps an event loop running on the main
# thread while it is open, and the async tests of other modules need that thread's loop.
@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: the README test command installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live: LiveServer):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=live.url)
    context.set_default_timeout(15_000)
    tab = context.new_page()
    failures: list[str] = []
    tab.on("pageerror", lambda exc: failures.append(f"script error: {exc}"))
    # A refused form answers 4xx on purpose; a missing stylesheet, script or icon never should.
    tab.on("response", lambda r: failures.append(f"{r.status} for {r.url}")
           if r.status >= 400 and r.request.resource_type != "document" else None)
    # Nothing may leave the machine: every request must go to the test server.
    tab.on("request", lambda r: None if r.url.startswith(live.url) else failures.append(f"external request {r.url}"))
    yield tab
    context.close()
    assert not failures, failures


def save_screenshot(tab, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    tab.screenshot(path=str(path), full_page=False)
    return path
