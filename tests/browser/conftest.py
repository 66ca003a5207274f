"""A real Overture server on a loopback port and Debian's Chromium driven by Playwright.

The server is the app ``overture serve`` runs (its in-process worker included), in a process of
its own on the test's database; the browser is the system ``chromium`` (never a downloaded one), started with the
network switches a closed machine needs.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import anyio
import httpx
import pytest

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


class LiveServer:
    """``tests/browser/live_server.py`` in a process of its own, on the test's database and data
    directory: the app ``overture serve`` runs, with its in-process worker. Its own process, so
    the pytest worker's other threads and its large heap's garbage collections (this process has
    run a thousand tests by then) cannot hold the server's event loop: CI saw requests here go
    unanswered for 20 s while this process collected. The server exits when its stdin closes, so
    a killed test process leaves no server behind."""

    def __init__(self, settings: Settings) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.fields = json.dumps(settings.model_dump(exclude_unset=True), default=str)
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> LiveServer:
        # ``-m`` from the repository's root finds ``tests`` there; stdout and stderr are this
        # process's own descriptors, which pytest captures per test.
        self.process = subprocess.Popen([sys.executable, "-m", "tests.browser.live_server", str(self.port), self.fields],
                                        stdin=subprocess.PIPE, cwd=Path(__file__).resolve().parents[2])
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the live server exited with {self.process.returncode} before it was ready")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError("the live server did not start within 60 s")
            time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.stdin.close()  # the server's signal to stop
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def key(self, role: Role = Role.admin, workspace: str = "acme") -> str:
        return run_async(lambda: make_key(role, workspace))


@pytest.fixture
def live(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    # The server's worker is the server's: nothing in this process consumes this process's
    # queue, so the flows' drain has nothing to wait for (their runs are polled over HTTP), and
    # what a test's direct writes enqueue here is dropped at its end, never left to a later test.
    from agent.queue import setup_broker
    from api.app import TASK_MODULES

    monkeypatch.setattr("tests.flows.drain_queue", _nothing_to_drain)
    broker = setup_broker(settings, TASK_MODULES)  # the actors a direct write enqueues for
    with LiveServer(settings) as server:
        yield server
    broker.flush_all()


async def _nothing_to_drain() -> None:
    return None


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
