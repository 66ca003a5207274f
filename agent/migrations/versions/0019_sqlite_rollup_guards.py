"""SQLite's rollup triggers fire only when what they count changed (the embedded default's
share of a send, an approve and a plan)

0016's row triggers on ``outreaches`` and ``enrollments`` ran every statement of their body on
every UPDATE naming one of their columns, even when the statement could only net to nothing:
the marks' upsert (reach, flow step, contacted) of an outreach that is neither reached before nor
after (a claim: ``awaiting_execution`` -> ``executing``), and the re-flagging of an enrollment's
marks when its replied / bounced / opted-out flags stay as they were (every move the executor
and the planner make). Measured on ``benchmarks/send.py`` (SQLite): the database thread's CPU
per message went from ~80 us at 0015 (no rollups) to ~150 us at 0018.

Each trigger is split in two, each with a ``WHEN`` saying when its statement can find work:

- ``stats_outreaches_update``: the counts, when the campaign, channel or status changed;
- ``stats_outreaches_update_marks``: the marks, when the outreach is reached (sent or
  delivered) before or after, unless it is reached both times with the same enrollment,
  channel and step;
- ``stats_enrollments_update``: the counts, when the campaign or status changed;
- ``stats_enrollments_update_flags``: the re-flagging, when one of the three flags differs.

The marks' and the re-flagging statements are 0016's own (built by its ``_statements``). The
counts, which now run only when the row's figure changed, need no netting: 1 onto the new
figure and 1 off the old, two plain upserts instead of 0016's union, grouping and sort. What
each figure sums is unchanged (``tests/reports/test_rollups.py`` recounts after every kind of
write). Measured the same way at 0019: ~120 us. PostgreSQL: nothing changes (0018 guarded its
re-flagging; its statement triggers net a whole UPDATE's rows at once).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 02:10:00.000000
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def _rollups():  # noqa: ANN202 - the 0016 module
    """0016's module: its statement builder is the one the triggers were made with."""
    spec = importlib.util.spec_from_file_location("overture_0016", Path(__file__).with_name("0016_stats_rollups.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_REACHED = "{r}.status IN ('sent', 'delivered')"
_FLAGS = ("{r}.status = 'replied'", "coalesce({r}.substatus, '') = 'bounced'", "coalesce({r}.substatus, '') = 'opted_out'")


def _moved(figure: str) -> str:
    """The counts' statements for a row whose figure changed (the trigger's ``WHEN`` says so):
    1 onto the new row's figure, 1 off the old one's; the same sums as 0016's netted statement
    makes when the two figures differ, without its union, grouping and sort."""
    return "; ".join(
        "INSERT INTO stats_counts (campaign_id, figure, shard, n, total)"
        f" SELECT c.id, {figure.format(r=row)}, 0, {sign}, 0.0 FROM campaigns c WHERE c.id = {row}.campaign_id"
        " ON CONFLICT (campaign_id, figure, shard) DO UPDATE SET n = stats_counts.n + excluded.n"
        for row, sign in (("NEW", 1), ("OLD", -1)))


def _changed(*columns: str) -> str:
    return " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns)


def _guarded() -> list[str]:
    m = _rollups()
    kw = {"shard": "0", "bucket": m._SQLITE_BUCKET}
    _, marks = m._statements("outreaches", m._row("outreaches", "NEW"), m._row("outreaches", "OLD"), **kw)
    counts = _moved("'out:' || {r}.channel || ':' || {r}.status")
    old_reached, new_reached = _REACHED.format(r="OLD"), _REACHED.format(r="NEW")
    same_place = " AND ".join(f"OLD.{c} IS NEW.{c}" for c in ("enrollment_id", "channel", "step"))
    _, reflag = m._statements("enrollments", m._row("enrollments", "NEW"), m._row("enrollments", "OLD"), **kw)
    enrollment_counts = _moved("'status:' || {r}.status")
    flags_differ = " OR ".join(f"({f.format(r='OLD')}) IS NOT ({f.format(r='NEW')})" for f in _FLAGS)
    return [
        "CREATE TRIGGER stats_outreaches_update AFTER UPDATE OF campaign_id, channel, status ON outreaches"
        f" WHEN {_changed('campaign_id', 'channel', 'status')} BEGIN {counts}; END",
        "CREATE TRIGGER stats_outreaches_update_marks AFTER UPDATE OF enrollment_id, channel, step, status"
        f" ON outreaches WHEN ({old_reached} OR {new_reached})"
        f" AND NOT ({old_reached} AND {new_reached} AND {same_place}) BEGIN {marks}; END",
        "CREATE TRIGGER stats_enrollments_update AFTER UPDATE OF campaign_id, status ON enrollments"
        f" WHEN {_changed('campaign_id', 'status')} BEGIN {enrollment_counts}; END",
        "CREATE TRIGGER stats_enrollments_update_flags AFTER UPDATE OF status, substatus ON enrollments"
        f" WHEN {flags_differ} BEGIN {reflag}; END",
    ]


_DROP = [f"DROP TRIGGER IF EXISTS stats_{name}" for name in (
    "outreaches_update", "outreaches_update_marks", "enrollments_update", "enrollments_update_flags")]


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for statement in [*_DROP, *_guarded()]:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    restored = [s for s in _rollups()._sqlite_up()
                if s.startswith(("CREATE TRIGGER stats_outreaches_update ", "CREATE TRIGGER stats_enrollments_update "))]
    assert len(restored) == 2, restored
    for statement in [*_DROP, *restored]:
        op.execute(statement)
