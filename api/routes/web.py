"""The web pages Overture serves itself (every asset local; nothing from a CDN)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

import review.web

router = APIRouter(include_in_schema=False)
_env = Environment(loader=FileSystemLoader(Path(review.web.__file__).parent / "templates"),
                   autoescape=select_autoescape(["html"]), undefined=StrictUndefined)


@router.get("/inbox", response_class=HTMLResponse)
async def inbox(request: Request) -> HTMLResponse:
    base = str(request.base_url).rstrip("/")
    return HTMLResponse(_env.get_template("inbox.html").render(base=base))
