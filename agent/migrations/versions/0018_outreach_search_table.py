"""outreach search texts in a table of their own (PostgreSQL): the trigram index moves off
``outreaches``, so a status change no longer rewrites it (issue 11's send rate)

PostgreSQL writes a new entry into *every* index of a table on each update that is not HOT, and
no status change is HOT (``status`` is in two of ``outreaches``' B-trees). 0011 put the
subject/body trigram GIN index on ``outreaches`` itself, so each claim and each ``sent`` (and
each approve) re-inserted every trigram of the body, about 300 GIN entries, into it (with
``fastupdate = off``, 0017, straight into the index): measured at ~0.35 ms of server CPU per row
updated, two updates per send, the largest part of the database's share of a send.

Here, as SQLite's FTS5 table already is (0011), the searched texts live beside the rows:
``outreaches_search`` (id, subject, body), one row per outreach, carries the GIN index (same
name, ``fastupdate = off``) and is written only when an outreach comes in (a statement-level
trigger over the inserted rows, so a planner's bulk insert is one INSERT) or its subject or body
changes (a row trigger that fires only for UPDATEs setting those columns and only when they
differ). Its foreign key goes with the outreach (ON DELETE CASCADE; TRUNCATE ... CASCADE too).
``agent.search.outreach_ids`` reads the ids out of it. SQLite: nothing changes.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 18:10:00.000000
"""

from __future__ import annotations

from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

_INDEX = "ix_outreaches_search_trgm"  # 0011's name, kept (agent.search.PG_INDEXES)
_GIN = "USING gin (subject gin_trgm_ops, body gin_trgm_ops) WITH (fastupdate = off)"

_UP = [
    f"DROP INDEX IF EXISTS {_INDEX}",
    "CREATE TABLE outreaches_search (id VARCHAR(40) PRIMARY KEY REFERENCES outreaches (id) ON DELETE CASCADE,"
    " subject TEXT, body TEXT)",
    "INSERT INTO outreaches_search (id, subject, body) SELECT id, subject, body FROM outreaches",
    f"CREATE INDEX {_INDEX} ON outreaches_search {_GIN}",
    "CREATE FUNCTION outreaches_search_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " INSERT INTO outreaches_search (id, subject, body) SELECT id, subject, body FROM new_rows; RETURN NULL; END $$",
    "CREATE TRIGGER outreaches_search_insert AFTER INSERT ON outreaches REFERENCING NEW TABLE AS new_rows"
    " FOR EACH STATEMENT EXECUTE FUNCTION outreaches_search_insert()",
    "CREATE FUNCTION outreaches_search_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " UPDATE outreaches_search SET subject = NEW.subject, body = NEW.body WHERE id = NEW.id; RETURN NULL; END $$",
    "CREATE TRIGGER outreaches_search_update AFTER UPDATE OF subject, body ON outreaches FOR EACH ROW"
    " WHEN (OLD.subject IS DISTINCT FROM NEW.subject OR OLD.body IS DISTINCT FROM NEW.body)"
    " EXECUTE FUNCTION outreaches_search_update()",
]

_DOWN = [
    "DROP TRIGGER IF EXISTS outreaches_search_update ON outreaches",
    "DROP TRIGGER IF EXISTS outreaches_search_insert ON outreaches",
    "DROP FUNCTION IF EXISTS outreaches_search_update()",
    "DROP FUNCTION IF EXISTS outreaches_search_insert()",
    "DROP TABLE IF EXISTS outreaches_search",  # its index with it
    f"CREATE INDEX {_INDEX} ON outreaches {_GIN}",  # as 0017 left it
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for sql in _UP:
        op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for sql in _DOWN:
        op.execute(sql)
