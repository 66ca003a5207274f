"""Import a 10,000-row CSV through the service path beside the floor for the same work.

Floor (measured in the same run): decode + `csv` parsing, the same phonenumbers (parse, validity,
E.164, time zone) and email-validator calls, then the rows the service writes, written by the
driver alone into the **migrated schema** (a database of its own, migrated like the service's,
with a workspace and campaign made through the app, untimed): every contact (its columns as the
service fills them, properties and tags as JSON), its enrollment and the import's one
``contacts.added`` event, in one transaction, so the floor pays the same index writes, unique
checks, foreign keys and search triggers (FTS5 on SQLite, pg_trgm on PostgreSQL) as the service.
SQLite: sqlite3 ``executemany`` with the app's pragmas; PostgreSQL: asyncpg ``COPY``, each the
fastest way its driver has. Not in the floor: the dedup lookups, the job row and its progress.
Service: `imports.create_job` + `imports.run_job`, the code the HTTP upload and its worker run
(whole-file checks, normalisation with progress, dedup against the workspace, contacts +
enrollments + activity in one transaction).

    python benchmarks/import_csv.py [--rows 10000] [--repeat 3] [--pg postgresql://postgres@127.0.0.1:5432/bench]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
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


def floor_rows(rows: list[tuple], ws: str, campaign_id: str, sqlite: bool) -> tuple[list[tuple], list[tuple], tuple]:
    """The contacts, enrollments and event the service writes for ``rows``, as driver values
    (SQLite: datetimes as SQLAlchemy's text, JSON as text; PostgreSQL: the COPY's own types)."""
    import datetime as dt
    import json

    now = dt.datetime.now(dt.UTC)
    at = now.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else now
    contacts, enrollments = [], []
    for i, (_, first, last, email, email_key, phone, tz, company, notes) in enumerate(rows):
        cid = f"con_f{ws[-12:]}{i:07d}"
        contacts.append((cid, ws, first, last, email, email_key, phone, tz,
                         json.dumps({"company": company, "notes": notes}), "[]", "normal", at, at))
        enrollments.append((f"enr_f{ws[-12:]}{i:07d}", ws, campaign_id, cid, "not_started", 0, "csv", 1, at, at))
    event = (f"evt_f{ws[-12:]}", ws, campaign_id, "bench", "contacts.added",
             json.dumps({"source": "csv", "added": len(rows), "updated": 0, "duplicates": 0, "errors": 0}), at)
    return contacts, enrollments, event


CONTACT_COLUMNS = ("id", "workspace_id", "first_name", "last_name", "email", "email_key", "phone", "timezone",
                   "properties", "tags", "priority", "created_at", "updated_at")
ENROLLMENT_COLUMNS = ("id", "workspace_id", "campaign_id", "contact_id", "status", "attempts", "source", "version",
                      "created_at", "updated_at")
EVENT_COLUMNS = ("id", "workspace_id", "campaign_id", "actor", "kind", "payload", "created_at")


def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def floor_sqlite(data: bytes, path: Path, ws: str, campaign_id: str) -> tuple[float, float]:
    t0 = time.perf_counter()
    rows = floor_normalise(data)
    t1 = time.perf_counter()
    contacts, enrollments, event = floor_rows(rows, ws, campaign_id, sqlite=True)
    con = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL"):  # agent.db's
        con.execute(f"PRAGMA {pragma}")
    con.execute("BEGIN")
    con.executemany(_insert_sql("contacts", CONTACT_COLUMNS), contacts)
    con.executemany(_insert_sql("enrollments", ENROLLMENT_COLUMNS), enrollments)
    con.execute(_insert_sql("activity_events", EVENT_COLUMNS), event)
    con.execute("COMMIT")
    con.close()
    return t1 - t0, time.perf_counter() - t1


async def floor_pg(data: bytes, url: str, ws: str, campaign_id: str) -> tuple[float, float]:
    import asyncpg

    t0 = time.perf_counter()
    rows = floor_normalise(data)
    t1 = time.perf_counter()
    contacts, enrollments, event = floor_rows(rows, ws, campaign_id, sqlite=False)
    con = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    server0 = backend_cpu(con.get_server_pid())
    async with con.transaction():
        await con.copy_records_to_table("contacts", records=contacts, columns=CONTACT_COLUMNS)
        await con.copy_records_to_table("enrollments", records=enrollments, columns=ENROLLMENT_COLUMNS)
        await con.copy_records_to_table("activity_events", records=[event], columns=EVENT_COLUMNS)
    t2 = time.perf_counter()
    server = backend_cpu(con.get_server_pid()) - server0
    await con.close()
    return t1 - t0, t2 - t1, server


def backend_cpu(pid: int) -> float:
    """A PostgreSQL backend's CPU seconds so far (a server on this machine: /proc/<pid>/schedstat),
    NaN when it cannot be read."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9
    except OSError:
        return float("nan")


class BackendCpu:
    """CPU of the PostgreSQL backends the app's pools hand out while it listens: per backend, from
    its first checkout to its last checkin (an idle pooled backend spends nothing in between)."""

    def __init__(self) -> None:
        from sqlalchemy import event
        from sqlalchemy.pool import Pool

        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self._events = [(Pool, "checkout", self._checkout), (Pool, "checkin", self._checkin)]
        for target, name, fn in self._events:
            event.listen(target, name, fn)

    @staticmethod
    def _pid(dbapi_connection) -> int | None:
        driver = getattr(dbapi_connection, "driver_connection", None)
        return driver.get_server_pid() if hasattr(driver, "get_server_pid") else None

    def _checkout(self, dbapi_connection, record, proxy) -> None:
        if (pid := self._pid(dbapi_connection)) is not None:
            self.first.setdefault(pid, backend_cpu(pid))

    def _checkin(self, dbapi_connection, record) -> None:
        if (pid := self._pid(dbapi_connection)) is not None:
            self.last[pid] = backend_cpu(pid)

    def stop(self) -> float:
        from sqlalchemy import event

        for target, name, fn in self._events:
            event.remove(target, name, fn)
        return sum(self.last.get(pid, cpu) - cpu for pid, cpu in self.first.items())


async def make_target(url: str) -> tuple[str, object]:
    """A workspace and an SMS campaign to import into, made through the app (not timed)."""
    from agent.auth import get_or_create_workspace
    from agent.campaigns import service as campaigns
    from agent.campaigns.schemas import CampaignCreate
    from agent.db import dispose_engines, session_scope

    async with session_scope(url) as s:
        ws = await get_or_create_workspace(s, f"bench-{time.time_ns()}")
        campaign = await campaigns.create(s, ws.id, CampaignCreate(name="bench", channels=[{"kind": "sms"}]), "bench")
    await dispose_engines()
    return ws.id, campaign


async def service_run(data: bytes, url: str) -> tuple[float, float, float, dict]:
    """(wall s, this process's CPU s, its PostgreSQL backends' CPU s, the job's counts)."""
    from agent.contacts import imports
    from agent.contacts.repository import get_import_job
    from agent.db import dispose_engines, session_scope

    ws_id, campaign = await make_target(url)
    gc.collect()
    server = BackendCpu()
    t0, cpu0 = time.perf_counter(), time.process_time()
    async with session_scope(url) as s:
        job = await imports.create_job(s, campaign, data, filename="bench.csv", mapping=None, actor="bench",
                                       queue=False)
    await imports.run_job(job.id)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    server_cpu = server.stop()
    async with session_scope(url) as s:
        done = await get_import_job(s, ws_id, job.id)
        counts = {"status": done.status, "added": done.added, "duplicates": done.duplicates,
                  "errors": len(done.errors)}
    await dispose_engines()
    return elapsed, cpu, server_cpu, counts


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
                    floor_url = f"sqlite+aiosqlite:///{Path(tmp) / 'floor.db'}"
                    upgrade(url)
                    upgrade(floor_url)
                    use_settings(Settings(_env_file=None, database_url=url, data_dir=Path(tmp)))
                    ws_id, campaign = asyncio.run(make_target(floor_url))
                    gc.collect()  # each side starts from a collected heap, not the other's leftovers
                    cpu0 = time.process_time()
                    norm, ins = floor_sqlite(data, Path(tmp) / "floor.db", ws_id, campaign.id)
                    floor_server = float("nan")
                    floor_cpu = time.process_time() - cpu0
                else:
                    url = _async_url(args.pg)
                    if i == 0:
                        _reset_pg(url)
                        upgrade(url)
                    use_settings(Settings(_env_file=None, database_url=url, data_dir=Path(tmp)))
                    # The same database as the service (a workspace of its own): the same indexes to grow.
                    ws_id, campaign = asyncio.run(make_target(url))
                    gc.collect()
                    cpu0 = time.process_time()
                    norm, ins, floor_server = asyncio.run(floor_pg(data, url, ws_id, campaign.id))
                    floor_cpu = time.process_time() - cpu0
                elapsed, svc_cpu, svc_server, counts = asyncio.run(service_run(data, url))
                assert counts["status"] == "succeeded" and counts["added"] == args.rows, counts
            floors.append((norm, ins, floor_cpu, floor_server))
            services.append((elapsed, svc_cpu, svc_server))
        norm = statistics.median(f[0] for f in floors)
        ins = statistics.median(f[1] for f in floors)
        floor = norm + ins
        svc = statistics.median(x[0] for x in services)
        floor_cpu = statistics.median(f[2] for f in floors)
        svc_cpu = statistics.median(x[1] for x in services)
        floor_server = statistics.median(f[3] for f in floors)
        svc_server = statistics.median(x[2] for x in services)
        print(f"{backend:10s} floor {floor:.3f} s (normalise {norm:.3f} s + insert {ins:.3f} s)   "
              f"service {svc:.3f} s   ratio {svc / floor:.2f}x   (median of {args.repeat})")
        print(f"{'':10s} CPU of this process: floor {floor_cpu:.3f} s   service {svc_cpu:.3f} s   "
              f"ratio {svc_cpu / floor_cpu:.2f}x")
        if backend == "postgresql":
            print(f"{'':10s} CPU of the PostgreSQL backends: floor {floor_server:.3f} s   service {svc_server:.3f} s   "
                  f"ratio {svc_server / floor_server:.2f}x   (NaN: the server is not on this machine)")
            print(f"{'':10s} CPU of both: floor {floor_cpu + floor_server:.3f} s   service {svc_cpu + svc_server:.3f} s   "
                  f"ratio {(svc_cpu + svc_server) / (floor_cpu + floor_server):.2f}x")
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
