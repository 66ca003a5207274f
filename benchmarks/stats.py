"""Campaign stats at 100,000 enrollments and 300,000 outreaches: ``agent.reports.stats.campaign_stats``
beside the bare SQL for the same figures (hand-written statements through the same session), in
the same run. Goal: the service at most 1.5x the bare SQL, p99 under 300 ms, on both backends.

    python benchmarks/stats.py [--enrollments 100000] [--runs 30] [--backend sqlite|postgresql]
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
OUT_STATUSES = ["sent", "delivered", "failed"]


def bare_sql(sqlite: bool) -> list[str]:
    """The stats' figures as plain SQL (bind :c is the campaign id)."""
    if sqlite:
        bucket = "strftime('%Y-%m-%d %H', started_at), CAST(strftime('%M', started_at) AS INTEGER) / 15"
    else:
        bucket = ("to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24'), "
                  "CAST(floor(extract(minute FROM started_at AT TIME ZONE 'UTC') / 15) AS INTEGER)")
    reached = "o.status IN ('sent','delivered')"
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
        ("SELECT count(*), sum(CASE WHEN answer_status = 'human' THEN 1 ELSE 0 END), "
        "sum(CASE WHEN answer_status = 'human' THEN coalesce(duration_s, 0) ELSE 0 END), "
        "sum(CASE WHEN answer_status = 'human' THEN 1 ELSE 0 END), "
        "sum(CASE WHEN answer_status = 'machine' THEN 1 ELSE 0 END), "
        "sum(CASE WHEN answer_status = 'no_answer' THEN 1 ELSE 0 END), "
        "sum(CASE WHEN answer_status = 'rejected' THEN 1 ELSE 0 END) FROM conversations "
        "WHERE campaign_id = :c AND channel = 'voice' AND direction = 'outbound'"),
        "SELECT status, count(*) FROM tasks WHERE campaign_id = :c GROUP BY status",
        ("SELECT g.id, coalesce(r.corrected_result, r.result), count(r.id) FROM goals g LEFT JOIN goal_results r "
        "ON r.goal_id = g.id LEFT JOIN evaluations v ON v.id = r.evaluation_id WHERE g.campaign_id = :c AND "
        "g.archived_at IS NULL AND (r.id IS NULL OR v.is_current) GROUP BY g.id, coalesce(r.corrected_result, r.result)"),
        ("SELECT step, channel, count(DISTINCT enrollment_id) FROM outreaches WHERE campaign_id = :c AND status IN "
        "('sent','delivered') GROUP BY step, channel"),
        (f"SELECT {bucket}, count(*), sum(CASE WHEN answer_status = 'human' THEN 1 ELSE 0 END) FROM conversations "
        "WHERE campaign_id = :c AND channel = 'voice' AND direction = 'outbound' AND started_at IS NOT NULL "
        f"GROUP BY {bucket}"),
    ]


async def seed(n: int, calls: int) -> str:
    from agent.auth import get_or_create_workspace
    from agent.bulk import insert_rows
    from agent.db import session_scope, utcnow
    from agent.ids import new_id
    from agent.models import Campaign, Contact, Conversation, Enrollment, Outreach

    now = utcnow()
    async with session_scope() as s:
        ws = (await get_or_create_workspace(s, "bench")).id
        cmp = new_id("cmp")
        s.add(Campaign(id=cmp, workspace_id=ws, name="Spring", type="one_time", status="active",
                       execution_mode="manual", manual_review=True, brief="b", timezone="America/New_York",
                       schedule=None, settings={}, ai_variables={}, went_live_at=now))
        await s.flush()
        stamps = {"workspace_id": ws, "created_at": now, "updated_at": now}
        start = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
        for lo in range(0, n, 20_000):
            rows: dict = {Contact: [], Enrollment: [], Outreach: [], Conversation: []}
            for i in range(lo, min(n, lo + 20_000)):
                cid, eid = new_id("con"), new_id("enr")
                rows[Contact].append(stamps | {"id": cid, "first_name": f"A{i}", "last_name": "L",
                                               "email": f"a{i}@x.example", "email_key": f"a{i}@x.example",
                                               "properties": {}, "tags": [], "priority": "normal"})
                rows[Enrollment].append(stamps | {"id": eid, "campaign_id": cmp, "contact_id": cid,
                                                  "status": STATUSES[i % 5], "attempts": 1, "source": "api",
                                                  "version": 1})
                for step, channel in ((1, "email"), (2, "sms"), (3, "email")):
                    oid = new_id("out")
                    rows[Outreach].append(stamps | {"id": oid, "campaign_id": cmp, "enrollment_id": eid,
                                                    "channel": channel, "step": step,
                                                    "status": OUT_STATUSES[(i + step) % 3], "body": "x",
                                                    "rationale": "", "model": "", "prompt_version": "",
                                                    "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0,
                                                    "send_attempts": 0,
                                                    "idempotency_key": oid, "version": 1})
                if i < calls:
                    rows[Conversation].append({"id": new_id("cnv"), "workspace_id": ws, "campaign_id": cmp,
                                               "enrollment_id": eid, "contact_id": cid, "external_id": new_id("c"),
                                               "channel": "voice", "direction": "outbound", "status": "closed",
                                               "answer_status": ["human", "machine", "no_answer"][i % 3],
                                               "duration_s": 30.0,
                                               "started_at": start + dt.timedelta(minutes=7 * i), "created_at": now})
            for model, batch in rows.items():
                await insert_rows(s, model.__table__, batch)
    return cmp


def p99(xs: list[float]) -> float:
    return sorted(xs)[max(0, int(len(xs) * 0.99) - 1)] if len(xs) < 100 else statistics.quantiles(xs, n=100)[98]


async def run(args: argparse.Namespace) -> int:
    from sqlalchemy import text

    from agent.db import dispose_engines, session_scope
    from agent.models import Campaign
    from agent.reports.stats import campaign_stats

    t0 = time.perf_counter()
    cmp = await seed(args.enrollments, args.calls)
    print(f"seeded {args.enrollments} enrollments, {3 * args.enrollments} outreaches, {args.calls} calls "
          f"in {time.perf_counter() - t0:.1f} s")
    service, bare = [], []
    async with session_scope() as s:
        campaign = await s.get(Campaign, cmp)
        sqls = [text(q) for q in bare_sql(s.bind.dialect.name == "sqlite")]
        for i in range(args.runs + 2):  # two warm-ups each
            t = time.perf_counter()
            figures = await campaign_stats(s, campaign)
            if i >= 2:
                service.append(time.perf_counter() - t)
            t = time.perf_counter()
            for q in sqls:
                (await s.execute(q, {"c": cmp})).all()
            if i >= 2:
                bare.append(time.perf_counter() - t)
    await dispose_engines()
    print(f"figures: all={figures['all']} email={figures['email']} voice.calls={figures['voice']['calls']} "
          f"heatmap cells={len(figures['heatmap']['cells'])}")
    ms, mb = statistics.median(service) * 1e3, statistics.median(bare) * 1e3
    print(f"service: median {ms:.1f} ms, p99 {p99(service) * 1e3:.1f} ms")
    print(f"bare SQL: median {mb:.1f} ms, p99 {p99(bare) * 1e3:.1f} ms")
    print(f"ratio service/bare (median): {ms / mb:.2f}x (goal <= 1.5x); p99 goal < 300 ms")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--enrollments", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=30)
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
