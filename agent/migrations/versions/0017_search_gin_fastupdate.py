"""search GIN indexes without a pending list: ``fastupdate = off`` on 0011's trigram indexes
(PostgreSQL; nothing to do on SQLite, whose FTS5 tables have no such list)

With ``fastupdate`` on (PostgreSQL's default) every row written to ``outreaches`` or ``contacts``
appends its trigrams to the GIN index's *pending list* instead of the index proper, and every
search must read that whole unsorted list before the index: after ~620 approves a list of 310
pages made one inbox ``q=`` search 6.5 ms instead of 0.44 ms, and the list grows to
``gin_pending_list_limit`` (4 MB) before the unlucky write that flushes it pays for all of it.
An approve touches one row at a time, so the batching the list buys is small, and issue 13's
goal is the search's p99: the entries go straight into the index instead
(``benchmarks/inbox.py`` prints the cost on both sides: ``approve`` and
``q=... after approves``).

Measured at 100,000 drafts, 1,000 service approves per setting, alternately (``--gin-rounds 2``):
the list on (500 pages after them) made a ``q=`` search 20.0 / 28.6 ms p50 / p99 and 11.3 ms of
server CPU, off 11.1 / 16.7 ms and 4.3 ms; off costs each approve ~0.8 ms more server CPU (2.0 vs
1.2 ms) and ~0.4 ms p50, and takes away the flush (one approve of 421 ms when the 4 MB list
filled). The smallest list (64 kB) lies between on searches (13.1 / 18.8 ms) and flushes every
~16 approves (approve p99 13.2 ms against 8.6 ms off): not worth a second setting.

``ALTER INDEX ... SET`` only stops new entries going to the list; ``gin_clean_pending_list``
moves the ones already there into the index, so an existing database gains at once.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 15:10:00.000000
"""

from __future__ import annotations

from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

# 0011_search's GIN indexes (agent.search.PG_INDEXES), named here as they were then.
_INDEXES = ("ix_contacts_search_trgm", "ix_outreaches_search_trgm")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in _INDEXES:
        op.execute(f"ALTER INDEX {name} SET (fastupdate = off)")
        op.execute(f"SELECT gin_clean_pending_list('{name}'::regclass)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in _INDEXES:
        op.execute(f"ALTER INDEX {name} RESET (fastupdate)")
