"""PostgreSQL's pool pre-ping (agent/db.py): one round trip per checkout, and a connection the
server dropped is still replaced before a session uses it."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import text

from agent.db import dispose_engines, get_engine, session_scope


@pytest.fixture
def pg(settings):
    if not settings.db_url.startswith("postgresql"):
        pytest.skip("the pre-ping is PostgreSQL's; SQLite's pooled connections are files")
    return settings.db_url.replace("postgresql+asyncpg://", "postgresql://")


async def test_the_pre_ping_is_one_statement_outside_any_transaction(pg):
    async with session_scope() as s:  # a pooled connection, not fresh: the next checkout pings it
        await s.execute(text("SELECT 1"))
    seen: list[str] = []
    async with get_engine().connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        raw.add_query_logger(lambda record: seen.append(record.query))
    async with session_scope() as s:
        seen.clear()
        await s.execute(text("SELECT 2"))
    await dispose_engines()
    # The logger sees what asyncpg sends unprepared (the session's own statements are prepared):
    # the ping, then the session's transaction; SQLAlchemy's ping added a BEGIN and a ROLLBACK.
    assert seen == ["SELECT 1", "BEGIN;", "COMMIT;"], seen


async def test_a_connection_the_server_dropped_is_replaced_before_use(pg):
    async with session_scope() as s:
        pid = (await s.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    admin = await asyncpg.connect(pg)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    async with session_scope() as s:  # the pooled one is dead: the ping finds out, the pool reconnects
        assert (await s.execute(text("SELECT pg_backend_pid()"))).scalar_one() != pid
    await dispose_engines()
