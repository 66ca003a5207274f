"""Database engines and sessions.

One async engine per (event loop, URL): asyncpg and aiosqlite connections belong to the loop
that opened them, and the in-process worker runs its actors on a loop of its own. SQLite runs
in WAL mode with foreign keys on and a busy timeout, so the embedded worker and API share it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import weakref
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.util import await_only, greenlet_spawn

from agent.settings import get_settings
from agent.sqlite_trips import one_trip

_engines: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, AsyncEngine]]" = (
    weakref.WeakKeyDictionary()
)


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001 - DBAPI objects
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=15000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        # Pooled per event loop: opening an aiosqlite connection starts a thread and sets the
        # pragmas, about 5 ms a session. Every loop's engines are disposed before it ends
        # (the app's lifespan, the worker's shutdown hook, the CLI), which closes them.
        engine = create_async_engine(url, poolclass=AsyncAdaptedQueuePool, pool_size=5, max_overflow=10,
                                     connect_args={"timeout": 15})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return one_trip(engine)  # a hand-off to aiosqlite's thread per statement, not four
    engine = create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)
    if engine.dialect.driver == "asyncpg":
        engine.dialect.do_ping = _ping_asyncpg  # type: ignore[method-assign]
    return engine


def _ping_asyncpg(dbapi_conn) -> bool:  # noqa: ANN001 - SQLAlchemy's adapted asyncpg connection
    """The pool's pre-ping in one round trip: ``SELECT 1`` by the simple query protocol.

    SQLAlchemy's own asyncpg ping makes three (BEGIN, an empty statement prepared and run,
    ROLLBACK: the transaction is there so that pgbouncer's transaction pooling never sees the
    prepared statement outside one). The simple protocol prepares nothing, so it needs no
    transaction (not the empty statement: asyncpg fails on its answer, which has no tag). Every
    session's first checkout pays for the ping: an approve went from 7 round trips to 5.
    Failures reach the pool as they do from SQLAlchemy's ping (a closed connection is a
    disconnect: the pool replaces it and tries again)."""
    try:
        await_only(dbapi_conn.driver_connection.execute("SELECT 1"))
    except Exception as error:
        dbapi_conn._handle_exception(error)
    return True


def get_engine(url: str | None = None) -> AsyncEngine:
    """The engine for ``url`` (default: the settings' database) on the running event loop."""
    url = url or get_settings().db_url
    loop = asyncio.get_running_loop()
    per_loop = _engines.setdefault(loop, {})
    engine = per_loop.get(url)
    if engine is None:
        engine = per_loop[url] = make_engine(url)
    return engine


async def dispose_engines() -> None:
    """Close the running loop's engines (call before the loop ends)."""
    loop = asyncio.get_running_loop()
    for engine in _engines.pop(loop, {}).values():
        await engine.dispose()


def sessionmaker(url: str | None = None) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(get_engine(url), expire_on_commit=False)


@asynccontextmanager
async def committed(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """``session``'s transaction, committed on success and rolled back on error."""
    try:
        yield session
        await session.commit()
    except BaseException:
        await session.rollback()
        raise


class session_scope:  # noqa: N801 - used as ``async with session_scope() as session``, as it always was
    """A session whose transaction commits on success and rolls back on error, then closes.

    The commit (or rollback) and the close run in one greenlet, in a task of their own that is
    seen through even if the caller is cancelled meanwhile (as SQLAlchemy runs a session's close
    on exit): ``committed`` plus the session's own exit made two greenlets and two generator
    frames a request, some 15 us of CPU each time, about 2% of an approve on SQLite. A commit
    that fails is rolled back before the close, as ``committed`` does."""

    __slots__ = ("_url", "_session")

    def __init__(self, url: str | None = None) -> None:
        self._url = url

    async def __aenter__(self) -> AsyncSession:
        self._session = sessionmaker(self._url)()
        return self._session

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        await _to_completion(greenlet_spawn(_end, self._session.sync_session, exc_type is None))


def _end(session: Session, commit: bool) -> None:
    try:
        if commit:
            try:
                session.commit()
            except BaseException:
                session.rollback()
                raise
        else:
            session.rollback()
    finally:
        session.close()


async def _to_completion(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` in a task of its own to its end, re-raising a cancellation received meanwhile
    only then (anyio cancels again and again: the first must not leave the work half done)."""
    task = asyncio.ensure_future(coro)
    cancelled: asyncio.CancelledError | None = None
    while True:
        try:
            await asyncio.shield(task)
            break
        except asyncio.CancelledError as err:
            if task.done():
                raise
            cancelled = err
    if cancelled is not None:
        raise cancelled


_writers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]]" = (
    weakref.WeakKeyDictionary()
)


@asynccontextmanager
async def write_transaction(session: AsyncSession) -> AsyncIterator[AsyncSession]:
    """A transaction of ``session`` that commits on success and rolls back on error, and on
    SQLite waits its turn behind this event loop's other write transactions, first come first
    served, holding the turn until it has committed or rolled back.

    SQLite has one writer, and its busy handler makes the others sleep and poll: nobody queues,
    a late writer can win over one that waited for seconds, and with 32 plans in flight on one
    loop some waited out the whole busy timeout and failed with "database is locked". An
    asyncio.Lock wakes its waiters in order, so the loop's writers queue instead of polling and
    each one finds the database free when its turn comes (a writer in another process still
    meets the busy timeout, as before)."""
    async with _turn(session), committed(session):
        yield session


def _turn(session: AsyncSession) -> asyncio.Lock | contextlib.nullcontext[None]:
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        return contextlib.nullcontext()
    locks = _writers.setdefault(asyncio.get_running_loop(), {})
    url = bind.url.render_as_string(hide_password=False)
    lock = locks.get(url)
    if lock is None:
        lock = locks[url] = asyncio.Lock()
    return lock


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def begin_write(session: AsyncSession) -> None:
    """Take SQLite's write lock now (``BEGIN IMMEDIATE``, waiting up to the busy timeout) for a
    transaction that reads and then writes: a deferred one that read before another writer
    committed cannot upgrade and fails at once with "database is locked". A no-op elsewhere."""
    if session.get_bind().dialect.name == "sqlite":
        await session.execute(text("BEGIN IMMEDIATE"))
