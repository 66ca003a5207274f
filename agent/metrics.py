"""The process's Prometheus metrics, in one registry that ``GET /metrics`` renders.

Counters are incremented where the thing happens (the executor's outcome, the planner's route,
the model layer's tally, the request middleware); other packages add theirs through the same
names, e.g. ``INBOUND_EVENTS.labels(source="smtp", outcome="matched").inc()``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter("overture_http_requests", "HTTP requests answered, by route template and status",
                        ["method", "route", "status"], registry=REGISTRY)
HTTP_SECONDS = Histogram("overture_http_request_seconds", "Time to answer, by route template", ["method", "route"],
                         registry=REGISTRY)
PLANNING_RUNS = Counter("overture_planning_runs", "Planning runs started", registry=REGISTRY)
PLANS = Counter("overture_plans", "Enrollments planned, by result (drafted or the status the contact rests in)",
                ["result"], registry=REGISTRY)
SENDS = Counter("overture_sends", "Outreach executions, by outcome (sent, failed, retry_later, held...)",
                ["outcome"], registry=REGISTRY)
INBOUND_EVENTS = Counter("overture_inbound_events", "Inbound events (webhooks, replies, receipts), by source "
                         "and outcome", ["source", "outcome"], registry=REGISTRY)
MODEL_CALLS = Counter("overture_model_calls", "Model calls, by model and outcome", ["model", "outcome"],
                      registry=REGISTRY)
MODEL_TOKENS = Counter("overture_model_tokens", "Model tokens, by model and direction (input, output)",
                       ["model", "direction"], registry=REGISTRY)
MODEL_COST = Counter("overture_model_cost_usd", "Model cost in US dollars (litellm's price map)", ["model"],
                     registry=REGISTRY)
QUEUE_DEPTH = Gauge("overture_queue_depth", "Messages waiting on the work queue (as this process's broker sees it)",
                    registry=REGISTRY)


def _queue_depth() -> float:
    """Ask the broker at scrape time; a broker that cannot say (or is down) reports NaN, never an error."""
    from agent.queue import QUEUE, get_broker

    try:
        broker = get_broker()
        if hasattr(broker, "queues") and QUEUE in getattr(broker, "queues", {}):  # the in-memory StubBroker
            return float(broker.queues[QUEUE].qsize())
        if hasattr(broker, "get_queue_message_counts"):  # RabbitMQ: (ready, delayed, dead-lettered)
            return float(broker.get_queue_message_counts(QUEUE)[0])
        if hasattr(broker, "client") and hasattr(broker, "namespace"):  # Redis
            return float(broker.client.hlen(f"{broker.namespace}:{QUEUE}.msgs"))
    except Exception:  # noqa: BLE001 - a scrape must not fail because the broker is away
        return float("nan")
    return float("nan")


QUEUE_DEPTH.set_function(_queue_depth)


def render() -> bytes:
    return generate_latest(REGISTRY)
