"""The FastAPI application: routers, problem+json errors and, when embedded, the in-process worker."""

from __future__ import annotations

import asyncio
import fcntl
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from agent import llm
from agent.db import dispose_engines
from agent.migrate import upgrade
from agent.queue import setup_broker, start_worker
from agent.settings import Settings, get_settings, use_settings
from agent.voice import engine as voice_engine
from api import errors
from api.guard import RequireBearer
from api.idempotency import IdempotencyMiddleware
from api.limits import Limits
from api.validation import BodyCheck
from api.routes import (activity, campaigns, contacts, conversations, evaluations, exports, goals, health,
                        inbound_email, phone_numbers, planning, review, suppressions, tasks, voice, voice_retell,
                        web, web_campaigns, web_settings)
from api.routes import inbound_sms, unsubscribe
from api.routes import keys as keys_routes
from api.routes import schedules as schedules_routes
from api import docs, observability
from agent import logs
from evaluators import service as evaluations_service
from planner import scheduler

log = logging.getLogger(__name__)

# Every package's actors; the API process and `overture worker` declare the same set.
TASK_MODULES = ["agent.contacts.tasks", "planner.tasks", "agent.executor", "evaluators.tasks", "agent.inbound.tasks",
                "agent.reports.tasks"]
# What the scheduler does on every tick beyond planning and sending (packages above planner).
SCHEDULED_DUTIES = (evaluations_service.dispatch_due,)


def _hold_lock(settings: Settings, name: str) -> Any:
    """An exclusive, non-blocking lock on ``<data_dir>/<name>.lock`` for this process's life, or
    None when another process holds it. ``overture serve --workers N`` starts N of these apps on
    one machine; what must run once (the scheduler) runs in whichever holds the lock, and the
    lock goes with its process, however that ends."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    handle = open(settings.data_dir / f"{name}.lock", "a+")  # noqa: SIM115 - held open on purpose
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


async def _schedule_once(settings: Settings, stop: asyncio.Event) -> None:
    """The scheduler, in one process of the machine's hook/API processes: the others wait for
    the lock (and take over when its holder stops)."""
    while not stop.is_set():
        held = _hold_lock(settings, "scheduler")
        if held is not None:
            try:
                await scheduler.run_forever(stop=stop, duties=SCHEDULED_DUTIES)
            finally:
                held.close()
            return
        try:
            await asyncio.wait_for(stop.wait(), timeout=settings.reconcile_interval_s)
        except TimeoutError:
            pass


def serve_app() -> FastAPI:
    """``create_app`` from the environment's settings: the factory each of ``overture serve
    --workers N``'s processes calls (``uvicorn --factory api.app:serve_app`` is the same)."""
    return create_app()


def warm_routes(app: FastAPI) -> int:
    """Build every included router's route table now; the number of routers built.

    FastAPI (0.16x) builds an included router's routes (their parameter and body fields, a pydantic
    schema each) on the first request that reaches it, under a thread lock that holds the event
    loop: measured at 1.6 s for this app on a loaded 2-core machine, paid by whichever requests
    came first, a live caller's first turn among them, in every ``serve --workers`` process. The
    walk goes through the routers' own ``effective_candidates`` where FastAPI has them, and does
    nothing on a FastAPI without them."""
    built = 0
    pending = list(app.router.routes)
    while pending:
        route = pending.pop()
        candidates = getattr(route, "effective_candidates", None)
        if candidates is None:
            continue
        pending.extend(candidates())
        route.effective_low_priority_routes()
        built += 1
    return built


def create_app(settings: Settings | None = None, *, run_worker: bool | None = None,
               run_scheduler: bool | None = None) -> FastAPI:
    """Build the app. ``run_worker`` and ``run_scheduler`` default to True on the embedded broker."""
    settings = use_settings(settings or get_settings())
    logs.configure(settings)
    broker = setup_broker(settings, TASK_MODULES)
    if run_worker is None:
        run_worker = settings.embedded_broker
    if run_scheduler is None:
        run_scheduler = settings.embedded_broker

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.is_sqlite:
            # One process migrates at a time (serve --workers N starts N at once); the others find it done.
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            with open(settings.data_dir / "migrate.lock", "a+") as lock:
                await asyncio.to_thread(fcntl.flock, lock, fcntl.LOCK_EX)
                upgrade(settings.db_url)
        worker = start_worker(broker) if run_worker else None
        # litellm takes seconds to import and its first stream loads more: paid here, before the
        # server takes requests, so no first call (a live caller's first turn) waits for it.
        await llm.warm()
        await asyncio.to_thread(voice_engine.warm)
        await voice_engine.warm_reads()
        warm_routes(app)
        stop = asyncio.Event()
        ticker = asyncio.create_task(_schedule_once(settings, stop)) if run_scheduler else None
        try:
            yield
        finally:
            stop.set()
            if ticker is not None:
                await ticker
            if worker is not None:
                worker.stop()
            await dispose_engines()

    app = FastAPI(title="Overture", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Self-hosted AI outreach agent with a human review queue.")
    errors.install(app)
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(BodyCheck)  # control characters and nesting in JSON bodies, 422 before any route
    app.add_middleware(Limits)  # body caps and URL checks before anything reads the body
    app.add_middleware(RequireBearer)  # the key, before any body is read
    app.add_middleware(errors.Unhandled)  # a 500 that leaves the connection open for the next request
    app.add_middleware(observability.RequestContext)  # outermost: every answer, 401s included, gets an id
    for module in (health, campaigns, contacts, activity, planning, review, voice, voice_retell, conversations, goals,
                   evaluations, phone_numbers, suppressions, tasks, web, web_campaigns, web_settings, inbound_sms,
                   unsubscribe, inbound_email, exports):
        app.include_router(module.router)
    app.include_router(keys_routes.router)
    app.include_router(schedules_routes.router)
    app.include_router(observability.router)
    docs.install(app)
    app.mount("/inbox/static", StaticFiles(directory=web.STATIC_DIR), name="inbox-static")
    app.state.settings = settings
    return app
