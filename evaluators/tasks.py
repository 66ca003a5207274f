"""Actors of the evaluators (ids in; the service does the work)."""

from __future__ import annotations

import logging

from agent.queue import task
from evaluators import service

log = logging.getLogger(__name__)


@task(service.ACTOR)
async def evaluate(evaluation_id: str) -> None:
    status = await service.run(evaluation_id)
    log.info("evaluation %s: %s", evaluation_id, status or "not queued (already taken)")
