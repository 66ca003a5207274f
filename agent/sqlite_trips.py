"""One hand-off to aiosqlite's thread per statement, and none for a commit with nothing to commit.

aiosqlite runs each sqlite3 call on the connection's own thread and wakes the event loop with its
answer: a hand-off costs a queue put, a thread wake-up and a loop wake-up (tens of microseconds,
more on a loaded machine, and each one a chance for other tasks to run first). SQLAlchemy's
adapter makes four per statement (open a cursor, execute, fetch, close) and one per commit and
per rollback, even when SQLite holds no transaction: the pool's reset-on-return rollback after
every commit, a read-only request's commit. An approve took 13.

Here a cursor runs its whole statement in one hand-off: it executes, fetches (up to
``CHUNK`` rows) and, when the rows ran out, closes the sqlite3 cursor in the same call, keeping
the description, rowcount and lastrowid it read there. A longer result (a streamed export) keeps
its cursor open and fetches further chunks on demand, so streaming stays bounded in memory.
Commit and rollback skip the hand-off when the last call on the thread left SQLite outside a
transaction (``sqlite3.Connection.in_transaction``, read on that thread after every call,
whichever aiosqlite method made it).

A statement executed with the execution option ``DEFER`` (``sqlite_defer``), one whose answer the
caller does not read (an INSERT without RETURNING), waits when it joins a transaction already
open: it runs on the thread just before the next call, whatever that is (the next statement, the
commit), in the same hand-off. An approve's event INSERT rides with the commit: two hand-offs, not
three. The order of work on the connection is unchanged; what changes is where an error of the
deferred statement surfaces: from that next call, which then does not run (a commit then fails
and is rolled back, as it would have been after the statement's own error). A rollback or a
close drops the waiting statements with the transaction they were to join. Outside a
transaction the statement runs at once (it might otherwise autocommit, or never run at all).

It is wired in through SQLAlchemy's ``do_connect`` event, which may set ``async_creator_fn``
in the connect parameters (what ``create_async_engine(async_creator=...)`` does), so the URL's
own connect arguments still apply. SQLite only: PostgreSQL engines never see it.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any

import aiosqlite
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

DEFER = "sqlite_defer"  # execution option: the statement may wait for the next call (see above)
CHUNK = 1000  # rows fetched with the statement; a result this long keeps its cursor for the rest


class OneTripConnection(aiosqlite.Connection):
    """An aiosqlite connection whose cursors make one hand-off per statement."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], iter_chunk_size: int = 64) -> None:
        super().__init__(connector, iter_chunk_size)
        self._thread.daemon = True  # as SQLAlchemy's own aiosqlite connect does
        self.in_tx = True  # unknown until the first call reports: commit and rollback go through
        self.trips = 0  # hand-offs made, for tests and benchmarks
        self.deferred: list[Callable[[], Any]] = []  # statements to run first with the next call

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Every call aiosqlite hands to the thread (ours, and its own ``execute``, ``executemany``
        and the rest that callers such as ``agent.bulk`` use) notes, on the thread, whether SQLite
        is in a transaction after it: a commit must never be skipped after a write from any path.
        The statements deferred run first (see ``DEFER``)."""
        deferred, self.deferred = self.deferred, []

        def run() -> Any:
            try:
                for call in deferred:
                    call()
                return fn(*args, **kwargs)
            finally:
                self.in_tx = _in_transaction(self._connection)

        self.trips += 1
        return await super()._execute(run)

    def cursor(self) -> OneTripCursor:  # type: ignore[override] - no hand-off to make one
        return OneTripCursor(self)

    def defer(self, sql: str, parameters: Any) -> bool:
        """Keep ``sql`` for the next call if a transaction is open (True), else leave it (False)."""
        if not self.in_tx or self._connection is None:
            return False
        self.deferred.append(partial(_run_alone, self._connection, sql, parameters))
        return True

    async def commit(self) -> None:
        if self.deferred:
            deferred, self.deferred = self.deferred, []
            await self._execute(_commit_after, self._conn, deferred)
        elif self.in_tx:
            await self._execute(self._conn.commit)

    async def rollback(self) -> None:
        self.deferred = []  # they were to run in the transaction rolled back
        if self.in_tx:
            await self._execute(self._conn.rollback)

    async def close(self) -> None:
        self.deferred = []  # closing rolls back what they were to join
        await super().close()


class OneTripCursor:
    """The part of ``aiosqlite.Cursor`` SQLAlchemy's adapter uses, one hand-off per statement."""

    def __init__(self, conn: OneTripConnection) -> None:
        self._conn = conn
        self._cursor: sqlite3.Cursor | None = None  # open only while a long result has rows left
        self._rows: deque[Any] = deque()
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    async def __aenter__(self) -> OneTripCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _run(self, call: Callable[[sqlite3.Cursor], Any]) -> None:
        """On the thread: the statement, its first chunk of rows, and the cursor closed if done."""
        cur = self._cursor or self._conn._conn.cursor()
        try:
            call(cur)
            self.description, self.rowcount, self.lastrowid = cur.description, cur.rowcount, cur.lastrowid
            self._rows = deque(cur.fetchmany(CHUNK) if cur.description else ())
        except BaseException:
            cur.close()
            self._cursor = None
            raise
        self._keep_or_close(cur, len(self._rows) == CHUNK)

    def _keep_or_close(self, cur: sqlite3.Cursor, more: bool) -> None:
        if more:
            self._cursor = cur
        else:
            cur.close()
            self._cursor = None

    async def execute(self, sql: str, parameters: Any = None) -> OneTripCursor:
        args = () if parameters is None else (parameters,)
        await self._conn._execute(partial(self._run, lambda cur: cur.execute(sql, *args)))
        return self

    async def executemany(self, sql: str, seq_of_parameters: Any) -> OneTripCursor:
        await self._conn._execute(partial(self._run, lambda cur: cur.executemany(sql, seq_of_parameters)))
        return self

    async def executescript(self, script: str) -> OneTripCursor:
        await self._conn._execute(partial(self._run, lambda cur: cur.executescript(script)))
        return self

    def _more(self, size: int | None) -> None:
        """On the thread: the next rows of a long result (all of them when ``size`` is None)."""
        cur = self._cursor
        assert cur is not None
        rows = cur.fetchall() if size is None else cur.fetchmany(size)
        self._rows.extend(rows)
        self._keep_or_close(cur, size is not None and len(rows) == size)

    async def fetchall(self) -> list[Any]:
        if self._cursor is not None:
            await self._conn._execute(partial(self._more, None))
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        size = size or self.arraysize
        if len(self._rows) < size and self._cursor is not None:
            await self._conn._execute(partial(self._more, max(size, CHUNK)))
        return [self._rows.popleft() for _ in range(min(size, len(self._rows)))]

    async def fetchone(self) -> Any:
        rows = await self.fetchmany(1)
        return rows[0] if rows else None

    async def close(self) -> None:
        self._rows.clear()
        if self._cursor is not None:
            cur, self._cursor = self._cursor, None
            await self._conn._execute(cur.close)

    def __aiter__(self) -> OneTripCursor:
        return self

    async def __anext__(self) -> Any:
        row = await self.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row

    async def nextset(self) -> None:
        return None

    async def setinputsizes(self, *sizes: Any) -> None:
        return None


def _commit_after(conn: sqlite3.Connection, deferred: list[Callable[[], Any]]) -> None:
    """On the thread: the deferred statements, then the commit. If one of them fails the
    transaction is rolled back before the error is raised: SQLAlchemy takes a failed commit to
    have ended the transaction (it rolls nothing back), so SQLite's must not stay open for the
    connection's next user to commit."""
    try:
        for call in deferred:
            call()
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


def _run_alone(conn: sqlite3.Connection, sql: str, parameters: Any) -> None:
    conn.execute(sql, parameters).close()


def _in_transaction(conn: sqlite3.Connection | None) -> bool:
    try:
        return conn is not None and conn.in_transaction
    except sqlite3.ProgrammingError:  # the call closed it
        return False


def _connect(database: Any, **kwargs: Any) -> OneTripConnection:
    """``aiosqlite.connect`` with this module's connection (called with the URL's connect args)."""
    return OneTripConnection(partial(sqlite3.connect, str(database), **kwargs))


def one_trip(engine: AsyncEngine) -> AsyncEngine:
    """Make ``engine`` (an aiosqlite one) open :class:`OneTripConnection` connections."""
    assert engine.dialect.driver == "aiosqlite", engine.dialect.driver

    @event.listens_for(engine.sync_engine, "do_connect")
    def _use_one_trip(dialect: Any, conn_rec: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
        cparams["async_creator_fn"] = _connect

    engine.dialect.do_execute = _do_execute  # type: ignore[method-assign]
    return engine


def _do_execute(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
    """The dialect's ``do_execute``, keeping a ``DEFER`` statement for the next call when it may
    (a hook here, not a ``before_cursor_execute`` listener: any engine listener slows every
    statement, some 20 us each). The cursor is left as a fresh one is: no description, rowcount -1."""
    if context is not None and context.execution_options.get(DEFER) and \
            context.root_connection.connection.driver_connection.defer(statement, parameters):
        return
    cursor.execute(statement, parameters)
