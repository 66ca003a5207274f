"""The work queue: dramatiq actors registered by name, messages sent only after commit.

Actors carry ids, never state (the database is the truth). ``enqueue`` buffers the message on
the session and sends it when the transaction commits; a rollback drops it, so a message
never points at a row that does not exist. The broker comes from ``OVERTURE_BROKER_URL``:
unset means an in-memory broker consumed by a worker inside ``overture serve``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import dramatiq
from dramatiq.broker import Broker
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.middleware import Middleware
from dramatiq.middleware.asyncio import AsyncIO
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from agent.settings import Settings, get_settings

log = logging.getLogger(__name__)

QUEUE = "overture"
# Modules whose @task functions are actors, imported when the broker is set up. The API and the
# CLI (top of the layering) pass the full list; agent/ itself only knows its own.
TASK_MODULES = ["agent.contacts.tasks", "agent.inbound.tasks"]
_OUTBOX = "overture_outbox"

TaskFn = Callable[..., Awaitable[Any]]
_tasks: dict[str, TaskFn] = {}
_retries: dict[str, int] = {}
_broker: Broker | None = None


def task(name: str, *, max_retries: int = 3) -> Callable[[TaskFn], TaskFn]:
    """Register an async function as the actor ``name`` (declared on the broker at set-up).

    ``max_retries=0`` for actors whose retry must come from the database's state, never from the
    broker (a send retried by dramatiq could go out twice)."""

    def register(fn: TaskFn) -> TaskFn:
        _tasks[name] = fn
        _retries[name] = max_retries
        return fn

    return register


def _make_broker(settings: Settings) -> Broker:
    url = settings.broker_url
    if not url:
        from dramatiq.brokers.stub import StubBroker

        broker: Broker = StubBroker()
    elif url.startswith(("redis://", "rediss://")):
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(url=url)
    elif url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=url)
    else:
        raise ValueError("OVERTURE_BROKER_URL must start with redis://, rediss://, amqp:// or amqps://")
    broker.add_middleware(AsyncIO())
    broker.add_middleware(DisposeWorkerEngines())  # after AsyncIO: its after-hooks run first
    return broker


class DisposeWorkerEngines(Middleware):
    """Close the database engines (and provider HTTP clients) of the worker's event loop when the worker stops, while that
    loop still runs (after-hooks run in reverse order, so this one comes before AsyncIO's, which
    stops the loop). Left to the garbage
    collector, a stopped worker's pooled PostgreSQL connections stay open as long as anything
    still references its loop: a process that starts many workers (tests, reloads) runs out."""

    def after_worker_shutdown(self, broker: Broker, worker: dramatiq.Worker) -> None:
        from agent.db import dispose_engines

        from agent.channels.rest import close_clients

        thread = get_event_loop_thread()
        if thread is not None and thread.loop.is_running():
            thread.run_coroutine(dispose_engines())
            thread.run_coroutine(close_clients())  # the providers' HTTP connections of that loop


def setup_broker(settings: Settings | None = None, task_modules: list[str] | None = None) -> Broker:
    """Create the broker for the settings, make it dramatiq's global one and declare every actor."""
    global _broker
    settings = settings or get_settings()
    broker = _make_broker(settings)
    dramatiq.set_broker(broker)
    for module in task_modules or TASK_MODULES:
        importlib.import_module(module)
    for name, fn in _tasks.items():
        dramatiq.actor(fn, actor_name=name, queue_name=QUEUE, broker=broker, max_retries=_retries.get(name, 3),
                       min_backoff=500, max_backoff=30_000)
    broker.declare_queue(QUEUE)
    _broker = broker
    return broker


def get_broker() -> Broker:
    if _broker is None:
        return setup_broker()
    return _broker


def send(name: str, **kwargs: Any) -> None:
    """Send a message now (outside any transaction)."""
    broker = get_broker()
    broker.enqueue(dramatiq.Message(queue_name=QUEUE, actor_name=name, args=(), kwargs=kwargs, options={}))


def enqueue(session: AsyncSession, name: str, **kwargs: Any) -> None:
    """Ask for ``name(**kwargs)`` once the session's transaction commits."""
    if name not in _tasks:
        raise KeyError(f"no task named {name!r}")
    session.sync_session.info.setdefault(_OUTBOX, []).append((name, kwargs))


@event.listens_for(Session, "after_commit")
def _send_outbox(session: Session) -> None:
    for name, kwargs in session.info.pop(_OUTBOX, []):
        send(name, **kwargs)


@event.listens_for(Session, "after_rollback")
def _drop_outbox(session: Session) -> None:
    session.info.pop(_OUTBOX, None)


def start_worker(broker: Broker | None = None, threads: int | None = None) -> dramatiq.Worker:
    worker = dramatiq.Worker(broker or get_broker(), worker_threads=threads or get_settings().worker_threads,
                             worker_timeout=100)
    worker.start()
    return worker
