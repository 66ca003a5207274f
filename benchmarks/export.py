"""Export 100,000 contacts in each format and report the exporting process's peak RSS.

Constant memory means the peak does not grow with the campaign: each format is exported from a
fresh process for a small campaign (the baseline, same run) and for the big one, and the two
peaks are printed side by side with the time taken. The seed writes contacts, enrollments, a
call per tenth contact and a goal result per call with bulk inserts (SQLite under a temporary
data dir, or ``--pg``).

    python benchmarks/export.py [--contacts 100000] [--baseline 10000] [--pg postgresql://postgres@127.0.0.1:5432/bench]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert  # noqa: E402

FORMATS = ("csv", "csv_semicolon", "xlsx", "json")


def _settings(data_dir: Path, pg: str | None):  # noqa: ANN202
    from agent.settings import Settings, use_settings

    return use_settings(Settings(_env_file=None, data_dir=data_dir, database_url=pg, broker_url=None))


async def seed(n: int, data_dir: Path, pg: str | None) -> str:
    from agent.db import dispose_engines, session_scope
    from agent.ids import new_id
    from agent.migrate import upgrade
    from agent.models import Campaign, Contact, Conversation, Enrollment, Evaluation, Goal, GoalResult, Workspace

    settings = _settings(data_dir, pg)
    upgrade(settings.db_url)
    ws, cid, goal = new_id("ws"), new_id("cmp"), new_id("goal")
    async with session_scope() as s:
        s.add(Workspace(id=ws, name=f"bench-{ws}"))
        await s.flush()
        s.add(Campaign(id=cid, workspace_id=ws, name="Export bench", type="one_time", status="active",
                       execution_mode="scheduled"))
        await s.flush()
        s.add(Goal(id=goal, campaign_id=cid, name="Booked", is_primary=True))
    now = dt.datetime.now(dt.UTC)
    for start in range(0, n, 5000):
        contacts, enrollments, calls, evals, results = [], [], [], [], []
        for i in range(start, min(n, start + 5000)):
            ct, en = new_id("ct"), new_id("enr")
            contacts.append({"id": ct, "workspace_id": ws, "first_name": f"First{i}", "last_name": f"Last{i}",
                             "email": f"p{i}@example.com", "email_key": f"p{i}@example.com",
                             "phone": f"+1212{i:07d}", "properties": {"city": "Zürich", "note": "=1+1"},
                             "tags": ["bench"], "priority": "normal", "created_at": now, "updated_at": now})
            enrollments.append({"id": en, "workspace_id": ws, "campaign_id": cid, "contact_id": ct,
                                "status": "waiting", "substatus": "scheduled", "attempts": 1, "source": "csv",
                                "version": 1, "created_at": now, "updated_at": now})
            if i % 10 == 0:
                cv, ev = new_id("cnv"), new_id("evl")
                calls.append({"id": cv, "workspace_id": ws, "campaign_id": cid, "enrollment_id": en, "contact_id": ct,
                              "channel": "voice", "direction": "outbound", "status": "closed",
                              "answer_status": "human", "duration_s": 42.0, "started_at": now, "created_at": now})
                evals.append({"id": ev, "conversation_id": cv, "status": "succeeded", "is_current": True,
                              "created_at": now})
                results.append({"id": new_id("gr"), "evaluation_id": ev, "conversation_id": cv, "goal_id": goal,
                                "result": "achieved", "score": 90, "created_at": now})
        async with session_scope() as s:
            for model, rows in ((Contact, contacts), (Enrollment, enrollments), (Conversation, calls),
                                (Evaluation, evals), (GoalResult, results)):
                if rows:
                    await s.execute(insert(model), rows)
    await dispose_engines()
    return cid


async def export_once(cid: str, fmt: str, data_dir: Path, pg: str | None) -> None:
    """In a fresh process: queue one export and run it the way the actor does; print rows, bytes, seconds, peak RSS."""
    from agent.db import dispose_engines, session_scope
    from agent.models import Campaign, ExportJob
    from agent.queue import setup_broker
    from agent.reports import exports
    from agent.reports.export_files import ExportFormat

    _settings(data_dir, pg)
    setup_broker(task_modules=["agent.reports.tasks"])
    async with session_scope() as s:
        job = await exports.create_job(s, await s.get(Campaign, cid), ExportFormat(fmt), actor="bench")
    before_mb = _rss_mb("VmRSS")
    # Reset the process's high-water mark: the peak below is the export's, not the imports' before it.
    Path("/proc/self/clear_refs").write_text("5")
    started = time.perf_counter()
    await exports.run_job(job.id)
    took = time.perf_counter() - started
    async with session_scope() as s:
        done = await s.get(ExportJob, job.id)
        assert done.status == "succeeded", (done.status, done.error_code)
        rows, size = done.processed, done.size_bytes
    await dispose_engines()
    print(f"{rows} {size} {took:.2f} {_rss_mb('VmHWM'):.1f} {before_mb:.1f}")


def _rss_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak since the last reset) of this process, in MB."""
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def _child(cid: str, fmt: str, data_dir: Path, pg: str | None) -> tuple[int, int, float, float, float]:
    cmd = [sys.executable, __file__, "--child", cid, fmt, "--data-dir", str(data_dir)] + (["--pg", pg] if pg else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]), int(out[1]), float(out[2]), float(out[3]), float(out[4])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--contacts", type=int, default=100_000)
    p.add_argument("--baseline", type=int, default=10_000)
    p.add_argument("--pg")
    p.add_argument("--data-dir")
    p.add_argument("--child", nargs=2)
    args = p.parse_args()
    if args.child:
        asyncio.run(export_once(args.child[0], args.child[1], Path(args.data_dir), args.pg))
        return
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        small = asyncio.run(seed(args.baseline, data_dir, args.pg))
        big = asyncio.run(seed(args.contacts, data_dir, args.pg))
        print(f"backend: {'postgresql' if args.pg else 'sqlite'}; peak RSS of the exporting process "
              f"(baseline: the same export of {args.baseline} contacts, same run)")
        print("RSS before the export starts, and the peak while it runs (the high-water mark is reset at its start)")
        print(f"{'format':<14}{'rows':>8}{'MB out':>8}{'s':>8}{'before MB':>10}{'peak MB':>9}"
              f"{'baseline peak':>14}{'growth':>8}")
        for fmt in FORMATS:
            _, _, _, base, _ = _child(small, fmt, data_dir, args.pg)
            rows, size, took, peak, before = _child(big, fmt, data_dir, args.pg)
            print(f"{fmt:<14}{rows:>8}{size / 1e6:>8.1f}{took:>8.1f}{before:>10.1f}{peak:>9.1f}{base:>14.1f}"
                  f"{peak / base:>7.2f}x")


if __name__ == "__main__":
    main()
