"""The FastAPI application: routers, problem+json errors and, when embedded, the in-process worker."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from agent import llm
from agent.db import dispose_engines
from agent.migrate import upgrade
from agent.queue import setup_broker, start_worker
from agent.settings import Settings, get_settings, use_settings
from api import errors
from api.guard import RequireBearer
from api.idempotency import IdempotencyMiddleware
from api.limits import Limits
from api.routes import (activity, campaigns, contacts, conversations, evaluations, exports, goals, health,
                        inbound_email,
                        phone_numbers, planning, review, suppressions, tasks, voice, voice_retell, web)
from api.routes import inbound_sms, unsubscribe
from api.routes import keys as keys_routes
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
            upgrade(settings.db_url)
        worker = start_worker(broker) if run_worker else None
        if run_worker:
            # litellm takes seconds to import; pay it in the background, not in the first plan.
            threading.Thread(target=llm.preload, name="litellm-preload", daemon=True).start()
        stop = asyncio.Event()
        ticker = asyncio.create_task(scheduler.run_forever(stop=stop, duties=SCHEDULED_DUTIES)) if run_scheduler else None
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
    app.add_middleware(Limits)  # body caps and URL checks before anything reads the body
    app.add_middleware(RequireBearer)  # the key, before any body is read
    app.add_middleware(observability.RequestContext)  # outermost: every answer, 401s included, gets an id
    for module in (health, campaigns, contacts, activity, planning, review, voice, voice_retell, conversations, goals,
                   evaluations, phone_numbers, suppressions, tasks, web, inbound_sms, unsubscribe, inbound_email,
                   exports):
        app.include_router(module.router)
    app.include_router(keys_routes.router)
    app.include_router(observability.router)
    docs.install(app)
    app.mount("/inbox/static", StaticFiles(directory=web.STATIC_DIR), name="inbox-static")
    app.state.settings = settings
    return app
