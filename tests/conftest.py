"""Shared fixtures: a migrated database per test (SQLite always, PostgreSQL when
``OVERTURE_TEST_DATABASE_URL`` names one), the app with its in-process worker, and keys."""

from __future__ import annotations

import ast
import gc
import os
import shutil
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio
import httpx
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def _serialise_ast_parse() -> None:
    """CPython 3.11.7 keeps the AST constructor's recursion depth in one global, so a second
    ``ast.parse`` while one is building its tree fails the first with "SystemError: AST
    constructor recursion depth mismatch" (python/cpython#106905). Here the main thread parses
    (assertion rewriting, failure reports, the layering test) while litellm's logging thread
    formats tracebacks, which parse too (3.11's caret anchors), and a finalizer run by the garbage
    collector in the middle of a parse can log a traceback on the same thread: CI once died of
    it with INTERNALERROR. One lock makes threads take turns, the collector waits until the tree
    is built, and a parse that still meets the (spurious) error is done again."""
    parse, lock = ast.parse, threading.RLock()

    def serialised(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        with lock:
            collecting = gc.isenabled()
            gc.disable()
            try:
                return parse(*args, **kwargs)
            except SystemError as exc:
                if "recursion depth mismatch" not in str(exc):
                    raise
                return parse(*args, **kwargs)
            finally:
                if collecting:
                    gc.enable()

    ast.parse = serialised


_serialise_ast_parse()

from agent.db import dispose_engines  # noqa: E402
from agent.llm import LLMConfig, use_config  # noqa: E402
from agent.migrate import upgrade  # noqa: E402
from agent.models import Base  # noqa: E402
from agent.queue import QUEUE, get_broker  # noqa: E402
from agent.settings import Settings, _async_url, use_settings  # noqa: E402
from agent.states import Role  # noqa: E402
from tests.builders import make_key  # noqa: E402, F401 - tests import it from here too
from tests.llm_server import LLMServer  # noqa: E402

PG_URL = os.environ.get("OVERTURE_TEST_DATABASE_URL")


def run_in_thread(fn, *args):
    """``anyio.run`` on a thread of its own: a sync fixture may run while another event loop is
    running on the test's thread (Playwright's sync API keeps one there)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(anyio.run, fn, *args).result()


BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def pytest_collection_finish(session: pytest.Session) -> None:
    """Move what every test shares (the modules imported, the app's code, the collected tests:
    ~600,000 objects) out of the garbage collector's generations, so its full collections walk
    only what the tests build. Each test builds an app and leaves it as cyclic garbage; the
    collections that free them walked this heap too, each a second or more of CPU that stalls
    every thread of the process (the in-process servers of the voice tests included)."""
    import api.app  # noqa: F401 - imported now, to be frozen with the rest

    gc.collect()
    gc.freeze()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "overture.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


def _own_database(url: str, suffix: str = "") -> str:
    """Under pytest-xdist each worker gets a database of its own (``test_gw0``, ...), created
    beside the named one, since tests truncate and reset what they use. ``suffix`` names a
    further one beside it (the migration tests' empty database)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker and not suffix:
        return url
    base = make_url(url)
    own = base.set(database=base.database + "".join(f"_{p}" for p in (worker, suffix) if p))

    async def create() -> None:
        engine = create_async_engine(base, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            exists = (await conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                         {"n": own.database})).first()
            if exists is None:
                await conn.execute(text(f'CREATE DATABASE "{own.database}"'))
        await engine.dispose()

    run_in_thread(create)
    return own.render_as_string(hide_password=False)


def _reset_schema(url: str) -> None:
    async def reset() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()

    run_in_thread(reset)


@pytest.fixture(scope="session")
def pg_migrated() -> str:
    assert PG_URL
    url = _own_database(_async_url(PG_URL))
    _reset_schema(url)
    upgrade(url)
    return url


@pytest.fixture(params=BACKENDS)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no tables at all, for tests that run the migrations themselves (the
    shared migrated PostgreSQL database stays untouched: this one is beside it)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    assert PG_URL
    url = _own_database(_async_url(PG_URL), suffix="empty")
    _reset_schema(url)
    return url


async def _truncate(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        await conn.execute(text(f"TRUNCATE {tables} CASCADE"))
    await engine.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "data" / "overture.db"
        path.parent.mkdir()
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    url = request.getfixturevalue("pg_migrated")
    request.addfinalizer(lambda: run_in_thread(_truncate, url))
    return url


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return use_settings(Settings(_env_file=None, data_dir=tmp_path / "data", database_url=db_url, broker_url=None,
                                 worker_threads=2))


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator:
    from api.app import create_app

    application = create_app(settings, run_scheduler=False)  # tests tick the scheduler themselves
    async with application.router.lifespan_context(application):
        yield application
    await dispose_engines()


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://overture.test") as c:
        yield c


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def admin(app) -> dict[str, str]:
    return bearer(await make_key(Role.admin))


async def drain_queue() -> None:
    """Wait until the in-process worker has handled every queued message."""
    broker = get_broker()
    await anyio.to_thread.run_sync(lambda: broker.join(QUEUE, timeout=60_000))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "model_server(model=..., default=...): how the model_server fixture is set up")


@pytest.fixture
def model_server(request: pytest.FixtureRequest):
    """The scripted local OpenAI-compatible server (tests/llm_server.py) as the configured model,
    through litellm's real ``openai/`` path. ``@pytest.mark.model_server(model="openai/judge-model",
    default=ok("Sure."))`` on a test or a module names the model and what an empty script answers.
    The timeout is roomy (20 s) so a loaded CI machine never turns a scripted answer into a 503;
    tests about timeouts set their own."""
    marker = request.node.get_closest_marker("model_server")
    options = dict(marker.kwargs) if marker else {}
    model = options.pop("model", "openai/test-model")
    with LLMServer(**options) as server:
        use_config(LLMConfig(model=model, api_base=server.api_base, api_key="test", timeout=20,
                             retries=0, backoff=0.01, backoff_max=0.02))
        yield server
    use_config(None)
