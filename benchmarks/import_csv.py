"""Import a 10,000-row CSV through the service path beside the floor for the same work.

Floor (measured in the same run): decode + `csv` parsing, the same phonenumbers (parse, validity,
E.164, time zone) and email-validator calls, and a bare executemany of the resulting rows
(sqlite3 for SQLite, asyncpg for PostgreSQL). Service: `imports.create_job` + `imports.run_job`,
the code the HTTP upload and its worker run (whole-file checks, normalisation with progress,
dedup against the workspace, contacts + enrollments + activity in one transaction).

    python benchmarks/import_csv.py [--rows 10000] [--repeat 3] [--pg postgresql://postgres@127.0.0.1:5432/bench]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import phonenumbers  # noqa: E402
from email_validator import EmailNotValidError, validate_email  # noqa: E402
from phonenumbers.timezone import time_zones_for_number  # noqa: E402

AREAS = ["212", "312", "415", "617", "713", "206", "720", "305", "404", "503"]
FORMATS = ["({a}) {x}-{y}", "{a}.{x}.{y}", "+1 {a} {x} {y}", "1-{a}-{x}-{y}", "{a}{x}{y}"]


def make_csv(rows: int, seed: int = 7) -> bytes:
    rnd = random.Random(seed)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["First Name", "Last Name", "Phone", "Email", "Company", "Notes"])
    for i in range(rows):
        a = AREAS[i % len(AREAS)]
        x, y = f"{200 + (i // 10000) % 700:03d}", f"{i % 10000:04d}"
        phone = rnd.choice(FORMATS).format(a=a, x=x, y=y)
        w.writerow([f"First{i}", f"Last{i}", phone, f"Person.{i}@Example.com", f"Company {i % 97}",
                    "likes mornings" if i % 3 else "call after 5pm"])
    return out.getvalue().encode()


def floor_normalise(data: bytes) -> list[tuple]:
    text = data.decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader)
    rows = []
    for first, last, phone, email, company, notes in reader:
        e164 = tz = None
        try:
            num = phonenumbers.parse(phone, "US")
            if phonenumbers.is_valid_number(num):
                e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
                zones = time_zones_for_number(num)
                tz = zones[0] if zones else None
        except phonenumbers.NumberParseException:
            pass
        try:
            norm = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError:
            norm = None
        rows.append((f"c{len(rows)}", first, last, norm, norm.casefold() if norm else None, e164, tz, company, notes))
    return rows


def floor_sqlite(data: bytes, path: Path) -> tuple[float, float]:
    t0 = time.perf_counter()
    rows = floor_normalise(data)
    t1 = time.perf_counter()
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE IF NOT EXISTS c (id, first, last, email, email_key, phone, tz, company, notes)")
    with con:
        con.executemany("INSERT INTO c VALUES (?,?,?,?,?,?,?,?,?)", rows)
    con.close()
    return t1 - t0, time.perf_counter() - t1


async def floor_pg(data: bytes, url: str) -> tuple[float, float]:
    import asyncpg

    t0 = time.perf_counter()
    rows = floor_normalise(data)
    t1 = time.perf_counter()
    con = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    await con.execute("DROP TABLE IF EXISTS bench_floor")
    await con.execute("CREATE TABLE bench_floor (id text, first text, last text, email text, email_key text, "
                      "phone text, tz text, company text, notes text)")
    t1b = time.perf_counter()
    async with con.transaction():
        await con.executemany("INSERT INTO bench_floor VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)", rows)
    t2 = time.perf_counter()
    await con.execute("DROP TABLE bench_floor")
    await con.close()
    return t1 - t0, t2 - t1b


async def service_run(data: bytes, url: str) -> tuple[float, dict]:
    from agent.auth import get_or_create_workspace
    from agent.campaigns import service as campaigns
    from agent.campaigns.schemas import CampaignCreate
    from agent.contacts import imports
    from agent.contacts.repository import get_import_job
    from agent.db import dispose_engines, session_scope

    async with session_scope(url) as s:
        ws = await get_or_create_workspace(s, f"bench-{time.time_ns()}")
        campaign = await campaigns.create(s, ws.id, CampaignCreate(name="bench", channels=[{"kind": "sms"}]), "bench")
    t0 = time.perf_counter()
    async with session_scope(url) as s:
        job = await imports.create_job(s, campaign, data, filename="bench.csv", mapping=None, actor="bench",
                                       queue=False)
    await imports.run_job(job.id)
    elapsed = time.perf_counter() - t0
    async with session_scope(url) as s:
        done = await get_import_job(s, ws.id, job.id)
        counts = {"status": done.status, "added": done.added, "duplicates": done.duplicates,
                  "errors": len(done.errors)}
    await dispose_engines()
    return elapsed, counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg", default=os.environ.get("OVERTURE_BENCH_DATABASE_URL"),
                        help="PostgreSQL URL (a scratch database: it is reset)")
    args = parser.parse_args()

    from agent.migrate import upgrade
    from agent.settings import Settings, _async_url, use_settings

    data = make_csv(args.rows)
    print(f"file: {args.rows} rows, {len(data) / 1e6:.2f} MB")
    backends = ["sqlite"] + (["postgresql"] if args.pg else [])
    for backend in backends:
        floors, services = [], []
        for i in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                if backend == "sqlite":
                    url = f"sqlite+aiosqlite:///{Path(tmp) / 'overture.db'}"
                    upgrade(url)
                    norm, ins = floor_sqlite(data, Path(tmp) / "floor.db")
                else:
                    url = _async_url(args.pg)
                    if i == 0:
                        _reset_pg(url)
                        upgrade(url)
                    norm, ins = asyncio.run(floor_pg(data, url))
                use_settings(Settings(_env_file=None, database_url=url, data_dir=Path(tmp)))
                elapsed, counts = asyncio.run(service_run(data, url))
                assert counts["status"] == "succeeded" and counts["added"] == args.rows, counts
            floors.append((norm, ins))
            services.append(elapsed)
        norm = statistics.median(f[0] for f in floors)
        ins = statistics.median(f[1] for f in floors)
        floor = norm + ins
        svc = statistics.median(services)
        print(f"{backend:10s} floor {floor:.3f} s (normalise {norm:.3f} s + insert {ins:.3f} s)   "
              f"service {svc:.3f} s   ratio {svc / floor:.2f}x   (median of {args.repeat})")
        print(f"  issue 13: import {args.rows:,} rows vs the floor ({backend}): {svc / floor:.2f}x (goal <= 1.5x); "
              f"load average {os.getloadavg()[0]:.2f}")


def _reset_pg(url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def go() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()

    asyncio.run(go())


if __name__ == "__main__":
    main()
