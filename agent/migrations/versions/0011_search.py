"""search: trigram indexes for the inbox text search (SQLite FTS5, PostgreSQL pg_trgm)

SQLite: two FTS5 tables with the trigram tokenizer over external content, kept in step by
triggers on insert, update (of the indexed columns) and delete:

- ``contacts_fts`` (full_name, email, phone) over the view ``contacts_search`` (the contact's
  rowid and ``first_name || ' ' || last_name`` as full_name, which holds both name columns);
- ``outreaches_fts`` (subject, body) over ``outreaches``.

Both are keyed on the content table's rowid. A later migration that recreates ``contacts`` or
``outreaches`` (a batch operation copies the rows, renumbering rowids, and drops the triggers
with the old table) must re-create the triggers and rebuild the index:
``INSERT INTO contacts_fts(contacts_fts) VALUES ('rebuild')``.

PostgreSQL: the pg_trgm extension and one GIN index per table, on the same texts.

The search reads the index only to narrow the rows; the LIKE / ILIKE filter it had before still
decides (``agent/search.py``), so the results are the same.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 15:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

_CONTACT_VALUES = "{p}.rowid, {p}.first_name || ' ' || {p}.last_name, {p}.email, {p}.phone"

_SQLITE_UP = [
    "CREATE VIEW contacts_search AS SELECT rowid AS rowid, first_name || ' ' || last_name AS full_name, email, phone"
    " FROM contacts",
    "CREATE VIRTUAL TABLE contacts_fts USING fts5(full_name, email, phone, content='contacts_search',"
    " content_rowid='rowid', tokenize='trigram')",
    f"CREATE TRIGGER contacts_fts_insert AFTER INSERT ON contacts BEGIN"
    f" INSERT INTO contacts_fts(rowid, full_name, email, phone) VALUES ({_CONTACT_VALUES.format(p='new')}); END",
    f"CREATE TRIGGER contacts_fts_delete AFTER DELETE ON contacts BEGIN"
    f" INSERT INTO contacts_fts(contacts_fts, rowid, full_name, email, phone)"
    f" VALUES ('delete', {_CONTACT_VALUES.format(p='old')}); END",
    f"CREATE TRIGGER contacts_fts_update AFTER UPDATE OF first_name, last_name, email, phone ON contacts BEGIN"
    f" INSERT INTO contacts_fts(contacts_fts, rowid, full_name, email, phone)"
    f" VALUES ('delete', {_CONTACT_VALUES.format(p='old')});"
    f" INSERT INTO contacts_fts(rowid, full_name, email, phone) VALUES ({_CONTACT_VALUES.format(p='new')}); END",
    "CREATE VIRTUAL TABLE outreaches_fts USING fts5(subject, body, content='outreaches', content_rowid='rowid',"
    " tokenize='trigram')",
    "CREATE TRIGGER outreaches_fts_insert AFTER INSERT ON outreaches BEGIN"
    " INSERT INTO outreaches_fts(rowid, subject, body) VALUES (new.rowid, new.subject, new.body); END",
    "CREATE TRIGGER outreaches_fts_delete AFTER DELETE ON outreaches BEGIN"
    " INSERT INTO outreaches_fts(outreaches_fts, rowid, subject, body) VALUES ('delete', old.rowid, old.subject,"
    " old.body); END",
    "CREATE TRIGGER outreaches_fts_update AFTER UPDATE OF subject, body ON outreaches BEGIN"
    " INSERT INTO outreaches_fts(outreaches_fts, rowid, subject, body) VALUES ('delete', old.rowid, old.subject,"
    " old.body);"
    " INSERT INTO outreaches_fts(rowid, subject, body) VALUES (new.rowid, new.subject, new.body); END",
    # Backfill: the rows already there (an existing database being migrated).
    "INSERT INTO contacts_fts(contacts_fts) VALUES ('rebuild')",
    "INSERT INTO outreaches_fts(outreaches_fts) VALUES ('rebuild')",
]

_SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS outreaches_fts_update",
    "DROP TRIGGER IF EXISTS outreaches_fts_delete",
    "DROP TRIGGER IF EXISTS outreaches_fts_insert",
    "DROP TABLE IF EXISTS outreaches_fts",
    "DROP TRIGGER IF EXISTS contacts_fts_update",
    "DROP TRIGGER IF EXISTS contacts_fts_delete",
    "DROP TRIGGER IF EXISTS contacts_fts_insert",
    "DROP TABLE IF EXISTS contacts_fts",
    "DROP VIEW IF EXISTS contacts_search",
]

# pg_trgm is a trusted extension (PostgreSQL 13+): the database's owner may create it.
_PG_UP = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_contacts_search_trgm ON contacts USING gin"
    " ((first_name || ' ' || last_name) gin_trgm_ops, email gin_trgm_ops, phone gin_trgm_ops)",
    "CREATE INDEX ix_outreaches_search_trgm ON outreaches USING gin (subject gin_trgm_ops, body gin_trgm_ops)",
]

# The extension stays: other objects may have come to use it.
_PG_DOWN = [
    "DROP INDEX IF EXISTS ix_outreaches_search_trgm",
    "DROP INDEX IF EXISTS ix_contacts_search_trgm",
]


def _run(statements: list[str]) -> None:
    for sql in statements:
        op.execute(sql)


def upgrade() -> None:
    _run(_SQLITE_UP if op.get_bind().dialect.name == "sqlite" else _PG_UP)


def downgrade() -> None:
    _run(_SQLITE_DOWN if op.get_bind().dialect.name == "sqlite" else _PG_DOWN)
