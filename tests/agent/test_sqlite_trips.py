"""SQLite's one-hand-off-per-statement connections (agent/sqlite_trips.py): the same answers as
aiosqlite's own, counted hand-offs, empty commits skipped, long results streamed in chunks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from agent import sqlite_trips
from agent.db import make_engine
from agent.sqlite_trips import OneTripConnection


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncEngine:
    eng = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'trips.db'}")
    async with eng.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
    yield eng
    await eng.dispose()


async def _driver(conn) -> OneTripConnection:  # noqa: ANN001 - an AsyncConnection
    raw = await conn.get_raw_connection()
    return raw.driver_connection


async def test_the_app_engine_uses_it_with_its_pragmas(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        assert isinstance(await _driver(conn), OneTripConnection)
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 15000


async def test_one_hand_off_per_statement_and_none_for_an_empty_commit(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        driver = await _driver(conn)
        await conn.commit()  # whatever the checkout left
        before = driver.trips
        assert (await conn.execute(text("SELECT 41 + 1"))).scalar() == 42
        await conn.commit()  # a read-only transaction: SQLite holds none, nothing to hand off
        assert driver.trips - before == 1
        before = driver.trips
        inserted = await conn.execute(text("INSERT INTO t (name) VALUES ('a'), ('b')"))
        assert inserted.rowcount == 2
        back = await conn.execute(text("UPDATE t SET name = name || '!' WHERE name = 'a' RETURNING id, name"))
        assert back.all() == [(1, "a!")]
        await conn.commit()  # this one has work: one hand-off
        assert driver.trips - before == 3
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT name FROM t ORDER BY id"))).scalars().all() == ["a!", "b"]


async def test_rollback_still_undoes_and_errors_still_raise(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("INSERT INTO t (name) VALUES ('kept')"))
        await conn.commit()
        await conn.execute(text("INSERT INTO t (name) VALUES ('undone')"))
        await conn.rollback()
        with pytest.raises(IntegrityError):
            await conn.execute(text("INSERT INTO t (name) VALUES ('kept')"))
        await conn.rollback()
        with pytest.raises(OperationalError):
            await conn.execute(text("SELECT nope FROM t"))
        await conn.rollback()
        assert (await conn.execute(text("SELECT name FROM t"))).scalars().all() == ["kept"]


async def test_executemany_and_a_long_result_streamed(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_trips, "CHUNK", 10)
    async with engine.connect() as conn:
        driver = await _driver(conn)
        await conn.execute(text("INSERT INTO t (name) VALUES (:n)"), [{"n": f"n{i}"} for i in range(25)])
        await conn.commit()
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 25
        # Buffered: the first chunk with the statement, the rest on fetch.
        names = (await conn.execute(text("SELECT name FROM t ORDER BY id"))).scalars().all()
        assert names == [f"n{i}" for i in range(25)]
        # Streamed (a server-side cursor): chunks on demand, then closed.
        before = driver.trips
        streamed = await conn.stream(text("SELECT name FROM t ORDER BY id"))
        got = [row[0] async for row in streamed]
        assert got == names and driver.trips - before == 2  # the execute with 10 rows, then the other 15


async def test_postgresql_engines_are_left_alone() -> None:
    pg = create_async_engine("postgresql+asyncpg://u@127.0.0.1:1/x")
    with pytest.raises(AssertionError):
        sqlite_trips.one_trip(pg)
    await pg.dispose()


async def test_a_write_through_aiosqlites_own_methods_is_still_committed(engine: AsyncEngine) -> None:
    """agent.bulk hands rows to the driver's own executemany: the commit after it must not be skipped."""
    async with engine.connect() as conn:
        driver = await _driver(conn)
        await conn.commit()
        await conn.execute(text("SELECT 1"))  # SQLAlchemy's transaction begins (as a session's would)
        await driver.executemany("INSERT INTO t (name) VALUES (?)", [("x",), ("y",)])
        await conn.commit()
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT name FROM t ORDER BY id"))).scalars().all() == ["x", "y"]


async def test_closing_and_disposing_raise_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    eng = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'closing.db'}")
    async with eng.connect() as conn:
        assert (await conn.execute(text("SELECT 1"))).scalar() == 1
    with caplog.at_level("ERROR"):
        await eng.dispose()  # the pool closes its connection: an error there is only logged
    assert not [r for r in caplog.records if "closing connection" in r.getMessage()]


_DEFERRED = {sqlite_trips.DEFER: True}


async def test_a_deferred_insert_rides_with_the_commit_and_the_next_statement_sees_it(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        driver = await _driver(conn)
        await conn.execute(text("INSERT INTO t (name) VALUES ('first')"))  # the transaction is open
        before = driver.trips
        kept = await conn.execute(text("INSERT INTO t (name) VALUES ('later')"), execution_options=_DEFERRED)
        assert driver.trips == before and kept.rowcount == -1  # nothing handed off yet; no count to tell
        # The next statement runs it first, in its own hand-off, and reads its row.
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 2
        assert driver.trips - before == 1
        await conn.execute(text("INSERT INTO t (name) VALUES ('last')"), execution_options=_DEFERRED)
        await conn.commit()  # it and the commit: one hand-off
        assert driver.trips - before == 2
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT name FROM t ORDER BY id"))).scalars().all() == ["first", "later", "last"]


async def test_a_rollback_drops_a_deferred_insert_with_its_transaction(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        driver = await _driver(conn)
        await conn.execute(text("INSERT INTO t (name) VALUES ('undone')"))
        await conn.execute(text("INSERT INTO t (name) VALUES ('dropped')"), execution_options=_DEFERRED)
        assert len(driver.deferred) == 1
        await conn.rollback()
        assert driver.deferred == []
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 0


async def test_a_close_drops_a_deferred_insert_with_its_transaction(tmp_path: Path) -> None:
    path = tmp_path / "close.db"
    sqlite3.connect(path).execute("CREATE TABLE t (name TEXT)").connection.close()
    driver = await sqlite_trips._connect(path)
    await driver.execute("INSERT INTO t VALUES ('rolled back')")  # the transaction opens
    assert driver.defer("INSERT INTO t VALUES (?)", ("dropped",))
    await driver.close()  # would have raised had it run the INSERT on a closed connection, or kept it
    assert driver.deferred == []
    assert sqlite3.connect(path).execute("SELECT count(*) FROM t").fetchone() == (0,)


async def test_a_deferred_inserts_error_is_raised_by_the_commit_and_nothing_commits(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("INSERT INTO t (name) VALUES ('taken')"))
        await conn.commit()
        await conn.execute(text("INSERT INTO t (name) VALUES ('fresh')"))
        await conn.execute(text("INSERT INTO t (name) VALUES ('taken')"), execution_options=_DEFERRED)
        with pytest.raises(IntegrityError):
            await conn.commit()
        await conn.rollback()
        assert (await conn.execute(text("SELECT name FROM t ORDER BY id"))).scalars().all() == ["taken"]


async def test_outside_a_transaction_a_deferred_statement_runs_at_once(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        driver = await _driver(conn)
        await conn.execute(text("INSERT INTO t (name) VALUES ('taken')"))
        await conn.commit()
        assert not driver.in_tx
        before = driver.trips
        with pytest.raises(IntegrityError):  # raised by its own execute, not a later call
            await conn.execute(text("INSERT INTO t (name) VALUES ('taken')"), execution_options=_DEFERRED)
        assert driver.trips - before == 1 and driver.deferred == []
