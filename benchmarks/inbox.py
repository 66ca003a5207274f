"""The review inbox at 100,000 pending drafts: the first page and an approve, beside bare SQL.

One workspace, one active manual-review email campaign and N contacts, each enrolled with one
draft awaiting approval (and its ``outreach.planned`` event), written through ``agent.bulk``'s
driver path; seeding is timed on its own. PostgreSQL then gets ``VACUUM ANALYZE`` (what
autovacuum would do); SQLite is left as the app leaves it (no ANALYZE). Five contacts, n // 5
apart, are called "Zanzibar" for the text search. Each line is p50 / p99 in ms over
``--repeat`` runs (after 5 warm-up runs):

  session     floor: ``SELECT 1`` on an open driver connection; service: ``session_scope()`` +
              ``SELECT 1`` (what every request pays to get a session); HTTP: ``GET /readyz``
  first page  floor: the page (50 + 1 rows awaiting approval, oldest id first, joined to the
              enrollment and contact; the same outreach and contact columns an inbox item shows),
              the per-status counts, and the SLA work: the page's campaigns' settings read (in the
              workspace) and each draft's approval age, SLA hours and overdue flag computed. Hand-
              written SQL on one open sqlite3 / asyncpg connection, no objects built; service:
              ``review.service.list_inbox`` in a fresh ``session_scope()``; HTTP:
              ``GET /v1/outreaches?limit=50`` through the app (``httpx.ASGITransport``) and through
              uvicorn in a child process over loopback
  q=zanzibar  the same with the text filter, ``--repeat-search`` runs; the floor is today's LIKE
              search, hand-written: name, email, phone, subject and body with one LIKE (SQLite) /
              ILIKE each, reading every row; the service reads the trigram index (0010_search)
  approve     floor: UPDATE ... WHERE id AND workspace_id AND status = 'awaiting_approval'
              RETURNING the item's columns, the contact's columns read by its enrollment, and
              INSERT of the event, committed (what the service answers, without building it); service: ``review.service.approve`` in its own session; HTTP:
              ``POST /v1/outreaches/{id}/approve``. Every run approves a different draft.
  q= after    the q= line again, once the approve lines have written (``--repeat`` + 5 outreaches
              each): what a search costs once drafts have been worked (PostgreSQL: the GIN
              index's pending list, printed in pages beside it, is read by every search while
              ``fastupdate`` is on; 0017 turned it off). The q= line above runs before any write.

PostgreSQL, ``--gin-rounds R`` (default 2; 0 skips it): GIN fastupdate on (the default), on with
the smallest pending list (64 kB) and off, alternately in the same run (``GIN_SETTINGS``). Each
round, for each setting in turn: the trigram indexes set to it and their pending
list flushed, ``--gin-approves`` service approves (p50 / p99 / max ms, CPU ms per approve of this
process and of the database's backends, from /proc), the pending list's pages after them, then
``--repeat-search`` ``GET /v1/outreaches?q=`` through ASGI (p50 / p99 ms, CPU of both sides).
The indexes are left as the migrations leave them (off).

Ratios are against the floor's p50 / p99 for the same work, measured in the same run. Every
path is first checked to return the same page. Beside wall time each line prints CPU ms per
run (``time.process_time()`` over the line, plus the uvicorn child's from /proc on its lines):
on a machine loaded by other work wall time swings, CPU much less. On PostgreSQL the server's
CPU is on neither side; on SQLite the engine runs in-process, so it is on both.

    python benchmarks/inbox.py [--drafts 100000] [--repeat 200] [--repeat-search 10]
                               [--backend sqlite|postgresql|both] [--no-uvicorn]
                               [--gin-rounds 2] [--gin-approves 600]
                               [--pg-url postgresql://postgres@127.0.0.1:5432/bench_inbox]

PostgreSQL runs when --pg-url or OVERTURE_BENCH_DATABASE_URL names a scratch database (its
public schema is dropped and re-created).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import multiprocessing
import os
import random
import re
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo's planner, not benchmarks/planner.py

from benchmarks.proc_cpu import cpu_seconds  # noqa: E402  (also when a test loads this file by path)

PAGE = 50
SEARCH = "zanzibar"
AFTER = "q= after"  # the q= line once the approve lines have written
WARM = 5
BODY = ("Hi {name},\n\nOur spring product webinar is on May 4 and we kept a seat for you. It runs forty minutes, "
        "covers what shipped this quarter and leaves time for questions. Reply to this email and the seat is "
        "yours.\n\nBest regards,\nThe team")

FLOOR_COLUMNS = ("o.id, o.status, o.channel, o.subject, o.body, o.scheduled_at, o.campaign_id, o.enrollment_id, "
                 "o.model, o.version, o.created_at, o.sent_at, o.settings_version, "
                 "c.id, c.first_name, c.last_name, c.email, c.phone, c.timezone")
FLOOR_JOIN = ("FROM outreaches o JOIN enrollments e ON e.id = o.enrollment_id "
              "JOIN contacts c ON c.id = e.contact_id WHERE o.workspace_id = $1")
FLOOR_TEXT = " AND ((c.first_name || ' ' || c.last_name) {op} $3 OR c.email {op} $3 OR c.phone {op} $3 " \
             "OR o.subject {op} $3 OR o.body {op} $3)"
FLOOR_APPROVE = ("UPDATE outreaches SET status = 'approved', version = version + 1, updated_at = $1, "
                 "approved_by = $2, approved_at = $1 WHERE id = $3 AND workspace_id = $4 "
                 "AND status = 'awaiting_approval' RETURNING version, campaign_id, enrollment_id, id, status, channel, "
                 "subject, body, scheduled_at, model, created_at, sent_at, settings_version")
FLOOR_CONTACT = ("SELECT c.id, c.first_name, c.last_name, c.email, c.phone, c.timezone FROM enrollments e "
                 "JOIN contacts c ON c.id = e.contact_id WHERE e.id = $1")
FLOOR_SLA = "SELECT id, settings FROM campaigns WHERE workspace_id = $1 AND id = ANY($2)"
FLOOR_EVENT = ("INSERT INTO activity_events (id, workspace_id, actor, kind, campaign_id, contact_id, enrollment_id, "
               "outreach_id, payload, created_at) VALUES ($1, $2, $3, 'outreach.approved', $4, $5, $6, $7, $8, $9)")


def floor_sql(text: bool, sqlite: bool) -> tuple[str, str]:
    """(page, counts) statements, in asyncpg's $n style (SQLite reads them as ?n)."""
    where = FLOOR_TEXT.format(op="LIKE" if sqlite else "ILIKE") if text else ""
    page = f"SELECT {FLOOR_COLUMNS} {FLOOR_JOIN} AND o.status = $2{where} ORDER BY o.id LIMIT {PAGE + 1}"
    if text:
        counts = f"SELECT o.status, count(*) {FLOOR_JOIN}{where.replace('$3', '$2')} GROUP BY o.status"
    else:
        counts = "SELECT status, count(*) FROM outreaches WHERE workspace_id = $1 GROUP BY status"
    return page, counts


@dataclass
class Seeded:
    workspace_id: str
    key: str
    principal: Any
    drafts: list[str]  # outreach ids, oldest first
    matches: int  # contacts the text search finds
    seconds: float
    pending_pages: int | None = None  # PostgreSQL: the GIN pending list before the q= after approves line


# -- seeding --------------------------------------------------------------------------------------

async def seed(n: int, url: str) -> Seeded:
    from agent.auth import create_key, get_or_create_workspace, resolve_key
    from agent.bulk import insert_rows
    from agent.db import session_scope, utcnow
    from agent.ids import new_id
    from agent.models import ActivityEvent, Campaign, Contact, Enrollment, Outreach
    from agent.states import Role

    t0 = time.perf_counter()
    async with session_scope() as s:
        ws = (await get_or_create_workspace(s, "bench")).id
        _, key = await create_key(s, ws, Role.admin)
        cmp = new_id("cmp")
        s.add(Campaign(id=cmp, workspace_id=ws, name="Spring webinar", type="one_time", status="active",
                       execution_mode="manual", manual_review=True, brief="Invite customers to the webinar.",
                       timezone="America/New_York", settings={}, ai_variables={}))
        await s.flush()
        now, drafts, step = utcnow(), [], max(1, n // 5)  # every step-th contact is a Zanzibar
        stamps = {"workspace_id": ws, "created_at": now, "updated_at": now}
        for start in range(0, n, 20_000):
            rows: dict[Any, list[dict[str, Any]]] = {Contact: [], Enrollment: [], Outreach: [], ActivityEvent: []}
            for i in range(start, min(n, start + 20_000)):
                cid, eid, oid, email = new_id("con"), new_id("enr"), new_id("out"), f"ann.{i}@example.com"
                rows[Contact].append(stamps | {
                    "id": cid, "first_name": f"Ann{i}", "last_name": "Zanzibar" if i % step == step // 2 else "Lee",
                    "email": email, "email_key": email, "phone": f"+1212{i:07d}", "timezone": "America/New_York",
                    "properties": {}, "tags": [], "priority": "normal"})
                rows[Enrollment].append(stamps | {
                    "id": eid, "campaign_id": cmp, "contact_id": cid, "status": "awaiting_approval", "attempts": 1,
                    "source": "api", "version": 2})
                rows[Outreach].append(stamps | {
                    "id": oid, "campaign_id": cmp, "enrollment_id": eid, "channel": "email", "step": 1,
                    "status": "awaiting_approval", "scheduled_at": now, "subject": "A seat at the May 4 webinar",
                    "body": BODY.format(name=f"Ann{i}"), "rationale": "First touch.", "model": "offline",
                    "prompt_version": "v1", "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0,
                    "idempotency_key": new_id("idk"), "version": 1})
                rows[ActivityEvent].append({
                    "id": new_id("evt"), "workspace_id": ws, "campaign_id": cmp, "contact_id": cid,
                    "enrollment_id": eid, "outreach_id": oid, "actor": "system", "kind": "outreach.planned",
                    "payload": {"channel": "email"}, "created_at": now})
                drafts.append(oid)
            for model, batch in rows.items():
                await insert_rows(s, model.__table__, batch)
    if url.startswith("postgresql"):
        await pg_execute(url, "VACUUM ANALYZE")  # what autovacuum does after a bulk load
    async with session_scope() as s:
        principal = await resolve_key(s, key)
    matches = len(range(step // 2, n, step))
    return Seeded(ws, key, principal, drafts, matches, time.perf_counter() - t0)


# -- the floor: hand-written SQL on one open driver connection ----------------------------------

class Floor:
    """The same page, counts and approve as bare SQL on sqlite3 or asyncpg."""

    def __init__(self, url: str, ws: str, actor: str) -> None:
        self.url, self.ws, self.actor = url, ws, actor
        self.sqlite = url.startswith("sqlite")

    async def __aenter__(self) -> Floor:
        if self.sqlite:
            self.con = sqlite3.connect(self.url.split("///", 1)[1])
            for pragma in ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=15000", "synchronous=NORMAL"):
                self.con.execute(f"PRAGMA {pragma}")  # the app's own (agent/db.py)
        else:
            import asyncpg

            self.con = await asyncpg.connect(self.url.replace("postgresql+asyncpg://", "postgresql://"))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.sqlite:
            self.con.close()
        else:
            await self.con.close()

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        if self.sqlite:
            return self.con.execute(re.sub(r"\$(\d+)", r"?\1", sql), args).fetchall()
        return await self.con.fetch(sql, *args)

    async def inbox(self, q: str | None = None) -> list[Any]:
        page_sql, counts_sql = floor_sql(q is not None, self.sqlite)
        extra = ("%" + q + "%",) if q else ()
        rows = await self.fetch(page_sql, self.ws, "awaiting_approval", *extra)
        await self.fetch(counts_sql, self.ws, *extra)
        await self.sla(rows)
        return rows

    async def sla(self, rows: list[Any]) -> list[tuple[int, int, bool]]:
        """Each row's approval age, SLA hours and overdue flag from its campaign's settings (read
        for the page's campaigns, in the workspace), as the service computes them."""
        ids = sorted({r[6] for r in rows})
        if not ids:
            return []
        if self.sqlite:
            found = await self.fetch(f"SELECT id, settings FROM campaigns WHERE workspace_id = ? AND id IN "
                                     f"({', '.join('?' * len(ids))})", self.ws, *ids)
        else:
            found = await self.fetch(FLOOR_SLA, self.ws, ids)
        hours = {cid: int(json.loads(raw or "{}").get("approval_sla_hours", 24)) for cid, raw in found}
        now, out = dt.datetime.now(dt.UTC), []
        for r in rows:
            created = dt.datetime.fromisoformat(r[10]).replace(tzinfo=dt.UTC) if self.sqlite else r[10]
            age, sla = max(0, int((now - created).total_seconds())), hours[r[6]]
            out.append((age, sla, age > sla * 3600))
        return out

    async def approve(self, oid: str) -> None:
        from agent.ids import new_id

        now = dt.datetime.now(dt.UTC)
        stamp = now.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else now
        async with self.transaction():
            ((version, cmp, enr, *_),) = await self.fetch(FLOOR_APPROVE, stamp, self.actor, oid, self.ws)
            ((contact, *_),) = await self.fetch(FLOOR_CONTACT, enr)
            await self.fetch(FLOOR_EVENT, new_id("evt"), self.ws, self.actor, cmp, contact, enr, oid,
                             json.dumps({"version": version}), stamp)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        if self.sqlite:
            with self.con:  # commits (sqlite3 opened the transaction at the UPDATE)
                yield
        else:
            async with self.con.transaction():
                yield


# -- uvicorn in a child process -------------------------------------------------------------------

def _serve(url: str, data_dir: str, port: int) -> None:
    import uvicorn

    from agent import llm
    from agent.settings import Settings
    from api.app import create_app

    settings = Settings(_env_file=None, data_dir=Path(data_dir), database_url=url, broker_url=None)
    app = create_app(settings, run_worker=False, run_scheduler=False)
    asyncio.run(llm.warm())  # what the lifespan (off here) waits for before /readyz answers 200
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", access_log=False)


# -- timing ---------------------------------------------------------------------------------------

def child_cpu(pid: int) -> float:
    """A child process's CPU seconds so far (user + system, from /proc; 10 ms ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def sample(fn: Callable[[], Awaitable[Any]], repeat: int, warm: int = WARM,
                 other_cpu: Callable[[], float] = lambda: 0.0) -> tuple[list[float], float]:
    """Wall seconds per run, and CPU ms per run over the line: this process's, plus ``other_cpu``'s
    (the uvicorn child's). A loaded machine swings wall time far more than CPU time."""
    for _ in range(warm):
        await fn()
    out = []
    cpu0, other0 = time.process_time(), other_cpu()
    for _ in range(repeat):
        t0 = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - t0)
    cpu = time.process_time() - cpu0 + other_cpu() - other0
    return out, cpu * 1000 / repeat


Line = tuple[str, str, list[float], float]  # (group, path, seconds per run, CPU ms per run)


async def run_backend(url: str, tmp: Path, args: argparse.Namespace) -> tuple[Seeded, list[Line]]:
    import httpx
    from sqlalchemy import text

    from agent import llm
    from agent.db import dispose_engines, session_scope
    from agent.settings import Settings, use_settings
    from agent.states import OutreachStatus
    from api.app import create_app
    from review import service

    settings = use_settings(Settings(_env_file=None, data_dir=tmp, database_url=url, broker_url=None))
    sqlite = url.startswith("sqlite")
    seeded = await seed(args.drafts, url)
    ws, who = seeded.workspace_id, seeded.principal
    headers = {"Authorization": f"Bearer {seeded.key}"}
    pending = iter(random.Random(7).sample(seeded.drafts[PAGE * 2:], len(seeded.drafts) - PAGE * 2))
    app = create_app(settings, run_worker=False, run_scheduler=False)
    await llm.warm()  # /readyz answers 200 once the model layer is warm, which the lifespan would do
    asgi = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench", headers=headers)
    proc = wire = None
    if args.uvicorn:
        with socket.socket() as sock:  # a free port for the child
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        proc = multiprocessing.get_context("spawn").Process(target=_serve, args=(url, str(tmp), port), daemon=True)
        proc.start()
        wire = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers)
    results: list[Line] = []

    async def select_one() -> None:
        async with session_scope() as s:
            await s.execute(text("SELECT 1"))

    async def list_inbox(q: str | None = None) -> list[str]:
        async with session_scope() as s:
            page = await service.list_inbox(s, ws, statuses=[OutreachStatus.awaiting_approval], limit=PAGE, q=q)
        return [i.id for i in page.items]

    async def get(client: httpx.AsyncClient, q: str | None = None, path: str = "/v1/outreaches") -> list[str]:
        r = await client.get(path, params={"limit": PAGE} | ({"q": q} if q else {}))
        assert r.status_code == 200, r.text[:300]
        return [i["id"] for i in r.json().get("items", [])]

    async def approve_service() -> None:
        async with session_scope() as s:
            assert (await service.approve(s, who, next(pending))).status == "approved"

    async def approve_http(client: httpx.AsyncClient) -> None:
        r = await client.post(f"/v1/outreaches/{next(pending)}/approve")
        assert r.status_code == 200 and r.json()["status"] == "approved", r.text[:300]

    async def group(tag: str, repeat: int, warm: int, floor_fn: Callable[[Floor], Awaitable[Any]],
                    service: tuple[str, Callable[[], Awaitable[Any]]],
                    http: Callable[[httpx.AsyncClient], Awaitable[Any]]) -> None:
        # The floor's connection is open only for its own line (SQLite checkpoints when the last closes).
        async with Floor(url, ws, who.key_id) as floor:
            results.append((tag, "bare SQL", *await sample(lambda: floor_fn(floor), repeat, warm)))
        results.append((tag, f"service {service[0]}", *await sample(service[1], repeat, warm)))
        for name, client in (("ASGI", asgi), ("uvicorn", wire)):
            if client is not None:
                other = (lambda: child_cpu(proc.pid)) if client is wire else (lambda: 0.0)
                results.append((tag, f"HTTP ({name})", *await sample(lambda c=client: http(c), repeat, warm, other)))

    try:
        if wire is not None:
            for _ in range(300):  # until the child answers
                try:
                    if (await wire.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        for q in (None, SEARCH):  # every path returns the same page
            async with Floor(url, ws, who.key_id) as floor:
                want = [r[0] for r in await floor.inbox(q)][:PAGE]
            assert len(want) == (PAGE if q is None else seeded.matches), len(want)
            assert await list_inbox(q) == want and await get(asgi, q=q) == want

        await group("session", args.repeat, WARM, lambda f: f.fetch("SELECT 1"),
                    ("session_scope + SELECT 1", select_one), lambda c: get(c, path="/readyz"))
        await group("first page", args.repeat, WARM, lambda f: f.inbox(), ("list_inbox", list_inbox), get)
        await group(f"q={SEARCH}", args.repeat_search, 2, lambda f: f.inbox(SEARCH),
                    ("list_inbox", lambda: list_inbox(SEARCH)), lambda c: get(c, q=SEARCH))
        await group("approve", args.repeat, WARM, lambda f: f.approve(next(pending)),
                    ("approve", approve_service), approve_http)
        if not sqlite:
            seeded.pending_pages = await gin_pending_pages(url)
        await group(AFTER, args.repeat_search, 2, lambda f: f.inbox(SEARCH),
                    ("list_inbox", lambda: list_inbox(SEARCH)), lambda c: get(c, q=SEARCH))
        if not sqlite and args.gin_rounds:
            await gin_compare(url, args, approve_service, lambda: get(asgi, q=SEARCH))
    finally:
        await asgi.aclose()
        if wire is not None:
            await wire.aclose()
        if proc is not None:
            proc.terminate()
            proc.join(timeout=10)
        await dispose_engines()
    return seeded, results


def report(backend: str, seeded: Seeded, results: list[Line], args: argparse.Namespace) -> None:
    print(f"\n{backend}: {args.drafts:,} drafts awaiting approval, seeded in {seeded.seconds:.1f} s; {args.repeat} "
          f"runs per line after {WARM} warm-up ({args.repeat_search} after 2 for q=); "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"  {'':12s}{'':33s} {'p50 ms':>9s} {'p99 ms':>9s} {'p50/floor':>10s} {'p99/floor':>10s} "
          f"{'CPU ms/run':>11s} {'CPU/floor':>10s}")
    floor = (1.0, 1.0, 1.0)
    for i, (group, path, xs, cpu) in enumerate(results):
        ms = sorted(x * 1000 for x in xs)
        p50, p99 = statistics.median(ms), statistics.quantiles(ms, n=100, method="inclusive")[98]
        if path == "bare SQL":
            floor = (p50, p99, max(cpu, 1e-6))
        tag = group if i == 0 or results[i - 1][0] != group else ""
        print(f"  {tag:12s}{path:33s} {p50:9.2f} {p99:9.2f} {p50 / floor[0]:9.2f}x {p99 / floor[1]:9.2f}x "
              f"{cpu:11.3f} {cpu / floor[2]:9.2f}x")
    print("  (CPU: the benchmark process's, plus the uvicorn child's on its lines; on PostgreSQL the server's "
          "own CPU is on neither side)")
    issue_lines(backend, seeded, results, args)


def issue_lines(backend: str, seeded: Seeded, results: list[Line], args: argparse.Namespace) -> None:
    """The lines of issue 13's table this benchmark measures, each beside its baseline (same run)."""
    figures: dict[tuple[str, str], tuple[float, float]] = {}
    cpus: dict[tuple[str, str], float] = {}
    for group, path, xs, cpu in results:
        ms = sorted(x * 1000 for x in xs)
        figures[group, path] = statistics.median(ms), statistics.quantiles(ms, n=100, method="inclusive")[98]
        cpus[group, path] = cpu

    def ratio(group: str, path: str) -> str:
        (p50, p99), (f50, f99) = figures[group, path], figures[group, "bare SQL"]
        cpu, fcpu = cpus[group, path], max(cpus[group, "bare SQL"], 1e-6)
        return (f"{p50:.2f} / {p99:.2f} ms vs bare {f50:.2f} / {f99:.2f} ms: {p50 / f50:.2f}x p50, {p99 / f99:.2f}x p99; "
                f"CPU {cpu:.3f} vs {fcpu:.3f} ms/run, {cpu / fcpu:.2f}x")

    search = f"q={SEARCH}"
    print(f"  issue 13 ({backend}, {len(seeded.drafts):,} drafts; goals: q= p99 <= 50 ms over HTTP, "
          "first page <= 1.5x, approve <= 5x)")
    for path in ("HTTP (ASGI)", "HTTP (uvicorn)"):
        if (search, path) in figures:
            p50, p99 = figures[search, path]
            print(f"    inbox text search {search} {path}: p50 {p50:.2f} ms / p99 {p99:.2f} ms "
                  f"(the LIKE scan it replaces, bare SQL: p50 {figures[search, 'bare SQL'][0]:.2f} ms)")
    approves = (WARM + args.repeat) * sum(group == "approve" for group, *_ in results)
    for path in ("HTTP (ASGI)", "HTTP (uvicorn)"):
        if (AFTER, path) in figures:
            pages = "" if seeded.pending_pages is None else f", {seeded.pending_pages} GIN pending pages"
            print(f"    inbox text search {search} after approves {path}: p50 {figures[AFTER, path][0]:.2f} ms / "
                  f"p99 {figures[AFTER, path][1]:.2f} ms ({approves} approves before{pages})")
    print(f"    inbox first page, service list_inbox: {ratio('first page', 'service list_inbox')}")
    if ("first page", "HTTP (uvicorn)") in figures:
        print(f"    inbox first page, HTTP (uvicorn): {ratio('first page', 'HTTP (uvicorn)')}")
    print(f"    approve one draft, service approve: {ratio('approve', 'service approve')}")


# -- PostgreSQL: the GIN pending list, fastupdate on vs off ----------------------------------------

GIN_INDEXES = ("ix_contacts_search_trgm", "ix_outreaches_search_trgm")  # 0011_search's
# The settings compared: PostgreSQL's default (0011), a pending list at its smallest (64 kB, about
# 8 pages: searches read little, writes still batch), and no list (0017).
GIN_SETTINGS = {"on": "fastupdate = on", "on, 64 kB": "fastupdate = on, gin_pending_list_limit = 64",
                "off": "fastupdate = off"}


async def pg_fetch(url: str, sql: str, *args: Any) -> list[Any]:
    import asyncpg

    con = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return await con.fetch(sql, *args)
    finally:
        await con.close()


async def gin_pending_pages(url: str) -> int:
    """Pages in the outreaches trigram index's pending list (pgstattuple; the list stays as it is)."""
    await pg_execute(url, "CREATE EXTENSION IF NOT EXISTS pgstattuple")
    ((pages,),) = await pg_fetch(url, "SELECT pending_pages FROM pgstatginindex('ix_outreaches_search_trgm')")
    return pages


async def db_cpu(url: str) -> float:
    """CPU seconds so far of the database's backends (from /proc: the server runs on this machine)."""
    rows = await pg_fetch(url, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                               "AND pid <> pg_backend_pid()")
    return sum(cpu_seconds(r[0]) for r in rows)


async def gin_set(url: str, options: str) -> None:
    """The trigram indexes set to ``options`` alone, their pending lists flushed."""
    for name in GIN_INDEXES:
        await pg_execute(url, f"ALTER INDEX {name} RESET (fastupdate, gin_pending_list_limit)")
        await pg_execute(url, f"ALTER INDEX {name} SET ({options})")
        await pg_execute(url, f"SELECT gin_clean_pending_list('{name}'::regclass)")


async def gin_compare(url: str, args: argparse.Namespace, approve: Callable[[], Awaitable[Any]],
                      search: Callable[[], Awaitable[Any]]) -> None:
    """The GIN settings in turn, alternately: approves, then searches over what they wrote."""
    got: dict[str, dict[str, list[float]]] = {
        f: {"approve": [], "approve cpu": [], "approve db cpu": [], "pages": [], "q": [], "q cpu": [],
            "q db cpu": []} for f in GIN_SETTINGS}

    async def timed(fn: Callable[[], Awaitable[Any]], n: int, into: dict[str, list[float]], key: str) -> None:
        cpu0, db0 = time.process_time(), await db_cpu(url)
        for _ in range(n):
            t0 = time.perf_counter()
            await fn()
            into[key].append(time.perf_counter() - t0)
        into[f"{key} cpu"].append((time.process_time() - cpu0) * 1000 / n)
        into[f"{key} db cpu"].append((await db_cpu(url) - db0) * 1000 / n)

    for _ in range(args.gin_rounds):
        for setting, into in got.items():
            await gin_set(url, GIN_SETTINGS[setting])
            await timed(approve, args.gin_approves, into, "approve")
            into["pages"].append(await gin_pending_pages(url))
            await timed(search, args.repeat_search, into, "q")
    await gin_set(url, GIN_SETTINGS["off"])  # as the migrations leave them

    def pct(xs: list[float]) -> str:
        ms = sorted(x * 1000 for x in xs)
        return (f"p50 {statistics.median(ms):7.2f} p99 {statistics.quantiles(ms, n=100, method='inclusive')[98]:7.2f} "
                f"max {ms[-1]:7.2f} ms")

    print(f"\npostgresql, GIN fastupdate {' vs '.join(GIN_SETTINGS)}: {args.gin_rounds} rounds, each {args.gin_approves} service "
          f"approves then {args.repeat_search} HTTP (ASGI) q={SEARCH}; load average {os.getloadavg()[0]:.2f}")
    for setting, into in got.items():
        print(f"  fastupdate {setting:9s} approve {pct(into['approve'])}, CPU {statistics.mean(into['approve cpu']):.3f}"
              f" + db {statistics.mean(into['approve db cpu']):.3f} ms/approve; pending pages after: "
              f"{', '.join(str(int(p)) for p in into['pages'])}")
        print(f"  {'':21s} q=      {pct(into['q'])}, CPU {statistics.mean(into['q cpu']):.3f}"
              f" + db {statistics.mean(into['q db cpu']):.3f} ms/search")


async def pg_execute(url: str, sql: str) -> None:
    """One statement outside any transaction (VACUUM refuses to run in one)."""
    import asyncpg

    con = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await con.execute(sql)
    finally:
        await con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--drafts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=200, help="runs per line (page and approve)")
    parser.add_argument("--repeat-search", type=int, default=10, help="runs per q= line (each scans every row)")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both",
                        help="both: SQLite, and PostgreSQL when a URL is given")
    parser.add_argument("--pg-url", default=os.environ.get("OVERTURE_BENCH_DATABASE_URL"),
                        help="PostgreSQL URL (a scratch database: it is reset)")
    parser.add_argument("--gin-rounds", type=int, default=2, help="PostgreSQL: fastupdate on/off rounds (0: none)")
    parser.add_argument("--gin-approves", type=int, default=600, help="approves per fastupdate setting and round")
    parser.add_argument("--no-uvicorn", dest="uvicorn", action="store_false", help="skip the loopback server lines")
    args = parser.parse_args()
    if args.drafts < 4 * (WARM + args.repeat) + 2 * PAGE + len(GIN_SETTINGS) * args.gin_rounds * args.gin_approves:
        parser.error("--drafts is too small: every approve takes a draft of its own")
    if args.backend == "postgresql" and not args.pg_url:
        parser.error("--backend postgresql needs --pg-url or OVERTURE_BENCH_DATABASE_URL")
    from agent.migrate import upgrade
    from agent.settings import _async_url

    backends = [b for b in ("sqlite", "postgresql") if args.backend in (b, "both") and (b == "sqlite" or args.pg_url)]
    for backend in backends:
        with tempfile.TemporaryDirectory() as tmp:
            if backend == "sqlite":
                url = f"sqlite+aiosqlite:///{Path(tmp) / 'overture.db'}"
            else:
                url = _async_url(args.pg_url)
                asyncio.run(pg_execute(url, "DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            upgrade(url)
            seeded, results = asyncio.run(run_backend(url, Path(tmp), args))
            report(backend, seeded, results, args)


if __name__ == "__main__":
    main()
