"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from agent import llm
from agent.db import session_scope
from agent.queue import get_broker

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz() -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        async with session_scope() as session:
            await session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # reported, not raised: this endpoint's job is to say what is down
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        broker = get_broker()
        client = getattr(broker, "client", None)
        if client is not None:  # Redis
            client.ping()
        elif hasattr(broker, "connection"):  # RabbitMQ
            _ = broker.connection
        checks["broker"] = "ok"
    except Exception as exc:
        checks["broker"] = f"error: {type(exc).__name__}"
    # The model layer: litellm imported and its streaming path loaded (api.app's start-up).
    checks["model"] = "ok" if llm.is_warm() else "warming"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503)
