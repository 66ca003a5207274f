"""Campaign stats at 100,000 enrollments and 300,000 outreaches: ``agent.reports.stats.campaign_stats``
beside two sides of hand-written SQL through the same session, taking turns in the same run:

- bare SQL on the rollups (the ratio's baseline: the same reads as the service, without its Python);
- bare SQL on the raw rows (the GROUP BYs the stats ran before migration 0016: what the rollups save).

Both compute every figure the service shows, ``positive``, ``review`` and the goals (names joined)
included. Goal: the service at most 1.5x the bare SQL on the rollups, p99 under 300 ms, on both
backends. Wall and CPU times are printed (CPU: this process plus, on PostgreSQL, the backend
serving the session), so a loaded machine's swings can be told apart.

    python benchmarks/stats.py [--enrollments 100000] [--runs 50] [--raw-runs 5] [--backend sqlite|postgresql]
                               [--pg-url postgresql://postgres@127.0.0.1:5432/bench_stats]

With ``--backend postgresql`` the database named by --pg-url is a scratch one: its schema is reset.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STATUSES = ["waiting", "replied", "finished", "completed", "not_started"]
SUBSTATUSES = [None, None, "bounced", None, "opted_out", None, None]
OUT_STATUSES = ["sent", "delivered", "failed", "sent", "delivered", "failed", "awaiting_approval"]


def raw_sql(sqlite: bool) -> list[str]:
    """Every figure from the raw rows, as plain SQL (binds :c the campaign id, :cut the SLA's cut-off):
    the GROUP BYs the stats ran before the rollups (``tests/reports/recount.py``), which the rollups save."""
    if sqlite:
        bucket = "strftime('%Y-%m-%d %H', started_at), CAST(strftime('%M', started_at) AS INTEGER) / 15"
    else:
        bucket = ("to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24'), "
                  "CAST(floor(extract(minute FROM started_at AT TIME ZONE 'UTC') / 15) AS INTEGER)")
    reached = "o.status IN ('sent','delivered')"
    interested = ("SELECT m.channel, m.enrollment_id FROM inbound_messages m JOIN enrollments e ON e.id = m.enrollment_id "
                  "WHERE e.campaign_id = :c AND m.kind = 'reply' AND m.intent = 'interested'")
    return [
        "SELECT status, count(*) FROM enrollments WHERE campaign_id = :c GROUP BY status",
        ("SELECT count(*) FROM (SELECT enrollment_id FROM outreaches WHERE campaign_id = :c AND status IN "
        "('sent','delivered') UNION SELECT enrollment_id FROM conversations WHERE campaign_id = :c AND "
        "direction = 'outbound' AND enrollment_id IS NOT NULL) AS x"),
        (f"SELECT o.channel, count(DISTINCT CASE WHEN {reached} THEN o.enrollment_id END), "
         f"sum(CASE WHEN {reached} THEN 1 ELSE 0 END), sum(CASE WHEN o.status = 'delivered' THEN 1 ELSE 0 END), "
         "sum(CASE WHEN o.status = 'failed' THEN 1 ELSE 0 END), "
         f"count(DISTINCT CASE WHEN {reached} AND e.status = 'replied' THEN e.id END), "
         f"count(DISTINCT CASE WHEN {reached} AND e.substatus = 'bounced' THEN e.id END), "
         f"count(DISTINCT CASE WHEN {reached} AND e.substatus = 'opted_out' THEN e.id END) "
         "FROM outreaches o JOIN enrollments e ON e.id = o.enrollment_id WHERE o.campaign_id = :c "
         "GROUP BY o.channel"),
        f"SELECT x.channel, count(DISTINCT x.enrollment_id) FROM ({interested}) AS x GROUP BY x.channel",
        f"SELECT count(DISTINCT x.enrollment_id) FROM ({interested}) AS x",
        ("SELECT count(*), sum(CASE WHEN answer_status = 'human' THEN 1 ELSE 0 END), "
        "sum(CASE WHEN answer_status = 'human' THEN coalesce(duration_s, 0) ELSE 0 END), "
        "sum(CASE WHEN answer_status = 'human' THEN 1 ELSE 0 END), "
        "sum(CASE WHEN answer_status = 'machine' THEN 1 ELSE 0 END), "
        "sum(CASE WHEN answer_status = 'no_answer' THEN 1 ELSE 0 END), "
        "sum(CASE WHEN answer_status = 'rejected' THEN 1 ELSE 0 END) FROM conversations "
        "WHERE campaign_id = :c AND channel = 'voice' AND direction = 'outbound'"),
        "SELECT status, count(*) FROM tasks WHERE campaign_id = :c GROUP BY status",
        ("SELECT g.id, g.name, g.is_primary, coalesce(r.corrected_result, r.result), count(r.id) FROM goals g "
        "LEFT JOIN goal_results r ON r.goal_id = g.id LEFT JOIN evaluations v ON v.id = r.evaluation_id "
        "WHERE g.campaign_id = :c AND g.archived_at IS NULL AND (r.id IS NULL OR v.is_current) "
        "GROUP BY g.id, g.name, g.is_primary, coalesce(r.corrected_result, r.result) ORDER BY g.id"),
        ("SELECT step, channel, count(DISTINCT enrollment_id) FROM outreaches WHERE campaign_id = :c AND status IN "
        "('sent','delivered') GROUP BY step, channel"),
        (f"SELECT {bucket}, count(*), sum(CASE WHEN answer_status = 'human' THEN 1 ELSE 0 END) FROM conversations "
        "WHERE campaign_id = :c AND channel = 'voice' AND direction = 'outbound' AND started_at IS NOT NULL "
        f"GROUP BY {bucket}"),
        ("SELECT count(*), sum(CASE WHEN created_at < :cut THEN 1 ELSE 0 END) FROM outreaches "
         "WHERE campaign_id = :c AND status = 'awaiting_approval'"),
    ]


def rollup_sql(sqlite: bool) -> list[str]:
    """The same figures from migration 0016's rollups, as plain SQL: the service's own reads (the
    counters; the heatmap's quarter-hours summed per UTC weekday and quarter while New York's
    offset holds, its one change in the seeded months written in; the goals' names; the drafts past
    the SLA on their index), without its Python."""
    weekday = "strftime('%w', substr(figure, 4, 10))" if sqlite else "extract(dow FROM CAST(substr(figure, 4, 10) AS date))"
    mine = "campaign_id = :c AND figure LIKE 'hm:%'"
    return [
        ("SELECT figure, sum(n), sum(total) FROM stats_counts WHERE campaign_id = :c AND figure NOT LIKE 'hm:%' "
         "GROUP BY figure"),
        f"SELECT min(figure), max(figure) FROM stats_counts WHERE {mine}",
        ("SELECT min(substr(figure, 4, 10)) || ' ' || substr(figure, 15, 2), substr(figure, 18, 1), sum(n), sum(total) "
         f"FROM stats_counts WHERE {mine} GROUP BY CASE WHEN figure < 'hm:2026-03-08 07:0' THEN 0 ELSE 1 END, "
         f"{weekday}, substr(figure, 15, 2), substr(figure, 18, 1) HAVING sum(n) <> 0"),
        ("SELECT id, name, is_primary FROM goals WHERE campaign_id = :c AND archived_at IS NULL "
         "ORDER BY created_at, id"),
        ("SELECT count(*) FROM outreaches WHERE campaign_id = :c AND status = 'awaiting_approval' "
         "AND created_at < :cut"),
    ]


async def seed(n: int, calls: int) -> str:
    """One campaign: ``n`` enrollments (statuses and substatuses mixed), three outreaches each (some
    drafts waiting for review), a reply read as interested from every tenth, a task from every
    twentieth, ``calls`` outbound calls each evaluated against two goals; the rollups' triggers
    count it all as it goes in."""
    from agent.auth import get_or_create_workspace
    from agent.bulk import insert_rows
    from agent.db import session_scope, utcnow
    from agent.ids import new_id
    from agent.models import (Campaign, Contact, Conversation, Enrollment, Evaluation, Goal, GoalResult, InboundMessage,
                              Outreach, Task)

    now = utcnow()
    async with session_scope() as s:
        ws = (await get_or_create_workspace(s, "bench")).id
        cmp = new_id("cmp")
        s.add(Campaign(id=cmp, workspace_id=ws, name="Spring", type="one_time", status="active",
                       execution_mode="manual", manual_review=True, brief="b", timezone="America/New_York",
                       schedule=None, settings={}, ai_variables={}, went_live_at=now))
        goals = [new_id("goal"), new_id("goal")]
        s.add_all([Goal(id=g, campaign_id=cmp, name=f"Goal {k}", description="d", is_primary=k == 0)
                   for k, g in enumerate(goals)])
        await s.flush()
        stamps = {"workspace_id": ws, "created_at": now, "updated_at": now}
        start = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
        for lo in range(0, n, 20_000):
            rows: dict = {m: [] for m in (Contact, Enrollment, Outreach, Conversation, Evaluation, GoalResult,
                                          InboundMessage, Task)}
            for i in range(lo, min(n, lo + 20_000)):
                cid, eid = new_id("con"), new_id("enr")
                rows[Contact].append(stamps | {"id": cid, "first_name": f"A{i}", "last_name": "L",
                                               "email": f"a{i}@x.example", "email_key": f"a{i}@x.example",
                                               "properties": {}, "tags": [], "priority": "normal"})
                rows[Enrollment].append(stamps | {"id": eid, "campaign_id": cmp, "contact_id": cid,
                                                  "status": STATUSES[i % 5], "substatus": SUBSTATUSES[i % 7],
                                                  "attempts": 1, "source": "api", "version": 1})
                for step, channel in ((1, "email"), (2, "sms"), (3, "email")):
                    oid = new_id("out")
                    rows[Outreach].append(stamps | {"id": oid, "campaign_id": cmp, "enrollment_id": eid,
                                                    "channel": channel, "step": step,
                                                    "status": OUT_STATUSES[(i + step) % 7], "body": "x",
                                                    "rationale": "", "model": "", "prompt_version": "",
                                                    "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0,
                                                    "send_attempts": 0,
                                                    "idempotency_key": oid, "version": 1})
                if i % 10 == 0:
                    rows[InboundMessage].append({"id": new_id("inb"), "workspace_id": ws, "enrollment_id": eid,
                                                 "channel": "email" if i % 20 else "sms", "provider": "test",
                                                 "external_id": new_id("m"), "kind": "reply", "status": "applied",
                                                 "intent": "interested", "detail": {}, "received_at": now,
                                                 "created_at": now})
                if i % 20 == 0:
                    rows[Task].append(stamps | {"id": new_id("task"), "campaign_id": cmp, "contact_id": cid,
                                                "enrollment_id": eid, "idempotency_key": new_id("idem"), "title": "t",
                                                "body": "", "status": "pending" if i % 40 else "completed"})
                if i < calls:
                    cnv, ev = new_id("cnv"), new_id("eval")
                    rows[Conversation].append({"id": cnv, "workspace_id": ws, "campaign_id": cmp,
                                               "enrollment_id": eid, "contact_id": cid, "external_id": new_id("c"),
                                               "channel": "voice", "direction": "outbound", "status": "closed",
                                               "answer_status": ["human", "machine", "no_answer"][i % 3],
                                               "duration_s": 30.0,
                                               "started_at": start + dt.timedelta(minutes=7 * i), "created_at": now})
                    rows[Evaluation].append({"id": ev, "conversation_id": cnv, "status": "succeeded", "model": "",
                                             "prompt_version": "", "input_tokens": 0, "output_tokens": 0,
                                             "cost_usd": 0.0, "is_current": True, "created_at": now})
                    for k, goal in enumerate(goals):
                        rows[GoalResult].append({"id": new_id("gr"), "evaluation_id": ev, "conversation_id": cnv,
                                                 "goal_id": goal, "result": ["achieved", "not_achieved"][(i + k) % 2],
                                                 "corrected_result": "achieved" if i % 9 == 0 else None,
                                                 "reason": "", "supported": True, "created_at": now})
            for model, batch in rows.items():
                if batch:
                    await insert_rows(s, model.__table__, batch)
    return cmp


def p99(xs: list[float]) -> float:
    return sorted(xs)[max(0, int(len(xs) * 0.99) - 1)] if len(xs) < 100 else statistics.quantiles(xs, n=100)[98]


def _cpu_seconds(pid: int | None) -> float:
    """This process's CPU time, plus the PostgreSQL backend's serving it (``pid``), from /proc."""
    own = time.process_time()
    if pid is None:
        return own
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return own + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Side:
    """One side's wall and CPU times per run (CPU: this process and the database backend)."""

    def __init__(self, name: str) -> None:
        self.name, self.wall, self.cpu = name, [], []

    async def time(self, fn, keep: bool, backend: int | None) -> None:
        t, c = time.perf_counter(), _cpu_seconds(backend)
        await fn()
        if keep:
            self.wall.append(time.perf_counter() - t)
            self.cpu.append(_cpu_seconds(backend) - c)

    def line(self) -> str:
        return (f"{self.name:<20} median {statistics.median(self.wall) * 1e3:8.1f} ms, p99 {p99(self.wall) * 1e3:8.1f} ms, "
                f"CPU median {statistics.median(self.cpu) * 1e3:8.1f} ms  ({len(self.wall)} runs)")


async def run(args: argparse.Namespace) -> int:
    from sqlalchemy import text

    from agent.db import dispose_engines, session_scope, utcnow
    from agent.models import Campaign
    from agent.reports.stats import campaign_stats

    t0 = time.perf_counter()
    cmp = await seed(args.enrollments, args.calls)
    print(f"seeded {args.enrollments} enrollments, {3 * args.enrollments} outreaches, {args.calls} calls "
          f"in {time.perf_counter() - t0:.1f} s")
    service, rollups, raw = Side("service"), Side("bare SQL on rollups"), Side("bare SQL on raw rows")
    async with session_scope() as s:
        sqlite = s.bind.dialect.name == "sqlite"
        backend = None if sqlite else (await s.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        campaign = await s.get(Campaign, cmp)
        sla = dt.timedelta(hours=(campaign.settings or {}).get("approval_sla_hours", 24))
        on_rollups, on_raw = [text(q) for q in rollup_sql(sqlite)], [text(q) for q in raw_sql(sqlite)]

        async def bare(statements) -> None:
            binds = {"c": cmp, "cut": utcnow() - sla}
            for q in statements:
                (await s.execute(q, {k: v for k, v in binds.items() if f":{k}" in q.text})).all()

        async def stats() -> None:
            nonlocal figures
            figures = await campaign_stats(s, campaign)

        figures: dict = {}
        for i in range(args.runs + 2):  # two warm-ups each; the sides take turns
            await service.time(stats, i >= 2, backend)
            await rollups.time(lambda: bare(on_rollups), i >= 2, backend)
            if i < args.raw_runs + 1:
                await raw.time(lambda: bare(on_raw), i >= 1, backend)
    await dispose_engines()
    print(f"figures: all={figures['all']} email={figures['email']} voice.calls={figures['voice']['calls']} "
          f"goals={[g['results'] for g in figures['goals']]} review={figures['review']} "
          f"heatmap cells={len(figures['heatmap']['cells'])}")
    print(f"load average {os.getloadavg()[0]:.2f}")
    for side in (service, rollups, raw):
        print(side.line())
    ratio = statistics.median(service.wall) / statistics.median(rollups.wall)
    cpu_ratio = statistics.median(service.cpu) / statistics.median(rollups.cpu)
    print(f"ratio service / bare on rollups (median): {ratio:.2f}x wall, {cpu_ratio:.2f}x CPU (goal <= 1.5x); "
          f"service p99 {p99(service.wall) * 1e3:.1f} ms (goal < 300 ms); "
          f"raw rows / rollups: {statistics.median(raw.wall) / statistics.median(rollups.wall):.0f}x")
    return 0 if ratio <= 1.5 and p99(service.wall) < 0.3 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--enrollments", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--raw-runs", type=int, default=5, help="runs of the raw-row SQL (seconds each)")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("OVERTURE_BENCH_DATABASE_URL"))
    args = parser.parse_args()
    from agent.migrate import upgrade
    from agent.settings import Settings, _async_url, use_settings

    with tempfile.TemporaryDirectory() as tmp:
        if args.backend == "sqlite":
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'overture.db'}"
        else:
            if not args.pg_url:
                parser.error("--backend postgresql needs --pg-url")
            url = _async_url(args.pg_url)
            from benchmarks.send import reset_schema
            asyncio.run(reset_schema(url))
        upgrade(url)
        use_settings(Settings(_env_file=None, data_dir=Path(tmp), database_url=url, broker_url=None))
        return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
