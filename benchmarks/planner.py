"""The planner's cost beside what it cannot avoid, measured in the same run.

(a) Per-contact overhead with a zero-latency model (default: the offline model, in process,
    through litellm; ``--model server`` uses the local HTTP server with no latency instead):
      canned       the bare graph with a fixed draft: LangGraph, the rules and validation alone
      model call   render the channel prompt + ``llm.complete`` (``planner.prompt.draft_with_model``)
      bare graph   ``build_graph().ainvoke`` with in-memory deps whose draft is that same call
      service      ``planner.service.plan_enrollment`` on SQLite: claim, load, the same graph and
                   model call, route (outreach + activity + enrollment in one transaction)
    Contacts are planned one after another; the ratio is service / bare graph.

(b) Throughput against the local OpenAI-compatible server (tests/llm_server.py, in a child
    process so it does not share the GIL with the planner) answering every request after a fixed
    200 ms, via litellm's ``openai/`` provider. 32 planner tasks in flight (``asyncio.gather``
    behind a semaphore of 32 over ``plan_enrollment``, on one event loop, the way the worker's
    AsyncIO middleware runs actors) and ``LLMConfig.concurrency=32``. Ideal: every request
    back-to-back 32 at a time, ``contacts / 32 * 0.2 s``; the ratio is measured / ideal.

(c) Contacts per second with 1 and 2 ``overture worker`` processes (``--threads`` = the in-flight
    count, ``OVERTURE_MODEL_CONCURRENCY`` the same) consuming a planning run from Redis, on
    PostgreSQL, against the same 200 ms server. The run is queued the way ``overture plan`` queues
    it (``planner.local.start``) and timed from the enqueue until the run settles; ideal is
    ``contacts / (workers * in-flight) * latency``. Needs ``--workers-broker`` and
    ``--workers-database`` (a scratch database: its schema is dropped and migrated afresh).

    python benchmarks/planner.py [--contacts 200] [--repeat 3] [--model offline|server]
                                 [--throughput-contacts 2000] [--concurrency 32] [--latency 0.2]
                                 [--skip-overhead] [--skip-throughput]
                                 [--workers 1,2 --workers-broker redis://127.0.0.1:6379/8
                                  --workers-database postgresql://postgres@127.0.0.1:5432/bench_plan]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.llm_server

from benchmarks.proc_cpu import cpu_seconds  # noqa: E402  (also when a test loads this file by path)

BRIEF = "Invite customers to the spring product webinar on May 4 and offer a seat. Keep it short."
SERVER_DRAFT = {"subject": "A seat at the May 4 webinar",
                "body": "Hi,\n\nOur spring product webinar is on May 4 and we kept a seat for you. "
                        "Reply to this email and it is yours.\n\nBest regards,\nThe team",
                "rationale": "First touch: the invitation in two lines, with one call to action."}


# -- the model server, in a child process ------------------------------------------------------

def _serve(latency: float, conn: Any) -> None:
    from tests.llm_server import LLMServer, json

    with LLMServer(default=json(SERVER_DRAFT), latency=latency) as server:
        conn.send(server.port)
        conn.recv()  # until the parent says stop (or goes away)
        conn.send((len(server.requests), server.max_in_flight))


class ServerProcess:
    def __init__(self, latency: float) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(latency, child), daemon=True)

    def __enter__(self) -> ServerProcess:
        self.proc.start()
        self.port = self.conn.recv()
        return self

    def stats(self) -> tuple[int, int]:
        """(requests served, most in flight at once); stops the server."""
        self.conn.send("stop")
        return self.conn.recv()

    def __exit__(self, *exc: object) -> None:
        if self.proc.is_alive():
            try:
                self.conn.send("stop")
            except OSError:
                pass
            self.proc.join(timeout=5)
            if self.proc.is_alive():
                self.proc.terminate()


# -- set-up through the API (not timed) --------------------------------------------------------

async def make_campaign(contacts: int, tag: str) -> tuple[str, list[str]]:
    """A live email campaign with ``contacts`` contacts; (campaign id, enrollment ids)."""
    import httpx
    from sqlalchemy import select

    from agent.auth import create_key, get_or_create_workspace
    from agent.db import session_scope
    from agent.models import Enrollment
    from agent.states import Role
    from api.app import create_app

    app = create_app(run_worker=False, run_scheduler=False)  # no lifespan: nothing runs in the background
    async with session_scope() as s:
        ws = await get_or_create_workspace(s, "bench")
        _, key = await create_key(s, ws.id, Role.admin)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as c:
        r = await c.post("/v1/campaigns", headers=headers, json={
            "name": f"Bench {tag}", "brief": BRIEF, "channels": [{"kind": "email"}], "manual_review": True,
            "timezone": "America/New_York", "execution_mode": "manual"})
        cid = r.json()["id"]
        for start in range(0, contacts, 1000):
            batch = [{"first_name": f"Ann{i}", "last_name": "Lee", "email": f"ann.{tag}.{i}@example.com",
                      "timezone": "America/New_York"} for i in range(start, min(contacts, start + 1000))]
            r = await c.post(f"/v1/campaigns/{cid}/contacts", headers=headers, json={"contacts": batch})
            assert r.status_code == 200 and r.json()["added"] == len(batch), r.text[:300]
        assert (await c.post(f"/v1/campaigns/{cid}/go-live", headers=headers)).status_code == 200
    async with session_scope() as s:
        ids = list((await s.execute(select(Enrollment.id).where(Enrollment.campaign_id == cid)
                                    .order_by(Enrollment.id))).scalars())
    assert len(ids) == contacts
    return cid, ids


async def check_planned(cid: str, expected: int) -> None:
    from sqlalchemy import func, select

    from agent.db import session_scope
    from agent.models import Enrollment, Outreach

    async with session_scope() as s:
        drafts = (await s.execute(select(func.count()).select_from(Outreach)
                                  .where(Outreach.campaign_id == cid))).scalar_one()
        statuses = dict((await s.execute(select(Enrollment.status, func.count()).where(
            Enrollment.campaign_id == cid).group_by(Enrollment.status))).all())
    assert drafts == expected and statuses == {"awaiting_approval": expected}, (drafts, statuses)


# -- (a) per-contact overhead ---------------------------------------------------------------------

class MemoryDeps:
    """The graph's IO in memory; the draft is the real prompt + model call (or, with ``canned``,
    a fixed answer, to show what the graph and its rules cost on their own)."""

    def __init__(self, contexts: dict[str, Any], canned: Any = None) -> None:
        self.contexts = contexts
        self.canned = canned
        self.routed = 0

    async def load(self, enrollment_id: str, instruction: str | None) -> Any:
        return self.contexts[enrollment_id]

    async def draft(self, ctx: Any, channel: Any, step: int, scheduled_at: Any, feedback: list[str]) -> Any:
        from planner.prompt import draft_with_model

        if self.canned is not None:
            return self.canned
        return await draft_with_model(ctx, channel, step, scheduled_at, feedback)

    async def route(self, state: Any) -> None:
        assert state.get("outcome") is None and state["draft"] is not None, state.get("outcome")
        self.routed += 1


async def load_contexts(ids: list[str]) -> dict[str, Any]:
    """The PlanContext each enrollment would be planned from (read once, outside the timing)."""
    from agent.db import session_scope
    from planner.service import load_context

    out = {}
    async with session_scope() as s:
        for enrollment_id in ids:
            out[enrollment_id] = await load_context(s, enrollment_id, 1, None)
    return out


async def overhead_round(n: int, tag: str) -> tuple[float, ...]:
    """Seconds for n contacts: (model call alone, bare graph, service, bare graph with a canned draft),
    then the CPU seconds of this process for the bare graph and the service."""
    from planner import graph as graph_mod
    from planner.prompt import draft_with_model
    from planner.rules import choose_channel, choose_time
    from planner.service import plan_enrollment

    cid, ids = await make_campaign(n, tag)
    contexts = await load_contexts(ids)
    compiled = graph_mod.build_graph()

    t0 = time.perf_counter()
    for enrollment_id in ids:
        ctx = contexts[enrollment_id]
        channel = choose_channel(ctx)
        await draft_with_model(ctx, channel, 1, choose_time(ctx), [])
    model_only = time.perf_counter() - t0

    first = await draft_with_model(contexts[ids[0]], choose_channel(contexts[ids[0]]), 1,
                                   choose_time(contexts[ids[0]]), [])
    deps = MemoryDeps(contexts, canned=first)
    t0 = time.perf_counter()
    for enrollment_id in ids:
        await compiled.ainvoke({"enrollment_id": enrollment_id, "run_id": None, "instruction": None},
                               config={"configurable": {"deps": deps}})
    canned = time.perf_counter() - t0

    deps = MemoryDeps(contexts)
    t0, cpu0 = time.perf_counter(), time.process_time()
    for enrollment_id in ids:
        await compiled.ainvoke({"enrollment_id": enrollment_id, "run_id": None, "instruction": None},
                               config={"configurable": {"deps": deps}})
    bare, bare_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    assert deps.routed == n

    t0, cpu0 = time.perf_counter(), time.process_time()
    for enrollment_id in ids:
        await plan_enrollment(enrollment_id)
    service, service_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    await check_planned(cid, n)
    return model_only, bare, service, canned, bare_cpu, service_cpu


async def overhead(n: int, repeat: int) -> list[tuple[float, ...]]:
    from agent.db import dispose_engines

    await overhead_round(5, "warm")  # imports litellm, compiles templates, warms caches
    rounds = [await overhead_round(n, f"r{i}") for i in range(repeat)]
    await dispose_engines()
    return rounds


# -- (b) throughput against the 200 ms server ------------------------------------------------------

class GCTimes:
    """Seconds the garbage collector ran, by generation, while the block ran (a full collection
    walks every tracked object of the process: part of the plans' CPU, reported beside it)."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.count = [0, 0, 0]
        self._start = 0.0

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds[info["generation"]] += time.perf_counter() - self._start
            self.count[info["generation"]] += 1

    def __enter__(self) -> GCTimes:
        import gc

        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        import gc

        gc.callbacks.remove(self._callback)


async def throughput(n: int, concurrency: int) -> tuple[float, float, GCTimes]:
    """(wall seconds, CPU seconds of this process, the collector's share) to plan n contacts."""
    from agent.db import dispose_engines
    from planner.service import plan_enrollment

    await make_campaign(3, "warm-b")  # set-up paths warm
    cid, ids = await make_campaign(n, "tput")
    gate = asyncio.Semaphore(concurrency)

    async def one(enrollment_id: str) -> None:
        async with gate:
            await plan_enrollment(enrollment_id)

    # Warm the openai client path once (connection pool, litellm's provider set-up).
    _, warm_ids = await make_campaign(concurrency, "warm-b2")
    await asyncio.gather(*(one(e) for e in warm_ids))

    with GCTimes() as gc_times:
        t0, cpu0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one(e) for e in ids))
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    await check_planned(cid, n)
    await dispose_engines()
    return elapsed, cpu, gc_times


# -- (c) worker processes on a broker ---------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def _worker_env(broker: str, database: str, port: int, threads: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OVERTURE_")}
    env.update({"OVERTURE_BROKER_URL": broker, "OVERTURE_DATABASE_URL": database,
                "OVERTURE_MODEL": "openai/test-model", "OVERTURE_MODEL_API_BASE": f"http://127.0.0.1:{port}/v1",
                "OVERTURE_MODEL_API_KEY": "bench", "OVERTURE_MODEL_RETRIES": "0", "OVERTURE_MODEL_TIMEOUT": "30",
                "OVERTURE_MODEL_CONCURRENCY": str(threads),
                "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONPATH": str(ROOT)})
    return env


def _worker_log(count: int, i: int) -> Any:
    """Where a worker's stderr goes (``OVERTURE_BENCH_WORKER_LOGS``: a directory; else nowhere)."""
    import subprocess

    where = os.environ.get("OVERTURE_BENCH_WORKER_LOGS")
    return open(Path(where) / f"worker-{count}-{i}.log", "w") if where else subprocess.DEVNULL  # noqa: SIM115


async def _timed_run(cid: str, every: float = 0.05) -> float:
    from planner import local

    t0 = time.perf_counter()
    started = await local.start(cid, actor="bench", queue=True)
    while True:
        now = await local.state(started.workspace_id, started.run_id)
        if not now.under_way:
            assert now.planned == now.total, now
            return time.perf_counter() - t0
        await asyncio.sleep(every)


def _reset_scratch(broker: str, database: str) -> None:
    import asyncpg
    import redis

    redis.Redis.from_url(broker).flushdb()  # the scratch Redis database only

    async def drop() -> None:
        conn = await asyncpg.connect(database.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        finally:
            await conn.close()

    asyncio.run(drop())


def workers(counts: list[int], n: int, threads: int, latency: float, broker: str, database: str) -> list[tuple]:
    """(workers, wall s, worker CPU s) per count: a fresh schema, then a warm run, then the timed one."""
    import subprocess

    from agent.db import dispose_engines
    from agent.migrate import upgrade
    from agent.queue import setup_broker
    from agent.settings import Settings, _async_url, use_settings

    out = []
    for count in counts:
        with ServerProcess(latency) as server:
            _reset_scratch(broker, database)
            upgrade(_async_url(database))
            use_settings(Settings(_env_file=None, database_url=database, broker_url=broker))
            setup_broker(task_modules=["agent.contacts.tasks", "planner.tasks"])
            env = _worker_env(broker, database, server.port, threads)
            procs = [subprocess.Popen([sys.executable, "-c", "from api.cli import app; app()", "worker",
                                       "--threads", str(threads)], env=env, cwd=ROOT,
                                      stdout=subprocess.DEVNULL, stderr=_worker_log(count, i))
                     for i in range(count)]
            try:
                async def go() -> tuple[float, float]:
                    warm, _ = await make_campaign(threads * count * 2, f"warm-c{count}")
                    await _timed_run(warm)  # imports, model layer, connection pools warm in every worker
                    cid, _ = await make_campaign(n, f"c{count}")
                    cpu0 = sum(cpu_seconds(p.pid) for p in procs)
                    elapsed = await _timed_run(cid)
                    cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu0
                    await check_planned(cid, n)
                    await dispose_engines()
                    return elapsed, cpu

                elapsed, cpu = asyncio.run(go())
                requests, in_flight = server.stats()
            finally:
                for p in procs:
                    p.terminate()
                for p in procs:
                    try:
                        p.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        p.kill()
            out.append((count, elapsed, cpu, requests, in_flight))
    return out


# -- main ---------------------------------------------------------------------------------------

def use_database(tmp: Path) -> None:
    from agent.migrate import upgrade
    from agent.settings import Settings, use_settings

    url = f"sqlite+aiosqlite:///{tmp / 'overture.db'}"
    upgrade(url)
    use_settings(Settings(_env_file=None, database_url=url, data_dir=tmp, broker_url=None))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=200, help="(a) contacts per round")
    parser.add_argument("--repeat", type=int, default=3, help="(a) rounds; the median is printed")
    parser.add_argument("--model", choices=["offline", "server"], default="offline",
                        help="(a) the zero-latency model: in-process offline model or the local server")
    parser.add_argument("--throughput-contacts", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.2, help="(b) the server's fixed latency, seconds")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--workers", default="", help="(c) worker process counts, e.g. 1,2 (empty: skip)")
    parser.add_argument("--workers-contacts", type=int, default=2000)
    parser.add_argument("--workers-broker", default="redis://127.0.0.1:6379/8")
    parser.add_argument("--workers-database", default="", help="(c) scratch PostgreSQL URL (dropped and migrated)")
    args = parser.parse_args()

    import logging

    logging.basicConfig(level=logging.ERROR)
    from agent.llm import LLMConfig, use_config
    from agent.queue import setup_broker

    if not args.skip_overhead:
        with tempfile.TemporaryDirectory() as tmp, ServerProcess(0.0) as server:
            use_database(Path(tmp))
            setup_broker(task_modules=["agent.contacts.tasks", "planner.tasks"])
            if args.model == "offline":
                use_config(LLMConfig(model="offline", retries=0))
            else:
                use_config(LLMConfig(model="openai/test-model", api_base=f"http://127.0.0.1:{server.port}/v1",
                                     api_key="bench", retries=0, timeout=30))
            rounds = asyncio.run(overhead(args.contacts, args.repeat))
        n = args.contacts
        model_ms, bare_ms, svc_ms, canned_ms, bare_cpu_ms, svc_cpu_ms = (
            statistics.median(r[i] for r in rounds) / n * 1000 for i in range(6))
        print(f"(a) per-contact overhead, {n} contacts in sequence, {args.model} model "
              f"(median of {args.repeat} rounds), SQLite")
        print(f"    bare graph, canned draft (no model)    {canned_ms:7.2f} ms/contact   (LangGraph + rules + validate)")
        print(f"    model call alone (prompt + complete)  {model_ms:7.2f} ms/contact")
        print(f"    bare compiled graph + same model call  {bare_ms:7.2f} ms/contact   "
              f"(graph itself {bare_ms - model_ms:+.2f} ms; CPU {bare_cpu_ms:.2f} ms)")
        print(f"    service path (plan_enrollment)        {svc_ms:7.2f} ms/contact   "
              f"(database {svc_ms - bare_ms:+.2f} ms; CPU {svc_cpu_ms:.2f} ms)")
        print(f"    ratio service / bare graph            {svc_ms / bare_ms:7.2f}x   "
              f"(by CPU {svc_cpu_ms / bare_cpu_ms:.2f}x)")

    if not args.skip_throughput:
        n, c, lat = args.throughput_contacts, args.concurrency, args.latency
        with tempfile.TemporaryDirectory() as tmp, ServerProcess(lat) as server:
            use_database(Path(tmp))
            setup_broker(task_modules=["agent.contacts.tasks", "planner.tasks"])
            use_config(LLMConfig(model="openai/test-model", api_base=f"http://127.0.0.1:{server.port}/v1",
                                 api_key="bench", retries=0, timeout=30, concurrency=c))
            elapsed, cpu, gc_times = asyncio.run(throughput(n, c))
            requests, in_flight = server.stats()
        ideal = n / c * lat
        print(f"(b) {n} contacts, server latency {lat * 1000:.0f} ms, {c} planner tasks in flight "
              f"(asyncio.gather + semaphore over plan_enrollment), LLMConfig.concurrency={c}, SQLite")
        print(f"    measured {elapsed:7.2f} s   ideal {ideal:6.2f} s   ratio {elapsed / ideal:.2f}x   "
              f"({n / elapsed:.0f} contacts/s)")
        print(f"    planner process CPU {cpu:.2f} s ({cpu / n * 1000:.1f} ms/contact, {cpu / elapsed:.0%} of one core); "
              f"the server saw {requests} requests, at most {in_flight} at once")
        print(f"    garbage collector {sum(gc_times.seconds):.2f} s ({sum(gc_times.seconds) / n * 1000:.2f} ms/contact): "
              f"{gc_times.count[2]} full collections {gc_times.seconds[2]:.2f} s, "
              f"{gc_times.count[0] + gc_times.count[1]} young {gc_times.seconds[0] + gc_times.seconds[1]:.2f} s")
    if args.workers:
        if not args.workers_database:
            parser.error("--workers needs --workers-database (a scratch database)")
        n, c, lat = args.workers_contacts, args.concurrency, args.latency
        results = workers([int(x) for x in args.workers.split(",")], n, c, lat, args.workers_broker,
                          args.workers_database)
        print(f"(c) {n} contacts through `overture worker` processes (--threads {c}, model concurrency {c}), "
              f"server latency {lat * 1000:.0f} ms, Redis broker, PostgreSQL")
        base = None
        for count, elapsed, cpu, requests, in_flight in results:
            ideal = n / (count * c) * lat
            rate = n / elapsed
            base = base or rate
            print(f"    {count} worker(s): {elapsed:7.2f} s  ideal {ideal:6.2f} s  ratio {elapsed / ideal:.2f}x  "
                  f"{rate:6.1f} contacts/s ({rate / base:.2f}x one worker)  "
                  f"workers' CPU {cpu / n * 1000:.1f} ms/contact; the server saw {requests} requests "
                  f"(warm run included), at most {in_flight} at once")
    use_config(None)


if __name__ == "__main__":
    main()
