"""Exports of a campaign's contacts: queue one, follow it, list the history, download the file."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from agent.campaigns import service as campaigns
from agent.errors import NotFound
from agent.reports import exports
from agent.reports.export_files import EXTENSION, MEDIA_TYPE, ExportFormat
from agent.states import JobStatus
from api.deps import Approver, Reader, SessionDep
from api.errors import ERROR_RESPONSES
from api.idempotency import AnsweringRoute

router = APIRouter(tags=["exports"], route_class=AnsweringRoute, responses=ERROR_RESPONSES)


class ExportIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"format": "xlsx"}, {"format": "csv_semicolon"}]})
    format: ExportFormat = Field(description="csv (comma), csv_semicolon (semicolon and decimal comma, for "
                                             "comma-decimal locales), xlsx (Excel) or json")


class ExportQueued(BaseModel):
    id: str
    status: str


class ExportOut(BaseModel):
    id: str
    campaign_id: str
    format: str
    status: str
    rows: int = Field(description="Contacts written so far; all of them once succeeded")
    total: int = Field(description="Contacts the export covers (known once it runs)")
    size_bytes: int
    error_code: str | None = Field(description="Why it failed: worker_lost (its worker died too often) or "
                                                "export_crashed")
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    download_url: str | None = Field(description="Where to fetch the file once it has succeeded")


class ExportPage(BaseModel):
    items: list[ExportOut]


def _out(job) -> ExportOut:  # noqa: ANN001 - an ExportJob row
    ready = job.status == JobStatus.succeeded
    return ExportOut(id=job.id, campaign_id=job.campaign_id, format=job.format, status=job.status,
                     rows=job.processed, total=job.total, size_bytes=job.size_bytes, error_code=job.error_code,
                     created_at=job.created_at, started_at=job.started_at, finished_at=job.finished_at,
                     download_url=f"/v1/exports/{job.id}/download" if ready else None)


@router.post("/v1/campaigns/{campaign_id}/exports", status_code=202, response_model=ExportQueued)
async def create_export(campaign_id: str, body: ExportIn, session: SessionDep, who: Approver) -> ExportQueued:
    """Queue an export of every contact of the campaign with its figures (status and substatus,
    attempts, goal results and scores, conversations and their duration, last contacted, tags,
    properties). It runs in the background; follow it at `GET /v1/exports/{id}`. Admins and
    approvers may export; 202 once queued."""
    campaign = await campaigns.get(session, who.workspace_id, campaign_id)
    job = await exports.create_job(session, campaign, body.format, actor=who.key_id)
    return ExportQueued(id=job.id, status=job.status)


@router.get("/v1/campaigns/{campaign_id}/exports", response_model=ExportPage)
async def list_exports(campaign_id: str, session: SessionDep, who: Reader,
                       limit: Annotated[int, Query(ge=1, le=200)] = 50) -> ExportPage:
    """The campaign's export history, newest first; every role reads it."""
    campaign = await campaigns.get(session, who.workspace_id, campaign_id)
    return ExportPage(items=[_out(j) for j in await exports.history(session, campaign.id, limit)])


@router.get("/v1/exports/{export_id}", response_model=ExportOut)
async def get_export(export_id: str, session: SessionDep, who: Reader) -> ExportOut:
    """One export's status, format and progress (`rows` of `total`)."""
    return _out(await exports.get_job(session, who.workspace_id, export_id))


@router.get("/v1/exports/{export_id}/download", response_class=StreamingResponse,
            responses={200: {"description": "The file (CSV with a UTF-8 BOM, Excel or JSON)",
                             "content": {m: {} for m in sorted(set(MEDIA_TYPE.values()))}},
                       409: ERROR_RESPONSES[409] | {"description": "The export has not succeeded (export_not_ready)"}})
async def download_export(export_id: str, session: SessionDep, who: Reader) -> StreamingResponse:
    """The export's file, streamed; 409 `export_not_ready` until the export has succeeded."""
    return await file_response(session, who.workspace_id, export_id)


async def file_response(session: SessionDep, workspace_id: str, export_id: str,
                        campaign_id: str | None = None) -> StreamingResponse:
    """The export's file as an attachment (also the web app's download, behind its cookie session);
    NotFound for another workspace's export (or another campaign's, when ``campaign_id`` is given),
    Conflict ``export_not_ready`` before it has succeeded."""
    job = await exports.get_job(session, workspace_id, export_id)
    if campaign_id is not None and job.campaign_id != campaign_id:
        raise NotFound("no such export")
    exports.check_ready(job)
    campaign = await campaigns.get(session, workspace_id, job.campaign_id)
    fmt = ExportFormat(job.format)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", campaign.name).strip("-").lower()[:60] or "campaign"
    name = f"{slug}-{job.created_at:%Y%m%d-%H%M}.{EXTENSION[fmt]}"
    return StreamingResponse(exports.file_chunks(job.id), media_type=MEDIA_TYPE[fmt],
                             headers={"Content-Disposition": f'attachment; filename="{name}"',
                                      "Content-Length": str(job.size_bytes)})
