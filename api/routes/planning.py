"""Planning runs: start one, read its counters, follow it as server-sent events."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Body
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from agent.campaigns import service as campaigns
from agent.db import session_scope
from agent.states import JOB_FINAL, ExecutionMode
from agent.errors import InvalidTransition
from api.deps import Admin, Reader, SessionDep
from api.errors import ERROR_RESPONSES
from api.idempotency import AnsweringRoute
from planner import repository as planner_repo
from planner import runs

router = APIRouter(tags=["planning"], route_class=AnsweringRoute, responses=ERROR_RESPONSES)


class RunRequest(BaseModel):
    contact_ids: list[str] | None = Field(None, max_length=10_000, description="Only these contacts (default: all "
                                                                            "plannable ones)")


class RunOut(BaseModel):
    id: str
    campaign_id: str
    status: str
    total: int
    planned: int
    failed: int
    skipped: int
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


def _out(run) -> RunOut:  # noqa: ANN001
    return RunOut.model_validate(run, from_attributes=True)


@router.post("/v1/campaigns/{campaign_id}/planning-runs", status_code=202, response_model=RunOut)
async def start_run(campaign_id: str, session: SessionDep, who: Admin,
                    body: Annotated[RunRequest | None, Body()] = None) -> RunOut:
    campaign = await campaigns.get(session, who.workspace_id, campaign_id, for_update=True)
    run = await runs.create_run(session, campaign, contact_ids=body.contact_ids if body else None, actor=who.key_id)
    return _out(run)


@router.post("/v1/campaigns/{campaign_id}/start-outreaches", status_code=202, response_model=RunOut)
async def start_outreaches(campaign_id: str, session: SessionDep, who: Admin) -> RunOut:
    """The manual mode's "start all outreaches": plan every contact that is waiting for it."""
    campaign = await campaigns.get(session, who.workspace_id, campaign_id, for_update=True)
    if campaign.execution_mode != ExecutionMode.manual:
        raise InvalidTransition(f"start-outreaches is for manual campaigns; this one is {campaign.execution_mode}",
                                current_status=campaign.status)
    return _out(await runs.create_run(session, campaign, contact_ids=None, actor=who.key_id))


@router.get("/v1/planning-runs/{run_id}", response_model=RunOut)
async def get_run(run_id: str, session: SessionDep, who: Reader) -> RunOut:
    return _out(await planner_repo.get_run(session, who.workspace_id, run_id))


@router.get("/v1/planning-runs/{run_id}/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description": "progress events"}})
async def run_events(run_id: str, session: SessionDep, who: Reader) -> StreamingResponse:
    await planner_repo.get_run(session, who.workspace_id, run_id)  # 404 before the stream starts
    workspace_id = who.workspace_id

    async def events() -> AsyncIterator[bytes]:
        last = None
        while True:
            async with session_scope() as s:
                run = _out(await planner_repo.get_run(s, workspace_id, run_id))
            payload = run.model_dump(mode="json")
            if payload != last:
                kind = "done" if run.status in JOB_FINAL else "progress"
                yield f"event: {kind}\ndata: {json.dumps(payload)}\n\n".encode()
                last = payload
            if run.status in JOB_FINAL:
                return
            await asyncio.sleep(0.25)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
