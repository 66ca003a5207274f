"""``/u/{token}``: the unsubscribe page (GET, never unsubscribes) and its POST (RFC 8058 one-click
or the page's confirm button). No key: the token itself is the proof; an unknown one is 404."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from agent.inbound.unsubscribe import Target, find_target, unsubscribe
from api.deps import SessionDep
from api.routes.web import WEB_DIR

router = APIRouter(include_in_schema=False)
ONE_CLICK = "List-Unsubscribe=One-Click"
_env = Environment(loader=FileSystemLoader(WEB_DIR / "templates"), autoescape=select_autoescape(["html"]),
                   undefined=StrictUndefined)


def _page(state: str, status: int = 200, target: Target | None = None, **context: Any) -> HTMLResponse:
    if target is not None:
        context.update(address=target.address, sender=target.sender, token=target.outreach.unsubscribe_token)
    html = _env.get_template("unsubscribe.html").render(state=state, **context)
    return HTMLResponse(html, status_code=status, headers={
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                                   "frame-ancestors 'none'; base-uri 'none'"})


@router.get("/u/{token}", response_class=HTMLResponse)
async def unsubscribe_page(token: str, session: SessionDep) -> HTMLResponse:
    """Shows the confirm button only: scanners and previews follow GETs, so a GET changes nothing."""
    target = await find_target(session, token)
    if target is None:
        return _page("unknown", 404)
    return _page("confirm", target=target)


@router.post("/u/{token}", response_class=HTMLResponse)
async def unsubscribe_post(token: str, request: Request, session: SessionDep) -> HTMLResponse:
    """RFC 8058 one-click (body ``List-Unsubscribe=One-Click``) or the page's form: opted out at once;
    a repeat answers the same page and changes nothing."""
    target = await find_target(session, token)
    if target is None:
        return _page("unknown", 404)
    body = (await request.body())[:1000].decode("utf-8", "replace")
    await unsubscribe(session, target, one_click=ONE_CLICK in body)
    return _page("done", target=target)
