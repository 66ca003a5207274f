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

    python benchmarks/voice_hook.py [--calls 200] [--concurrency 20] [--first-token-ms 150]
                                    [--backend sqlite|postgresql|both]
                                    [--pg-url postgresql://postgres@127.0.0.1:5432/bench_voice]

PostgreSQL runs when --pg-url or OVERTURE_BENCH_DATABASE_URL names a scratch database (its
public schema is dropped and re-created).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import socket
import statistics
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
        items = (await client.get(f"/v1/campaigns/{campaign.id}/contacts", params={"limit": 500},
                                  headers=headers)).json()["items"]
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


async def measure(concurrency: int, jobs: list[Any]) -> list[float]:
    slots = asyncio.Semaphore(concurrency)

    async def one(job: Any) -> float:
        async with slots:
            return await job()

    return list(await asyncio.gather(*(one(j) for j in jobs)))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def run_backend(url: str, tmp: Path, model_base: str, args: argparse.Namespace) -> dict[str, list[float]]:
    import httpx
    import openai

    port = _free_port()
    ctx = multiprocessing.get_context("spawn")
    hook = ctx.Process(target=_hook_server, args=(url, str(tmp), port, model_base), daemon=True)
    hook.start()
    try:
        _wait_for_port(port)
        base = f"http://127.0.0.1:{port}"
        key, phones = await seed(url, tmp, base, args.calls + args.concurrency)
        warm, phones = phones[:args.concurrency], phones[args.concurrency:]
        limits = httpx.Limits(max_connections=args.concurrency * 2, max_keepalive_connections=args.concurrency * 2)
        async with httpx.AsyncClient(limits=limits, timeout=60) as http:
            direct = openai.AsyncOpenAI(base_url=model_base, api_key="bench", http_client=http, max_retries=0)
            via_hook = openai.AsyncOpenAI(base_url=f"{base}/v1/voice", api_key=key, http_client=http, max_retries=0)
            hello = [{"role": "user", "content": "Hello?"}]
            later = hello + [{"role": "assistant", "content": REPLY}, {"role": "user", "content": "Is Tuesday free?"}]

            def call(ai: Any, messages: list[dict[str, str]], call_id: str | None = None, to: str | None = None):
                extra = {} if call_id is None else {"metadata": {"call_id": call_id, "from": OUR_NUMBER, "to": to}}
                return lambda: first_token(ai, messages, **extra)

            # Warm-up: litellm's first import and the connection pools, on calls of their own.
            await measure(args.concurrency, [call(direct, hello) for _ in warm])
            await measure(args.concurrency, [call(via_hook, hello, f"warm-{i}", p) for i, p in enumerate(warm)])
            out = {
                "direct": await measure(args.concurrency, [call(direct, hello) for _ in phones]),
                "hook, first": await measure(args.concurrency, [call(via_hook, hello, f"call-{i}", p)
                                                                for i, p in enumerate(phones)]),
                "hook, next": await measure(args.concurrency, [call(via_hook, later, f"call-{i}", p)
                                                               for i, p in enumerate(phones)]),
            }
            out["direct, again"] = await measure(args.concurrency, [call(direct, later) for _ in phones])
        return out
    finally:
        hook.terminate()
        hook.join(10)


def report(backend: str, results: dict[str, list[float]], args: argparse.Namespace) -> None:
    # The floor for each percentile: the better of the two direct passes (before and after).
    floor = {q: min(pct(results["direct"], q), pct(results["direct, again"], q)) for q in (0.5, 0.99)}
    print(f"\n{backend}: {args.calls} calls, {args.concurrency} at once, first token after "
          f"{args.first_token_ms:.0f} ms at the model server")
    print(f"  {'path':<14} {'p50 ms':>8} {'p99 ms':>8} {'added p50':>10} {'added p99':>10} {'max ms':>8}")
    for name, values in results.items():
        p50, p99 = pct(values, 0.5), pct(values, 0.99)
        print(f"  {name:<14} {p50 * 1000:8.1f} {p99 * 1000:8.1f} {(p50 - floor[0.5]) * 1000:10.1f} "
              f"{(p99 - floor[0.99]) * 1000:10.1f} {max(values) * 1000:8.1f}")
    worst = max(pct(results[k], 0.99) for k in ("hook, first", "hook, next")) - floor[0.99]
    print(f"  hook's added p99 (worse of first and next turn): {worst * 1000:.1f} ms (goal: at most 15 ms); "
          f"mean direct {statistics.fmean(results['direct']) * 1000:.1f} ms")


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
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both",
                        help="both: SQLite, and PostgreSQL when a URL is given")
    parser.add_argument("--pg-url", default=os.environ.get("OVERTURE_BENCH_DATABASE_URL"),
                        help="PostgreSQL URL (a scratch database: it is reset)")
    args = parser.parse_args()
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
                report(backend, asyncio.run(run_backend(url, Path(tmp), model_base, args)), args)
    finally:
        model.terminate()
        model.join(10)


if __name__ == "__main__":
    main()
