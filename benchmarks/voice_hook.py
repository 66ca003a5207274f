"""Time to first token through the voice hook, beside the same model server asked directly.

A local OpenAI-compatible server (tests/llm_server.py) in a child process streams every answer
after a fixed first-token delay (150 ms by default). The hook is ``overture serve``'s app under
uvicorn in a second child process, on a fresh database with one live voice campaign, its
caller number and ``--calls`` contacts, its model pointed at that server through litellm's
``openai/`` provider. This process is the voice platform: the official ``openai`` client,
``--concurrency`` streams at once, timing each request from the call to the first content delta.

  direct      the client asks the model server itself (the floor: network, server, client)
  hook, first the first request of each call: the hook opens the conversation (one short
              transaction), renders the campaign prompt, streams through litellm, records turns
  hook, next  the second request of the same calls (caller and assistant turns added): what
              every later turn of a live call pays

Each line is p50 / p99 over ``--calls`` requests (after a warm-up of one concurrency's worth);
"added" is the hook's figure minus the direct one for the same percentile, measured in the same
run. The goal for the hook's added p99 is 15 ms.

Modes (``--mode``, several may be given; default all three):

  burst     the lines above: ``--concurrency`` requests at once, after a warm-up
  paced     ``--paced-calls`` live calls (20), each taking a turn every 3-5 s (uniform jitter, the
            calls' starts spread over the first 4 s), ``--paced-turns`` turns each, right after
            ``/readyz`` first answers 200 and with no warm-up: a first turn that pays a cold start
            shows here. The same schedule is first played against the model server directly
            (the floor), then through the hook; "added" is hook minus direct per percentile,
            for first turns and for later turns apart. Also the hook's CPU per turn (all its
            processes, from /proc) beside this client's own CPU per turn in the direct pass (the
            OpenAI SDK reading the same streams): on a loaded machine wall times swing, CPU less.
  capacity  open-loop turns at rising rates (a quarter first turns of new calls, the rest later
            turns of open calls), ``--step-s`` seconds a step, direct then through the hook at the
            same rate; the figure is the highest rate whose added p99 stays under 50 ms, per hook
            process (each process runs one event loop: at most one core).

``--processes N`` runs the hook as ``overture serve --workers N`` (a child process; its env
names the database, the model and its server); ``--inproc`` runs it the way this benchmark did
before (``create_app`` under uvicorn in one child process), which also works on older trees.

    python benchmarks/voice_hook.py [--mode burst --mode paced --mode capacity] [--calls 200]
                                    [--concurrency 20] [--first-token-ms 150] [--processes 1]
                                    [--paced-calls 20] [--paced-turns 6] [--inproc]
                                    [--backend sqlite|postgresql|both]
                                    [--pg-url postgresql://postgres@127.0.0.1:5432/bench_voice]

PostgreSQL runs when --pg-url or OVERTURE_BENCH_DATABASE_URL names a scratch database (its
public schema is dropped and re-created).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.llm_server, tests.flows

OUR_NUMBER = "+12125550199"
REPLY = "Sure, I can help with that. Which day suits you best for the check-up?"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _model_server(port: int, first_token_ms: float, ready: Any) -> None:
    from tests import llm_server
    from tests.llm_server import LLMServer, first_token_delay, ok

    class Fixed(llm_server._HTTPServer):
        def __init__(self, _address: Any, handler: Any) -> None:
            super().__init__(("127.0.0.1", port), handler)

    server = LLMServer(default=first_token_delay(first_token_ms, ok(REPLY)))
    llm_server._HTTPServer, original = Fixed, llm_server._HTTPServer  # bind the port the parent chose
    try:
        server.start()
    finally:
        llm_server._HTTPServer = original
    ready.set()
    while True:
        time.sleep(3600)


def _hook_server(url: str, data_dir: str, port: int, model_base: str) -> None:
    import uvicorn

    from agent.settings import Settings
    from api.app import create_app

    settings = Settings(_env_file=None, data_dir=Path(data_dir), database_url=url, broker_url=None,
                        model="openai/bench-model", model_api_base=model_base, model_api_key="bench",
                        model_retries=0, model_timeout=30, model_concurrency=256)
    app = create_app(settings, run_scheduler=False)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _cli_hook(url: str, data_dir: str, port: int, model_base: str, processes: int) -> subprocess.Popen:
    """``overture serve --workers N`` on ``port``, configured through its environment."""
    env = {**os.environ, "OVERTURE_DATABASE_URL": url, "OVERTURE_DATA_DIR": data_dir, "OVERTURE_BROKER_URL": "",
           "OVERTURE_MODEL": "openai/bench-model", "OVERTURE_MODEL_API_BASE": model_base,
           "OVERTURE_MODEL_API_KEY": "bench", "OVERTURE_MODEL_RETRIES": "0", "OVERTURE_MODEL_TIMEOUT": "30",
           "OVERTURE_MODEL_CONCURRENCY": "256"}
    env.pop("OVERTURE_BROKER_URL")
    cli = Path(sys.executable).with_name("overture")
    return subprocess.Popen([str(cli), "serve", "--port", str(port), "--workers", str(processes), "--no-access-log"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


async def wait_ready(base: str, deadline_s: float = 90) -> float:
    """Poll ``/readyz`` until it first answers 200; seconds waited."""
    import httpx

    started = time.monotonic()
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        while time.monotonic() - started < deadline_s:
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{base}/readyz never answered 200")


def _wait_for_port(port: int, deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


async def seed(url: str, data_dir: Path, base: str, calls: int) -> tuple[str, list[str]]:
    """An admin key and the phone numbers of ``calls`` contacts of a live voice campaign."""
    import httpx

    from agent.auth import create_key, get_or_create_workspace
    from agent.db import dispose_engines, session_scope
    from agent.settings import Settings, use_settings
    from agent.states import Role
    from tests.flows import voice_campaign

    use_settings(Settings(_env_file=None, data_dir=data_dir, database_url=url, broker_url=None))
    async with session_scope() as s:
        ws = await get_or_create_workspace(s, "bench")
        _, key = await create_key(s, ws.id, Role.admin)
    people = [{"first_name": f"Caller{i}", "last_name": "Bench", "phone": f"+1 {312 + i // 100} 555 {100 + i % 100:04d}"}
              for i in range(calls)]
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        campaign = await voice_campaign(client, headers, people=people, caller_number=OUR_NUMBER)
        # Going live plans every contact in the hook's own process (the embedded worker), through the
        # same model server: wait for that to settle, so neither pass shares the hook with it.
        deadline = time.monotonic() + 300
        while True:
            items = (await client.get(f"/v1/campaigns/{campaign.id}/contacts", params={"limit": 500},
                                      headers=headers)).json()["items"]
            if not any(i["status"] in ("not_started", "planning") for i in items) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
    await dispose_engines()
    assert len(items) == calls, f"{len(items)} contacts enrolled of {calls}"
    return key, [i["contact"]["phone"] for i in items]


async def first_token(ai: Any, messages: list[dict[str, str]], **extra: Any) -> float:
    started = time.perf_counter()
    first = None
    async for chunk in await ai.chat.completions.create(model="bench-model", messages=messages, stream=True,
                                                        **extra):
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - started
    if first is None:
        raise RuntimeError("the stream carried no content")
    return first


async def tolerant(job: Any) -> float:
    """``job()``'s time to first token, or infinity when the request failed (a 5xx counts as slow)."""
    try:
        return await job()
    except Exception:  # noqa: BLE001 - counted, not raised: the step fails its p99
        return float("inf")


async def measure(concurrency: int, jobs: list[Any]) -> list[float]:
    slots = asyncio.Semaphore(concurrency)

    async def one(job: Any) -> float:
        async with slots:
            return await job()

    return list(await asyncio.gather(*(one(j) for j in jobs)))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def conversation(turn: int) -> list[dict[str, str]]:
    """What the platform sends for a call's ``turn``-th request (0: the opening "Hello?")."""
    messages = [{"role": "user", "content": "Hello?"}]
    for k in range(1, turn + 1):
        messages += [{"role": "assistant", "content": REPLY}, {"role": "user", "content": f"Is day {k} free?"}]
    return messages


def _meta(call_id: str, to: str) -> dict[str, Any]:
    return {"metadata": {"call_id": call_id, "from": OUR_NUMBER, "to": to}}


def hook_cpu_s(hook: Any) -> float:
    """CPU seconds (user + system) the hook has used so far: every process of its session
    (``overture serve``'s workers with it), or the one ``--inproc`` child."""
    group = hook.pid
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        pid, pgrp = int(stat.parent.name), int(fields[2])
        if pgrp == group or pid == group:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


async def paced(ai: Any, schedule: list[list[float]], phones: list[str], prefix: str,
                hook: bool) -> tuple[list[float], list[float]]:
    """Play ``schedule`` (per call, the seconds from now of each turn); (first turns, later turns)."""
    first: list[float] = []
    later: list[float] = []
    origin = time.perf_counter()

    async def one_call(i: int, times: list[float]) -> None:
        for turn, at in enumerate(times):
            await asyncio.sleep(max(0.0, origin + at - time.perf_counter()))
            extra = _meta(f"{prefix}-{i}", phones[i % len(phones)]) if hook else {}
            (first if turn == 0 else later).append(
                await tolerant(lambda: first_token(ai, conversation(turn), **extra)))

    await asyncio.gather(*(one_call(i, times) for i, times in enumerate(schedule)))
    return first, later


def paced_schedule(calls: int, turns: int, seed: int = 13) -> list[list[float]]:
    rng = random.Random(seed)
    out = []
    for _ in range(calls):
        at, times = rng.uniform(0, 4), []
        for _ in range(turns):
            times.append(at)
            at += rng.uniform(3, 5)
        out.append(times)
    return out


async def open_loop(rate: float, seconds: float, job: Any, seed: int) -> list[float]:
    """Poisson arrivals at ``rate`` a second for ``seconds``; each arrival runs ``job(n)``."""
    rng = random.Random(seed)
    tasks, at, n = [], 0.0, 0
    origin = time.perf_counter()
    while True:
        at += rng.expovariate(rate)
        if at >= seconds:
            break
        await asyncio.sleep(max(0.0, origin + at - time.perf_counter()))
        tasks.append(asyncio.create_task(tolerant(lambda n=n: job(n))))
        n += 1
    return list(await asyncio.gather(*tasks))


async def capacity(direct: Any, via_hook: Any, phones: list[str], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Rising open-loop rates until the hook's added p99 passes 50 ms (see the module docstring)."""
    pool = [f"cap-open-{i}" for i in range(100)]
    turns = dict.fromkeys(pool, 0)
    await measure(args.concurrency, [lambda c=c, p=p: tolerant(lambda: first_token(via_hook, conversation(0), **_meta(c, p)))
                                     for c, p in zip(pool, itertools.cycle(phones))])
    steps = []
    for rate in args.rates:
        rng = random.Random(int(rate))

        async def hook_job(n: int, rate: float = rate, rng: random.Random = rng) -> float:
            if rng.random() < 0.25:
                return await first_token(via_hook, conversation(0),
                                         **_meta(f"cap-{rate:g}-{n}", phones[n % len(phones)]))
            call = rng.choice(pool)
            turns[call] += 1
            return await first_token(via_hook, conversation(turns[call]),
                                     **_meta(call, phones[pool.index(call) % len(phones)]))

        floor = await open_loop(rate, args.step_s, lambda n: first_token(direct, conversation(3)), seed=int(rate))
        through = await open_loop(rate, args.step_s, hook_job, seed=int(rate))
        step = {"rate": rate, "direct p99": pct(floor, 0.99), "hook p99": pct(through, 0.99),
                "added p99": pct(through, 0.99) - pct(floor, 0.99), "n": len(through),
                "failed": sum(1 for v in through if v == float("inf"))}
        steps.append(step)
        print(f"    {rate:6.0f} turns/s: direct p99 {step['direct p99'] * 1000:7.1f} ms, hook p99 "
              f"{step['hook p99'] * 1000:7.1f} ms, added {step['added p99'] * 1000:7.1f} ms ({step['n']} turns, "
              f"{step['failed']} failed)",
              flush=True)
        if step["added p99"] >= 0.050:
            break
    return steps


async def run_backend(url: str, tmp: Path, model_base: str, args: argparse.Namespace) -> dict[str, Any]:
    import httpx
    import openai

    port = _free_port()
    ctx = multiprocessing.get_context("spawn")
    if args.inproc:
        hook: Any = ctx.Process(target=_hook_server, args=(url, str(tmp), port, model_base), daemon=True)
        hook.start()
    else:
        hook = _cli_hook(url, str(tmp), port, model_base, args.processes)
    out: dict[str, Any] = {}
    try:
        base = f"http://127.0.0.1:{port}"
        out["ready after s"] = await wait_ready(base)
        how = "in-process uvicorn (--inproc)" if args.inproc else f"overture serve --workers {args.processes}"
        print(f"\n{args.backend_now}, {how}: first token after {args.first_token_ms:.0f} ms at the model server; "
              f"/readyz said ready after {out['ready after s']:.2f} s", flush=True)
        need = max(args.calls + args.concurrency, args.paced_calls)
        key, phones = await seed(url, tmp, base, need)
        limits = httpx.Limits(max_connections=500, max_keepalive_connections=200)
        async with httpx.AsyncClient(limits=limits, timeout=60) as http:
            direct = openai.AsyncOpenAI(base_url=model_base, api_key="bench", http_client=http, max_retries=0)
            via_hook = openai.AsyncOpenAI(base_url=f"{base}/v1/voice", api_key=key, http_client=http, max_retries=0)
            if "paced" in args.mode:
                # Right after /readyz (and the seeding): no warm-up of any kind on either side.
                schedule = paced_schedule(args.paced_calls, args.paced_turns)
                client_cpu = time.process_time()
                d_first, d_later = await paced(direct, schedule, phones, "direct", hook=False)
                client_cpu = time.process_time() - client_cpu
                cpu = hook_cpu_s(hook)
                h_first, h_later = await paced(via_hook, schedule, phones, "paced", hook=True)
                await asyncio.sleep(0.5)  # what the hook does after [DONE] counts too
                turns = len(h_first) + len(h_later)
                out["paced"] = {"direct, first": d_first, "direct, later": d_later,
                                "hook, first": h_first, "hook, later": h_later,
                                "cpu": ((hook_cpu_s(hook) - cpu) / turns, client_cpu / turns)}
                report(args.backend_now, out, args, "paced")
            if "burst" in args.mode:
                warm, rest = phones[:args.concurrency], phones[args.concurrency:args.concurrency + args.calls]
                hello, later = conversation(0), conversation(1)

                def call(ai: Any, messages: list[dict[str, str]], call_id: str | None = None, to: str | None = None):
                    extra = {} if call_id is None else _meta(call_id, to or "")
                    return lambda: tolerant(lambda: first_token(ai, messages, **extra))

                # Warm-up: litellm's first import and the connection pools, on calls of their own.
                await measure(args.concurrency, [call(direct, hello) for _ in warm])
                await measure(args.concurrency, [call(via_hook, hello, f"warm-{i}", p) for i, p in enumerate(warm)])
                burst = {
                    "direct": await measure(args.concurrency, [call(direct, hello) for _ in rest]),
                    "hook, first": await measure(args.concurrency, [call(via_hook, hello, f"call-{i}", p)
                                                                    for i, p in enumerate(rest)]),
                    "hook, next": await measure(args.concurrency, [call(via_hook, later, f"call-{i}", p)
                                                                   for i, p in enumerate(rest)]),
                }
                burst["direct, again"] = await measure(args.concurrency, [call(direct, later) for _ in rest])
                out["burst"] = burst
                report(args.backend_now, out, args, "burst")
            if "capacity" in args.mode:
                print("  capacity steps:", flush=True)
                out["capacity"] = await capacity(direct, via_hook, phones, args)
                report(args.backend_now, out, args, "capacity")
        return out
    finally:
        if args.inproc:
            hook.terminate()
            hook.join(10)
        else:
            os.killpg(hook.pid, signal.SIGTERM)
            try:
                hook.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(hook.pid, signal.SIGKILL)


def _line(name: str, values: list[float], floor: dict[float, float]) -> str:
    p50, p99 = pct(values, 0.5), pct(values, 0.99)
    return (f"  {name:<14} {p50 * 1000:8.1f} {p99 * 1000:8.1f} {(p50 - floor[0.5]) * 1000:10.1f} "
            f"{(p99 - floor[0.99]) * 1000:10.1f} {max(values) * 1000:8.1f} {len(values):6d}")


HEADER = f"  {'path':<14} {'p50 ms':>8} {'p99 ms':>8} {'added p50':>10} {'added p99':>10} {'max ms':>8} {'n':>6}"


def report(backend: str, results: dict[str, Any], args: argparse.Namespace, part: str) -> None:
    if part == "paced":
        r = results["paced"]
        print(f" paced: {args.paced_calls} calls, a turn every 3-5 s each, {args.paced_turns} turns, "
              "right after /readyz")
        print(HEADER)
        worst = 0.0
        for kind in ("first", "later"):
            floor = {q: pct(r[f"direct, {kind}"], q) for q in (0.5, 0.99)}
            print(_line(f"direct, {kind}", r[f"direct, {kind}"], floor))
            print(_line(f"hook, {kind}", r[f"hook, {kind}"], floor))
            worst = max(worst, pct(r[f"hook, {kind}"], 0.99) - floor[0.99])
        print(f"  paced added p99 (worse of first and later turns): {worst * 1000:.1f} ms (goal: at most 15 ms)")
        hook_cpu, client_cpu = r["cpu"]
        print(f"  CPU per turn: hook {hook_cpu * 1000:.1f} ms (all its processes, the hook pass) vs "
              f"{client_cpu * 1000:.1f} ms for this client's OpenAI SDK reading the same streams (the direct pass)")
    if part == "burst":
        r = results["burst"]
        # The floor for each percentile: the better of the two direct passes (before and after).
        floor = {q: min(pct(r["direct"], q), pct(r["direct, again"], q)) for q in (0.5, 0.99)}
        print(f" burst: {args.calls} calls, {args.concurrency} at once")
        print(HEADER)
        for name, values in r.items():
            print(_line(name, values, floor))
        worst = max(pct(r[k], 0.99) for k in ("hook, first", "hook, next")) - floor[0.99]
        print(f"  burst added p99 (worse of first and next turn): {worst * 1000:.1f} ms; "
              f"mean direct {statistics.fmean(r['direct']) * 1000:.1f} ms")
    if part == "capacity":
        passing = [s for s in results["capacity"] if s["added p99"] < 0.050]
        best = passing[-1]["rate"] if passing else 0.0
        processes = 1 if args.inproc else args.processes
        cores = min(processes, os.cpu_count() or 1)
        tried = ", ".join(f"{s['rate']:g}" for s in results["capacity"])
        print(f" capacity: {best:g} turns/s with added p99 under 50 ms; {best / cores:.1f} turns/s per core "
              f"({processes} hook process(es) on {cores} core(s); rates tried: {tried})")


async def pg_reset(url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--first-token-ms", type=float, default=150)
    parser.add_argument("--mode", action="append", choices=["burst", "paced", "capacity"],
                        help="what to measure (repeatable; default: all)")
    parser.add_argument("--processes", type=int, default=1, help="hook processes (overture serve --workers)")
    parser.add_argument("--inproc", action="store_true", help="the hook as create_app under uvicorn in one child "
                        "process (the way before --processes; works on older trees)")
    parser.add_argument("--paced-calls", type=int, default=20)
    parser.add_argument("--paced-turns", type=int, default=6)
    parser.add_argument("--rates", type=lambda v: [float(x) for x in v.split(",")],
                        default=[10, 20, 40, 60, 80, 120, 160, 200], help="capacity: turns/s to try, comma-separated")
    parser.add_argument("--step-s", type=float, default=5, help="capacity: seconds at each rate")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both",
                        help="both: SQLite, and PostgreSQL when a URL is given")
    parser.add_argument("--pg-url", default=os.environ.get("OVERTURE_BENCH_DATABASE_URL"),
                        help="PostgreSQL URL (a scratch database: it is reset)")
    args = parser.parse_args()
    args.mode = args.mode or ["paced", "burst", "capacity"]
    if args.calls + args.concurrency > 500:
        parser.error("--calls is too large for the generated phone numbers")
    if args.backend == "postgresql" and not args.pg_url:
        parser.error("--backend postgresql needs --pg-url or OVERTURE_BENCH_DATABASE_URL")
    from agent.migrate import upgrade
    from agent.settings import _async_url

    ctx = multiprocessing.get_context("spawn")
    model_port, ready = _free_port(), ctx.Event()
    model = ctx.Process(target=_model_server, args=(model_port, args.first_token_ms, ready), daemon=True)
    model.start()
    try:
        if not ready.wait(60):
            raise RuntimeError("the model server did not start")
        model_base = f"http://127.0.0.1:{model_port}/v1"
        backends = [b for b in ("sqlite", "postgresql")
                    if args.backend in (b, "both") and (b == "sqlite" or args.pg_url)]
        for backend in backends:
            with tempfile.TemporaryDirectory() as tmp:
                if backend == "sqlite":
                    url = f"sqlite+aiosqlite:///{Path(tmp) / 'overture.db'}"
                else:
                    url = _async_url(args.pg_url)
                    asyncio.run(pg_reset(url))
                upgrade(url)
                args.backend_now = backend
                asyncio.run(run_backend(url, Path(tmp), model_base, args))
    finally:
        model.terminate()
        model.join(10)


if __name__ == "__main__":
    main()
