"""stats rollups: campaign counters kept in step by triggers, so stats read figures instead of
recounting 100,000s of rows (issue 14)

Every figure ``agent/reports/stats.py`` shows is a *contribution* of one row: an outreach adds 1
to ``out:<channel>:<status>``, a human call adds 1 and its seconds to ``human``, and so on
(``_COUNTS``). A trigger adds the contributions of the rows written and takes away those of the
rows replaced, netted per figure, into ``stats_counts`` (an upsert). So every code path that
writes these tables, the executor's bulk UPDATEs and pacing included, keeps the figures true.

Distinct figures (enrollments reached on a channel, per step; contacted; positive) go through
``stats_marks``: one row per (enrollment, figure) whose ``n`` counts the enrollment's rows
behind it (``_MARKS``); the marks' own trigger moves the campaign counter ``m:<figure>`` only
when ``n`` crosses 0. A mark carries its enrollment's replied / bounced / opted-out flags (the
enrollments trigger keeps them), so "replied of those reached on email" is the mark's
contribution too. Goals: a goal result contributes to ``goal:<goal>:<result>`` (a correction
wins) while its evaluation is current; an evaluation whose ``is_current`` flips moves all of
its results. Heatmap: ``hm:<UTC hour>:<quarter>`` (n calls, total human calls), folded in Python.

PostgreSQL: statement-level AFTER triggers over transition tables, so one bulk UPDATE of 500
outreaches is one netted upsert, not 500. Each database connection writes counter rows of its own
(``shard`` = its backend's pid), so two transactions never lock the same counter row: no writer
queues behind another's commit, and none can deadlock with another over counters (with shared
rows, two writers touching overlapping figures in opposite statement order could). The rows of
connections that have gone are folded into shard 0 by ``agent.reports.rollups.fold`` (the
scheduler's tick), so the rows a figure sums stay about as many as the open connections. Evaluations use a
row-level BEFORE DELETE trigger (its goal results are still there; the cascade comes after).
SQLite: row-level triggers with the same statements over ``(SELECT NEW.col AS col ...)``; one
writer at a time, so one shard.

Existing rows are counted into the tables here (backfill); downgrade drops it all. The tables
carry no foreign key: a campaign's rows go with the campaign (a trigger on campaigns).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 14:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

# The columns each trigger reads of a row (SQLite spells a row out as a one-row subquery).
_COLUMNS = {
    "enrollments": ("id", "campaign_id", "status", "substatus"),
    "outreaches": ("id", "campaign_id", "enrollment_id", "channel", "step", "status"),
    "tasks": ("id", "campaign_id", "status"),
    "conversations": ("id", "campaign_id", "enrollment_id", "channel", "direction", "answer_status",
                      "duration_s", "started_at"),
    "inbound_messages": ("id", "enrollment_id", "channel", "kind", "intent"),
    "goal_results": ("id", "goal_id", "evaluation_id", "result", "corrected_result"),
    "evaluations": ("id", "is_current"),
    "stats_marks": ("enrollment_id", "figure", "campaign_id", "n", "replied", "bounced", "opted_out"),
}

_CALL = "r.channel = 'voice' AND r.direction = 'outbound' AND r.campaign_id IS NOT NULL"
_HUMAN = "CASE WHEN r.answer_status = 'human' THEN 1 ELSE 0 END"
_REACHED = "r.status IN ('sent', 'delivered')"
_GOAL = "'goal:' || x.goal_id || ':' || coalesce(x.corrected_result, x.result)"

# Per table: SELECTs of (campaign_id, figure, n, total) over one row ``r`` of ``{src}``.
_COUNTS = {
    "enrollments": ["SELECT r.campaign_id, 'status:' || r.status, {sign}, 0.0 FROM {src}"],
    "outreaches": ["SELECT r.campaign_id, 'out:' || r.channel || ':' || r.status, {sign}, 0.0 FROM {src}"],
    "tasks": ["SELECT r.campaign_id, 'task:' || r.status, {sign}, 0.0 FROM {src}"],
    "conversations": [
        f"SELECT r.campaign_id, 'call', {{sign}}, 0.0 FROM {{src}} WHERE {_CALL}",
        f"SELECT r.campaign_id, 'answer:' || r.answer_status, {{sign}}, 0.0 FROM {{src}}"
        f" WHERE {_CALL} AND r.answer_status IS NOT NULL",
        f"SELECT r.campaign_id, 'human', {{sign}}, {{sign}} * coalesce(r.duration_s, 0) FROM {{src}}"
        f" WHERE {_CALL} AND r.answer_status = 'human'",
        f"SELECT r.campaign_id, 'hm:' || {{bucket}}, {{sign}}, {{sign}} * {_HUMAN} FROM {{src}}"
        f" WHERE {_CALL} AND r.started_at IS NOT NULL",
    ],
    "goal_results": [
        f"SELECT g.campaign_id, {_GOAL.replace('x.', 'r.')}, {{sign}}, 0.0 FROM {{src}}"
        " JOIN goals g ON g.id = r.goal_id JOIN evaluations v ON v.id = r.evaluation_id WHERE v.is_current"
    ],
    "evaluations": [
        f"SELECT g.campaign_id, {_GOAL}, {{sign}}, 0.0 FROM {{src}} JOIN goal_results x ON x.evaluation_id = r.id"
        " JOIN goals g ON g.id = x.goal_id WHERE r.is_current"
    ],
    "stats_marks": [
        "SELECT r.campaign_id, 'm:' || r.figure, {sign}, 0.0 FROM {src} WHERE r.n > 0",
        *[f"SELECT r.campaign_id, '{flag}:' || substr(r.figure, 7), {{sign}}, 0.0 FROM {{src}}"
          f" WHERE r.n > 0 AND r.{flag} = 1 AND r.figure LIKE 'reach:%'" for flag in ("replied", "bounced", "opted_out")],
    ],
}

# Per table: SELECTs of (enrollment_id, figure, n) marks over one row ``r`` of ``{src}``.
_MARKS = {
    "outreaches": [
        f"SELECT r.enrollment_id, 'reach:' || r.channel, {{sign}} FROM {{src}} WHERE {_REACHED}",
        f"SELECT r.enrollment_id, 'flow:' || r.step || ':' || r.channel, {{sign}} FROM {{src}} WHERE {_REACHED}",
        f"SELECT r.enrollment_id, 'contact', {{sign}} FROM {{src}} WHERE {_REACHED}",
    ],
    "conversations": [
        "SELECT r.enrollment_id, 'contact', {sign} FROM {src} WHERE r.direction = 'outbound'"
        " AND r.enrollment_id IS NOT NULL AND r.campaign_id IS NOT NULL",
    ],
    "inbound_messages": [
        f"SELECT r.enrollment_id, {figure}, {{sign}} FROM {{src}} WHERE r.kind = 'reply'"
        " AND r.intent = 'interested' AND r.enrollment_id IS NOT NULL" for figure in ("'pos'", "'pos:' || r.channel")
    ],
}

_FLAGS = ("CASE WHEN {e}.status = 'replied' THEN 1 ELSE 0 END", "CASE WHEN {e}.substatus = 'bounced' THEN 1 ELSE 0 END",
          "CASE WHEN {e}.substatus = 'opted_out' THEN 1 ELSE 0 END")


_COUNT_HEADER = "SELECT NULL AS campaign_id, NULL AS figure, 0 AS n, 0.0 AS total WHERE 1 = 0"
_MARK_HEADER = "SELECT NULL AS enrollment_id, NULL AS figure, 0 AS n WHERE 1 = 0"


def _union(header: str, parts: list[str], new: str | None, old: str | None, bucket: str) -> str:
    """The contributions of rows ``new`` (+1) and ``old`` (-1); ``header``, an empty SELECT, names
    the columns (SQLite takes no column list after a subquery's alias)."""
    sides = [(src, sign) for src, sign in ((new, "1"), (old, "-1")) if src]
    return " UNION ALL ".join([header, *(p.format(src=src, sign=sign, bucket=bucket) for src, sign in sides for p in parts)])


def _statements(table: str, new: str | None, old: str | None, *, shard: str, bucket: str) -> list[str]:
    """What a write to ``table`` does: rows ``new`` come in, rows ``old`` go (each a FROM source)."""
    out = []
    if table in _COUNTS:
        out.append(
            "INSERT INTO stats_counts (campaign_id, figure, shard, n, total)"
            f" SELECT d.campaign_id, d.figure, {shard}, sum(d.n), sum(d.total)"
            f" FROM ({_union(_COUNT_HEADER, _COUNTS[table], new, old, bucket)}) AS d"
            " JOIN campaigns c ON c.id = d.campaign_id"  # none for a campaign being deleted (SQLite: a cascade's)
            " GROUP BY d.campaign_id, d.figure HAVING sum(d.n) <> 0 OR sum(d.total) <> 0"
            " ORDER BY d.campaign_id, d.figure"  # rows locked in one order by every writer
            " ON CONFLICT (campaign_id, figure, shard) DO UPDATE"
            " SET n = stats_counts.n + excluded.n, total = stats_counts.total + excluded.total")
    if table in _MARKS:
        flags = ", ".join(f.format(e="e") for f in _FLAGS)
        out.append(
            "INSERT INTO stats_marks (enrollment_id, figure, campaign_id, n, replied, bounced, opted_out)"
            f" SELECT d.enrollment_id, d.figure, e.campaign_id, sum(d.n), {flags}"
            f" FROM ({_union(_MARK_HEADER, _MARKS[table], new, old, bucket)}) AS d"
            " JOIN enrollments e ON e.id = d.enrollment_id"
            " GROUP BY d.enrollment_id, d.figure, e.campaign_id, e.status, e.substatus HAVING sum(d.n) <> 0"
            " ORDER BY d.enrollment_id, d.figure"
            " ON CONFLICT (enrollment_id, figure) DO UPDATE SET n = stats_marks.n + excluded.n")
    if table == "enrollments" and new and old:  # a status change re-flags the enrollment's marks
        replied, bounced, opted_out = (f.format(e="r") for f in _FLAGS)
        out.append(
            f"UPDATE stats_marks SET replied = {replied}, bounced = {bounced}, opted_out = {opted_out}"
            f" FROM {new} WHERE stats_marks.enrollment_id = r.id AND (stats_marks.replied <> {replied}"
            f" OR stats_marks.bounced <> {bounced} OR stats_marks.opted_out <> {opted_out})")
    if table == "enrollments" and old and not new:
        out.append(f"DELETE FROM stats_marks WHERE enrollment_id IN (SELECT r.id FROM {old})")
    if table == "campaigns" and old and not new:
        out += [f"DELETE FROM stats_{t} WHERE campaign_id IN (SELECT r.id FROM {old})" for t in ("counts", "marks")]
    return out


_TABLES = ("enrollments", "outreaches", "tasks", "conversations", "inbound_messages", "goal_results", "evaluations",
           "stats_marks")
_SQLITE_BUCKET = "strftime('%Y-%m-%d %H', r.started_at) || ':' || (CAST(strftime('%M', r.started_at) AS INTEGER) / 15)"
_PG_BUCKET = ("to_char(r.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24') || ':' ||"
              " CAST(floor(extract(minute FROM r.started_at AT TIME ZONE 'UTC') / 15) AS INTEGER)")
_PG_SHARD = "pg_backend_pid()"  # the writing connection's own rows (see the docstring)


def _row(table: str, which: str) -> str:
    cols = _COLUMNS.get(table, ("id",))
    return "(SELECT " + ", ".join(f"{which}.{c} AS {c}" for c in cols) + ") AS r"


def _sqlite_up() -> list[str]:
    out = []
    kw = {"shard": "0", "bucket": _SQLITE_BUCKET}
    for table in (*_TABLES, "campaigns"):
        new, old = _row(table, "NEW"), _row(table, "OLD")
        cols = ", ".join(c for c in _COLUMNS.get(table, ()) if c != "id")
        events = [("insert", "AFTER INSERT", new, None), ("update", f"AFTER UPDATE OF {cols}", new, old),
                  ("delete", "BEFORE DELETE" if table == "evaluations" else "AFTER DELETE", None, old)]
        if table == "stats_marks":
            events[1] = ("update", "AFTER UPDATE", new, old)
        if table == "campaigns":
            events = [events[2]]
        for name, when, n, o in events:
            body = "; ".join(_statements(table, n, o, **kw))
            if body:
                out.append(f"CREATE TRIGGER stats_{table}_{name} {when} ON {table} BEGIN {body}; END")
    return out


def _pg_up() -> list[str]:
    out = []
    kw = {"shard": _PG_SHARD, "bucket": _PG_BUCKET}
    for table in (*_TABLES, "campaigns"):
        events = [("insert", "INSERT", "REFERENCING NEW TABLE AS new_rows", "new_rows AS r", None),
                  ("update", "UPDATE", "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
                   "new_rows AS r", "old_rows AS r"),
                  ("delete", "DELETE", "REFERENCING OLD TABLE AS old_rows", None, "old_rows AS r")]
        if table == "campaigns":
            events = [events[2]]
        for name, event, referencing, n, o in events:
            if table == "evaluations" and name == "delete":  # before the cascade takes its results
                body = "; ".join(_statements(table, None, _row(table, "OLD"), **kw))
                out.append(f"CREATE FUNCTION stats_{table}_{name}() RETURNS trigger LANGUAGE plpgsql AS $$"
                           f" BEGIN {body}; RETURN OLD; END $$")
                out.append(f"CREATE TRIGGER stats_{table}_{name} BEFORE DELETE ON {table} FOR EACH ROW"
                           f" EXECUTE FUNCTION stats_{table}_{name}()")
                continue
            body = "; ".join(_statements(table, n, o, **kw))
            out.append(f"CREATE FUNCTION stats_{table}_{name}() RETURNS trigger LANGUAGE plpgsql AS $$"
                       f" BEGIN {body}; RETURN NULL; END $$")
            out.append(f"CREATE TRIGGER stats_{table}_{name} AFTER {event} ON {table} {referencing}"
                       f" FOR EACH STATEMENT EXECUTE FUNCTION stats_{table}_{name}()")
    return out


def _backfill(shard: str, bucket: str) -> list[str]:
    """Existing rows counted as if each had just been inserted; marks before the counters they feed."""
    kw = {"shard": shard, "bucket": bucket}
    tables = ("enrollments", "outreaches", "tasks", "conversations", "inbound_messages", "goal_results",
              "stats_marks")  # goal results already count their current evaluations' part
    return [s for t in tables for s in _statements(t, f"{t} AS r", None, **kw)]


def upgrade() -> None:
    op.create_table('stats_counts',
    sa.Column('campaign_id', sa.String(length=40), nullable=False),
    sa.Column('figure', sa.String(length=200), nullable=False),
    sa.Column('shard', sa.Integer(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('total', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('campaign_id', 'figure', 'shard', name=op.f('pk_stats_counts'))
    )
    op.create_table('stats_marks',
    sa.Column('enrollment_id', sa.String(length=40), nullable=False),
    sa.Column('figure', sa.String(length=100), nullable=False),
    sa.Column('campaign_id', sa.String(length=40), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('replied', sa.Integer(), nullable=False),
    sa.Column('bounced', sa.Integer(), nullable=False),
    sa.Column('opted_out', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('enrollment_id', 'figure', name=op.f('pk_stats_marks'))
    )
    op.create_index('ix_outreaches_campaign_status_created', 'outreaches', ['campaign_id', 'status', 'created_at'])
    sqlite = op.get_bind().dialect.name == "sqlite"
    bucket = _SQLITE_BUCKET if sqlite else _PG_BUCKET
    for statement in [*_backfill("0", bucket), *(_sqlite_up() if sqlite else _pg_up())]:
        op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in (*_TABLES, "campaigns"):
        for name in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS stats_{table}_{name}" + ("" if sqlite else f" ON {table}"))
            if not sqlite:
                op.execute(f"DROP FUNCTION IF EXISTS stats_{table}_{name}()")
    op.drop_index('ix_outreaches_campaign_status_created', table_name='outreaches')
    op.drop_table('stats_marks')
    op.drop_table('stats_counts')
