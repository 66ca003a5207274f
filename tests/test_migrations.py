"""The migration history against the models: one linear, replayable history that builds the
schema the models describe (no drift), on SQLite and PostgreSQL.

``compare_metadata`` sees tables, columns, types, nullability, indexes, unique constraints and
foreign keys; it ignores CHECK constraints (and server defaults here), so the CHECKs are compared
by name and by their word lists through the inspector.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import CheckConstraint, Connection, MetaData, Table, insert, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine

from agent.migrate import alembic_config, upgrade
from agent.models import Base
from agent.models.base import StrEnumType
from agent.search import not_in_models

_WORD = re.compile(r"'([^']*)'")


def _on(url: str, fn: Callable[[Connection], Any]) -> Any:
    """Run ``fn`` on a sync view of a connection to ``url`` (committing what it wrote)."""

    async def go() -> Any:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                return await conn.run_sync(fn)
        finally:
            await engine.dispose()

    return anyio.run(go)


def _downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def _drift(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": not_in_models})
    return compare_metadata(context, Base.metadata)


def _checks_in_database(conn: Connection) -> dict[str, tuple[frozenset[str], bool]]:
    """Each CHECK by name: the quoted words it allows and whether it lets NULL through.

    The words are read out of the constraint's text as the backend keeps it (SQLite: as written;
    PostgreSQL: ``(status)::text = ANY (ARRAY['draft'::character varying, ...])``).
    """
    insp = inspect(conn)
    found = {}
    for table in insp.get_table_names():
        for ck in insp.get_check_constraints(table):
            found[ck["name"]] = (frozenset(_WORD.findall(ck["sqltext"])), "IS NULL" in ck["sqltext"].upper())
    return found


def _checks_in_models() -> dict[str, tuple[frozenset[str], bool]]:
    """The same, from the CHECKs the models declare (already named by the convention in agent/models/base.py)."""
    declared = {}
    for table in Base.metadata.sorted_tables:
        for ck in table.constraints:
            if isinstance(ck, CheckConstraint):
                sql = str(ck.sqltext)
                declared[str(ck.name)] = (frozenset(_WORD.findall(sql)), "IS NULL" in sql.upper())
    return declared


def _checks_from_enums() -> dict[str, tuple[frozenset[str], bool]]:
    """What every enum-typed column must have: a CHECK allowing exactly its enum's words."""
    return {f"ck_{table.name}_{column.name}": (frozenset(m.value for m in column.type.enum), bool(column.nullable))
            for table in Base.metadata.sorted_tables for column in table.columns
            if isinstance(column.type, StrEnumType)}


def test_every_enum_column_declares_its_check() -> None:
    assert _checks_in_models() == _checks_from_enums()


def test_history_is_linear() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite:///unused.db"))
    assert len(script.get_heads()) == 1
    revisions = list(script.walk_revisions())
    assert [r.revision for r in revisions if r.down_revision is None] == ["0001"]
    # Walking down from the head passes every revision once: no branch, no merge point.
    for newer, older in zip(revisions, revisions[1:], strict=False):
        assert newer.down_revision == older.revision
    assert len(revisions) == len(set(script.revision_map.iterate_revisions("heads", "base")))


def test_migrated_schema_matches_the_models(empty_db_url: str) -> None:
    upgrade(empty_db_url)
    assert _on(empty_db_url, _drift) == []
    assert _on(empty_db_url, _checks_in_database) == _checks_in_models() == _checks_from_enums()


def test_models_create_the_checks_the_migrations_do(empty_db_url: str) -> None:
    _on(empty_db_url, Base.metadata.create_all)
    assert _on(empty_db_url, _checks_in_database) == _checks_in_models()


def test_history_replays_down_to_base_and_up_again(empty_db_url: str) -> None:
    upgrade(empty_db_url)
    _downgrade(empty_db_url, "base")
    left = _on(empty_db_url, lambda c: set(inspect(c).get_table_names()))
    assert left <= {"alembic_version"}
    upgrade(empty_db_url)
    assert _on(empty_db_url, _drift) == []
    assert _on(empty_db_url, _checks_in_database) == _checks_in_models()


def test_downgrade_of_the_status_checks_drops_them(empty_db_url: str) -> None:
    upgrade(empty_db_url)
    _downgrade(empty_db_url, "0002")
    assert _on(empty_db_url, _checks_in_database) == {}


async def _one_enrollment(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        for sql in ("INSERT INTO workspaces (id, name, default_region, created_at) VALUES ('ws', 'w', 'US', :now)",
                    "INSERT INTO campaigns (id, workspace_id, name, type, status, execution_mode, manual_review,"
                    " brief, timezone, settings, ai_variables, notes, add_inbound_contacts, inbound_prompt,"
                    " created_at, updated_at) VALUES ('cmp', 'ws', 'c', 'one_time', 'draft', 'manual', true, '',"
                    " 'UTC', '{}', '{}', '', false, '', :now, :now)",
                    "INSERT INTO contacts (id, workspace_id, first_name, last_name, properties, tags, priority,"
                    " created_at, updated_at) VALUES ('ct', 'ws', '', '', '{}', '[]', 'normal', :now, :now)",
                    "INSERT INTO enrollments (id, workspace_id, campaign_id, contact_id, status, attempts, source,"
                    " version, created_at, updated_at) VALUES ('enr', 'ws', 'cmp', 'ct', 'not_started', 0, 'api',"
                    " 1, :now, :now)"):
            await conn.execute(text(sql), {"now": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)})
    await engine.dispose()


async def _raw(url: str, sql: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@pytest.mark.parametrize("sql", [
    "UPDATE enrollments SET status='bogus'",
    "UPDATE enrollments SET substatus='bogus'",
    "UPDATE campaigns SET status='bogus'",
    "UPDATE contacts SET priority='urgent'",
])
async def test_checks_refuse_a_word_written_with_raw_sql(db_url: str, sql: str) -> None:
    await _one_enrollment(db_url)
    with pytest.raises(IntegrityError, match="(?i)check"):
        await _raw(db_url, sql)


async def test_checks_let_valid_words_and_a_null_substatus_through(db_url: str) -> None:
    await _one_enrollment(db_url)
    await _raw(db_url, "UPDATE enrollments SET status='error', substatus='system_error'")
    await _raw(db_url, "UPDATE enrollments SET status='not_started', substatus=NULL")


def _rows_at_0002() -> dict[str, dict[str, Any]]:
    """One row in every table of revision 0002, each pointing at its parents, so a table
    recreated by the migration would show a cascade (lost children, nulled references)."""
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return {
        "workspaces": {"id": "ws", "name": "acme"},
        "api_keys": {"id": "key", "workspace_id": "ws", "role": "admin", "prefix": "ovt", "key_hash": "h"},
        "web_sessions": {"id": "wss", "token_hash": "t", "key_id": "key", "csrf_token": "c", "expires_at": now},
        "idempotency_records": {"id": "idem", "workspace_id": "ws", "key": "k", "request_hash": "r"},
        "campaigns": {"id": "cmp", "workspace_id": "ws", "name": "c", "type": "follow_up", "status": "active",
                      "execution_mode": "scheduled"},
        "channels": {"id": "chn", "campaign_id": "cmp", "kind": "email", "status": "running"},
        "caller_numbers": {"id": "num", "campaign_id": "cmp", "number": "+15550100"},
        "goals": {"id": "goal", "campaign_id": "cmp", "name": "g"},
        "analyses": {"id": "ana", "campaign_id": "cmp", "name": "a", "type": "rating"},
        "contacts": {"id": "ct", "workspace_id": "ws", "email": "a@example.com", "priority": "high"},
        "suppressions": {"id": "sup", "workspace_id": "ws", "email_key": "a@example.com", "reason": "opt_out"},
        "enrollments": {"id": "enr", "workspace_id": "ws", "campaign_id": "cmp", "contact_id": "ct",
                        "status": "waiting", "substatus": "scheduled"},
        "planning_runs": {"id": "run", "workspace_id": "ws", "campaign_id": "cmp", "status": "running"},
        "planning_run_items": {"id": "pri", "run_id": "run", "enrollment_id": "enr", "status": "planned"},
        "import_jobs": {"id": "imp", "workspace_id": "ws", "campaign_id": "cmp", "status": "succeeded"},
        "export_jobs": {"id": "exp", "workspace_id": "ws", "campaign_id": "cmp", "format": "csv",
                        "status": "queued"},
        "outreaches": {"id": "out", "workspace_id": "ws", "campaign_id": "cmp", "enrollment_id": "enr",
                       "channel_id": "chn", "planning_run_id": "run", "channel": "email", "status": "sent"},
        "outreach_revisions": {"id": "rev", "outreach_id": "out", "number": 1, "actor": "system", "body": "b"},
        "conversations": {"id": "conv", "workspace_id": "ws", "campaign_id": "cmp", "enrollment_id": "enr",
                          "contact_id": "ct", "outreach_id": "out", "channel": "voice", "direction": "outbound",
                          "status": "closed", "answer_status": "human"},
        "conversation_turns": {"id": "turn", "conversation_id": "conv", "seq": 1, "role": "agent",
                               "content": "hi"},
        "evaluations": {"id": "eval", "conversation_id": "conv", "status": "succeeded"},
        "goal_results": {"id": "gr", "evaluation_id": "eval", "conversation_id": "conv", "goal_id": "goal",
                         "result": "achieved"},
        "analysis_answers": {"id": "aa", "evaluation_id": "eval", "conversation_id": "conv",
                             "analysis_id": "ana"},
        "activity_events": {"id": "act", "workspace_id": "ws", "campaign_id": "cmp", "contact_id": "ct",
                            "actor": "system", "kind": "enrollment.moved"},
    }


def _dump(conn: Connection, columns: dict[str, list[str]] | None = None) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table; only ``columns`` of each, and only their tables, where given
    (later revisions add some)."""
    if columns is None:
        tables = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
        columns = {t: [c["name"] for c in inspect(conn).get_columns(t)] for t in tables}
    return {t: [tuple(r) for r in conn.execute(text(f"SELECT {', '.join(cols)} FROM {t} ORDER BY id"))]
            for t, cols in columns.items()}


def _as_at(conn: Connection, name: str) -> Table:
    """The model's table cut down to the columns the database has now (an older revision's), so
    inserts keep the models' Python-side defaults without naming columns added later."""
    there = {c["name"] for c in inspect(conn).get_columns(name)}
    return Table(name, MetaData(), *[c._copy() for c in Base.metadata.tables[name].columns if c.name in there])


def _columns(conn: Connection) -> dict[str, list[str]]:
    return {t: [c["name"] for c in inspect(conn).get_columns(t)]
            for t in inspect(conn).get_table_names() if t != "alembic_version"}


def test_status_checks_migration_keeps_every_row_and_child(empty_db_url: str) -> None:
    upgrade(empty_db_url, "0002")
    rows = _rows_at_0002()

    def fill(conn: Connection) -> None:
        assert set(inspect(conn).get_table_names()) - {"alembic_version"} == set(rows)
        for model_table in Base.metadata.sorted_tables:  # parents first
            if model_table.name not in rows:
                continue  # a table added after 0002
            conn.execute(insert(_as_at(conn, model_table.name)).values(rows[model_table.name]))

    _on(empty_db_url, fill)
    columns = _on(empty_db_url, _columns)
    before = _on(empty_db_url, _dump)
    assert all(len(r) == 1 for r in before.values())

    upgrade(empty_db_url)
    assert _on(empty_db_url, lambda c: _dump(c, columns)) == before
    _downgrade(empty_db_url, "0002")
    assert _on(empty_db_url, _dump) == before


def test_a_sqlite_migration_that_would_leave_orphans_is_refused(tmp_path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'orphans.db'}"
    upgrade(url, "0002")
    # An enrollment of a campaign that does not exist: only possible with foreign keys off,
    # which is how migrations run, so env.py checks the keys before committing.
    rows = _rows_at_0002()
    orphan = {**rows["enrollments"], "campaign_id": "gone"}

    def fill(conn: Connection) -> None:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        for name in ("workspaces", "contacts"):
            conn.execute(insert(_as_at(conn, name)).values(rows[name]))
        conn.execute(insert(_as_at(conn, "enrollments")).values(orphan))

    _on(url, fill)
    with pytest.raises(RuntimeError, match="parent is missing"):
        upgrade(url)
    assert _on(url, lambda c: c.execute(text("SELECT version_num FROM alembic_version")).scalar()) == "0002"
