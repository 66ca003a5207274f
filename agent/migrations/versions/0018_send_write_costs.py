"""what a send costs PostgreSQL (issue 11's send rate): the outreach search texts in a table of
their own, so a status change no longer rewrites the trigram index; and the enrollments' rollup
trigger re-flags marks only when an enrollment's flags changed, not on every move

1. PostgreSQL writes a new entry into *every* index of a table on each update that is not HOT,
and no status change is HOT (``status`` is in two of ``outreaches``' B-trees). 0011 put the
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
``agent.search.outreach_ids`` reads the ids out of it.

2. 0016's ``stats_enrollments_update`` re-flags the enrollments' marks (replied, bounced, opted
out) on *every* UPDATE of enrollments with ``UPDATE stats_marks ... FROM new_rows AS r WHERE
stats_marks.enrollment_id = r.id AND <flags differ>``, whose plan (made once per connection) can
be a hash join over a sequential scan of the whole of ``stats_marks`` (three rows per reached
enrollment): 11 ms at 30,000 marks for a statement moving 5 enrollments, growing with the table,
~0.65 ms per message at the worker's batches of 10. A mark's flags are its enrollment's, set
when the mark is written and re-set when they change, so the UPDATE can only find work when a
moved row's flags differ from what they were: it now runs only then (the transition tables
alone say so), which the executor's moves (``executing``, ``waiting``) never are. The function
is rewritten from its own text in the database (the UPDATE wrapped in ``IF ... END IF``, taken
off again on downgrade).

SQLite: nothing changes (its row triggers probe the marks by key already).

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


# 0016's re-flag of marks, run only when a moved enrollment's flags changed.
_FLAGS = ("CASE WHEN {r}.status = 'replied' THEN 1 ELSE 0 END", "CASE WHEN {r}.substatus = 'bounced' THEN 1 ELSE 0 END",
          "CASE WHEN {r}.substatus = 'opted_out' THEN 1 ELSE 0 END")
_CHANGED = " OR ".join(f"{f.format(r='n')} <> {f.format(r='o')}" for f in _FLAGS)
_REFLAG = ("UPDATE stats_marks SET", "; RETURN NULL;")
_REFLAG_IF_CHANGED = (f"IF EXISTS (SELECT FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id WHERE {_CHANGED})"
                      " THEN UPDATE stats_marks SET", "; END IF; RETURN NULL;")


def _rewrite_reflag(old: tuple[str, str], new: tuple[str, str]) -> None:
    """Replace each fragment of ``old`` by its ``new`` in the body of the enrollments' update trigger function."""
    conn = op.get_bind()
    body = conn.exec_driver_sql("SELECT prosrc FROM pg_proc WHERE proname = 'stats_enrollments_update'").scalar_one()
    for was, now in zip(old, new, strict=True):
        if body.count(was) != 1:
            raise RuntimeError("stats_enrollments_update() is not the function this migration knows")
        body = body.replace(was, now)
    op.execute(f"CREATE OR REPLACE FUNCTION stats_enrollments_update() RETURNS trigger LANGUAGE plpgsql"
               f" AS $fn${body}$fn$")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for sql in _UP:
        op.execute(sql)
    _rewrite_reflag(_REFLAG, _REFLAG_IF_CHANGED)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _rewrite_reflag(_REFLAG_IF_CHANGED, _REFLAG)
    for sql in _DOWN:
        op.execute(sql)
