"""The review inbox: server-rendered pages over the review service.

Sign-in takes an API key once and keeps only a random session token in an HTTP-only,
SameSite=Strict cookie scoped to /inbox. Every form posts a CSRF token tied to that session.
Actions go through the same ``review.service`` calls as the API, then redirect back to the page
they came from (post/redirect/get); a refused action re-renders the page with the reason and
the reviewer's text intact. Every asset is served from ``/inbox/static``.
"""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.datastructures import FormData

import review.web
from agent.auth import WebLogin, end_web_session, resolve_key, resolve_web_session, start_web_session
from agent.errors import NotFound, OvertureError
from agent.states import Role
from api import ratelimit
from api.deps import SessionDep
from review import service, views
from review.schemas import BulkMatchIn, BulkMatchOut
from review.thread import contact_thread

router = APIRouter(include_in_schema=False)
WEB_DIR = Path(review.web.__file__).parent
STATIC_DIR = WEB_DIR / "static"
COOKIE = "overture_session"
SIGNIN_COOKIE = "overture_signin"  # double-submit token of the sign-in form (no session yet)
FILTER_KEYS = ("tab", "campaign_id", "channel", "q", "cursor")
PAGE_SIZE = 50
NOTICES = {
    "approved": "Approved.", "edited": "Saved as a new revision.", "rejected": "Rejected; the contact is back in the plan.",
    "regenerating": "Rejected; a new draft is being written with your instruction.",
    "signed_out": "Signed out.",
    "bulk": "Approved {n}; {failed} could not be approved.",
    "executed": "Queued {n} approved outreaches for sending.",
}


def _count(value: str | None) -> int:
    """A count from the query string: digits only, anything else is 0 (never echoed)."""
    return int(value) if value and value.isdigit() and len(value) <= 9 else 0


def _notice(query: Any) -> str | None:
    """The notice chosen by its code from ``NOTICES``; only whole numbers are filled in."""
    text = NOTICES.get(query.get("notice", ""))
    return text.format(n=_count(query.get("n")), failed=_count(query.get("failed"))) if text else None


def _when(value: dt.datetime | None, zone: str | None) -> str:
    if value is None:
        return "—"
    local = value.astimezone(views.zone(zone))
    return local.strftime("%a %d %b %Y, %H:%M") + f" ({local.tzname()})"


def _age(seconds: int | None) -> str:
    """A wait as a reviewer reads it: 45m, 3h 20m, 2d 4h."""
    if seconds is None:
        return "—"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


_env = Environment(loader=FileSystemLoader(WEB_DIR / "templates"), autoescape=select_autoescape(["html"]),
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_env.filters.update(when=_when, local_input=views.local_input, age=_age)


def _render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _env.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers={
        "Cache-Control": "no-store",
        "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                                   "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"})


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


async def _login(request: Request, session: SessionDep) -> WebLogin | None:
    return await resolve_web_session(session, request.cookies.get(COOKIE, ""))


def _to_signin() -> RedirectResponse:
    return RedirectResponse("/inbox/signin", status_code=303)


def _filters(source: Any) -> dict[str, str]:
    """The page's filters from a query string or a form's ``back`` field (known keys only)."""
    found = {k: str(source.get(k, "")).strip() for k in FILTER_KEYS}
    if found["tab"] not in views.TAB_BY_SLUG:
        found["tab"] = "review"
    return {k: v for k, v in found.items() if v}


def _inbox_url(filters: dict[str, str], **extra: Any) -> str:
    query = {k: v for k, v in {**filters, **extra}.items() if v not in (None, "")}
    return "/inbox" + ("?" + urlencode(query) if query else "")


def _back(form: FormData) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return _filters(dict(parse_qsl(str(form.get("back", "")))))


def _csrf_ok(login: WebLogin, form: FormData) -> bool:
    return secrets.compare_digest(str(form.get("csrf", "")), login.csrf_token)


# --- sign in / out ----------------------------------------------------------------------------

@router.get("/inbox/signin", response_class=HTMLResponse)
async def signin_page(request: Request, session: SessionDep) -> Response:
    if await _login(request, session):
        return RedirectResponse("/inbox", status_code=303)
    return _signin_form(request, notice=NOTICES.get(request.query_params.get("notice", "")))


def _signin_form(request: Request, *, error: str | None = None, notice: str | None = None,
                 status: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    response = _render("signin.html", status, error=error, notice=notice, signin_token=token)
    response.set_cookie(SIGNIN_COOKIE, token, max_age=1800, path="/inbox", httponly=True, samesite="strict",
                        secure=_secure(request))
    return response


@router.post("/inbox/signin")
async def signin(request: Request, session: SessionDep) -> Response:
    form = await request.form()
    expected = request.cookies.get(SIGNIN_COOKIE, "")
    if not expected or not secrets.compare_digest(str(form.get("signin_token", "")), expected):
        return _signin_form(request, error="The sign-in form expired; please try again.", status=400)
    try:
        await ratelimit.check(request)
    except ratelimit.TooManyFailures as exc:
        response = _signin_form(request, error="Too many failed sign-ins; wait a moment and try again.", status=429)
        response.headers["Retry-After"] = str(exc.extra["retry_after"])
        return response
    principal = await resolve_key(session, str(form.get("key", "")).strip())
    if principal is None:
        await ratelimit.failed(request)
        return _signin_form(request, error="That API key is unknown or revoked.", status=401)
    token, _ = await start_web_session(session, principal)
    response = RedirectResponse("/inbox", status_code=303)
    response.set_cookie(COOKIE, token, max_age=12 * 3600, path="/inbox", httponly=True, samesite="strict",
                        secure=_secure(request))
    response.delete_cookie(SIGNIN_COOKIE, path="/inbox")
    return response


@router.post("/inbox/signout")
async def signout(request: Request, session: SessionDep) -> Response:
    login = await _login(request, session)
    form = await request.form()
    if login is not None and not _csrf_ok(login, form):
        # A page elsewhere posting here without the token must not sign the browser out.
        return RedirectResponse("/inbox", status_code=303)
    if login is not None:
        await end_web_session(session, request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/inbox/signin?notice=signed_out", status_code=303)
    response.delete_cookie(COOKIE, path="/inbox")
    return response


# --- the page ---------------------------------------------------------------------------------

@router.get("/inbox", response_class=HTMLResponse)
async def inbox(request: Request, session: SessionDep) -> Response:
    login = await _login(request, session)
    if login is None:
        return _to_signin()
    query = request.query_params
    notice = _notice(query)
    return await _page(session, login, _filters(query), selected=query.get("id"), notice=notice)


@router.get("/inbox/counts")
async def counts(request: Request, session: SessionDep) -> Response:
    """Drafts per tab for the page's filters; the page polls it to say when the queue changed."""
    login = await _login(request, session)
    if login is None:
        return JSONResponse({"error": "signed_out"}, status_code=401)
    filters = _filters(request.query_params)
    page = await service.list_inbox(session, login.principal.workspace_id, statuses=[], limit=1,
                                    campaign_id=filters.get("campaign_id"), channel=filters.get("channel"),
                                    q=filters.get("q"))
    return JSONResponse(views.tab_counts(page.counts), headers={"Cache-Control": "no-store"})


async def _page(session: SessionDep, login: WebLogin, filters: dict[str, str], *, selected: str | None,
                notice: str | None = None, error: str | None = None, status: int = 200, panel: str | None = None,
                values: dict[str, str] | None = None) -> Response:
    view = await views.inbox_view(session, login.principal.workspace_id, filters, selected=selected, limit=PAGE_SIZE,
                                  key_id=login.principal.key_id)
    return _render(
        "inbox.html", status, login=login, can_act=login.principal.role in (Role.admin, Role.approver),
        tabs=views.TABS, tab=view.tab, counts=view.counts, page=view.page, filters=view.filters,
        back=urlencode(view.filters), selected=view.selected, detail=view.detail, missing=view.missing,
        after=view.after, prev_id=view.prev_id, next_id=view.next_id, names=view.names, campaigns=view.campaigns,
        thread=view.thread, me=view.me, workspace=view.workspace, notice=notice, error=error or view.error, panel=panel, values=values or {}, inbox_url=_inbox_url,
        channels=("email", "sms", "voice", "task"))


@router.get("/inbox/thread/{outreach_id}", include_in_schema=False)
async def thread_fragment(outreach_id: str, request: Request, session: SessionDep) -> Response:
    """The contact's story beside a draft, alone: the open inbox polls it so a reply that comes in
    while the reviewer reads shows up (and the cancelled draft says so) without a reload."""
    login = await _login(request, session)
    if login is None:
        return Response(status_code=401)
    try:
        thread = await contact_thread(session, login.principal.workspace_id, outreach_id)
    except NotFound:
        return Response(status_code=404)
    return _render("thread.html", t=thread, tz=thread.contact_timezone)


# --- actions ----------------------------------------------------------------------------------

async def _acting(request: Request, session: SessionDep) -> tuple[WebLogin | None, FormData, Response | None]:
    """The signed-in approver behind a form post, or the response refusing it."""
    login = await _login(request, session)
    form = await request.form()
    if login is None:
        return None, form, _to_signin()
    if not _csrf_ok(login, form):
        return login, form, await _page(session, login, _back(form), selected=None, status=403,
                                        error="The form was stale or not from this page (CSRF check). Reload and try again.")
    if login.principal.role not in (Role.admin, Role.approver):
        return login, form, await _page(session, login, _back(form), selected=None, status=403,
                                        error=f"The {login.principal.role.value} role may look but not act.")
    return login, form, None


def _version(form: FormData) -> int | None:
    raw = str(form.get("version", ""))
    return int(raw) if raw.isdigit() else None


async def _refused(session: SessionDep, login: WebLogin, form: FormData, outreach_id: str, exc: OvertureError,
                   **kw: Any) -> Response:
    await session.rollback()
    message = exc.detail
    if exc.code == "stale":
        message = "Someone changed this draft while you were looking. It has been reloaded; check it and try again."
    return await _page(session, login, _back(form), selected=outreach_id, error=message, status=exc.status, **kw)


@router.post("/inbox/outreaches/{outreach_id}/approve")
async def approve(outreach_id: str, request: Request, session: SessionDep) -> Response:
    login, form, refused = await _acting(request, session)
    if refused or login is None:
        return refused or _to_signin()
    try:
        await service.approve(session, login.principal, outreach_id, version=_version(form))
    except OvertureError as exc:
        return await _refused(session, login, form, outreach_id, exc)
    return RedirectResponse(_inbox_url(_back(form), id=form.get("after"), notice="approved"), status_code=303)


@router.post("/inbox/outreaches/{outreach_id}/edit")
async def edit(outreach_id: str, request: Request, session: SessionDep) -> Response:
    login, form, refused = await _acting(request, session)
    if refused or login is None:
        return refused or _to_signin()
    values = {k: str(form.get(k, "")) for k in ("subject", "body", "scheduled_local")}
    try:
        changes = await views.edit_changes(session, login.principal.workspace_id, outreach_id,
                                           subject=values["subject"] if "subject" in form else None,
                                           body=values["body"], scheduled_local=values["scheduled_local"])
        if not changes:
            return RedirectResponse(_inbox_url(_back(form), id=outreach_id), status_code=303)
        await service.edit(session, login.principal, outreach_id, version=_version(form), changes=changes)
    except OvertureError as exc:
        return await _refused(session, login, form, outreach_id, exc, panel="edit", values=values)
    return RedirectResponse(_inbox_url(_back(form), id=outreach_id, notice="edited"), status_code=303)


@router.post("/inbox/outreaches/{outreach_id}/reject")
async def reject(outreach_id: str, request: Request, session: SessionDep) -> Response:
    login, form, refused = await _acting(request, session)
    if refused or login is None:
        return refused or _to_signin()
    instruction = str(form.get("instruction", "")).strip()
    reason = str(form.get("reason", "")).strip()
    choice = form.get("regenerate")  # which button; a keyboard submit has none: redraft if instructed
    regenerate = choice == "on" if choice in ("on", "off") else bool(instruction)
    try:
        await service.reject(session, login.principal, outreach_id, reason=reason, regenerate=regenerate,
                             instruction=instruction or None, version=_version(form))
    except OvertureError as exc:
        return await _refused(session, login, form, outreach_id, exc, panel="reject",
                              values={"reason": reason, "instruction": instruction})
    notice = "regenerating" if regenerate else "rejected"
    return RedirectResponse(_inbox_url(_back(form), id=form.get("after"), notice=notice), status_code=303)


@router.post("/inbox/approve")
async def approve_selected(request: Request, session: SessionDep) -> Response:
    login, form, refused = await _acting(request, session)
    if refused or login is None:
        return refused or _to_signin()
    ids = [str(i) for i in form.getlist("ids")][:500]
    if not ids:
        return await _page(session, login, _back(form), selected=None, status=422,
                           error="Select at least one draft to approve.")
    versions = {i: int(v) for i in ids if (v := str(form.get(f"v_{i}", ""))).isdigit()}
    result = await service.approve_many(session, login.principal, ids, versions)
    failed = len(result.results) - result.approved
    return RedirectResponse(_inbox_url(_back(form), notice="bulk", n=result.approved, failed=failed), status_code=303)


@router.get("/inbox/execute", response_class=HTMLResponse)
async def execute_confirm(request: Request, session: SessionDep) -> Response:
    login = await _login(request, session)
    if login is None:
        return _to_signin()
    filters = _filters(request.query_params)
    wanted = request.query_params.get("campaign_id")
    choices = [c for c in await views.campaign_choices(session, login.principal.workspace_id)
               if c.approved and (not wanted or c.id == wanted)]
    plans = await views.execute_plans(session, login.principal.workspace_id, choices)
    return _render("execute.html", login=login, plans=plans, shown=views.EXECUTE_SHOWN, back=urlencode(filters),
                   can_act=login.principal.role in (Role.admin, Role.approver), inbox_url=_inbox_url, filters=filters)


@router.post("/inbox/campaigns/{campaign_id}/execute")
async def execute(campaign_id: str, request: Request, session: SessionDep) -> Response:
    login, form, refused = await _acting(request, session)
    if refused or login is None:
        return refused or _to_signin()
    if form.get("confirm") != "yes":
        return RedirectResponse(_inbox_url(_back(form)), status_code=303)
    try:
        queued = await service.execute_approved(session, login.principal, campaign_id)
    except OvertureError as exc:
        await session.rollback()
        return await _page(session, login, _back(form), selected=None, error=exc.detail, status=exc.status)
    return RedirectResponse(_inbox_url(_back(form), notice="executed", n=queued), status_code=303)


# --- approve or reject everything a filter matches ---------------------------------------------

def _bulk_action(value: Any) -> str:
    return "reject" if value == "reject" else "approve"


@router.get("/inbox/bulk", response_class=HTMLResponse)
async def bulk_confirm(request: Request, session: SessionDep) -> Response:
    """How many drafts the page's filters match, before anything is done to them."""
    login = await _login(request, session)
    if login is None:
        return _to_signin()
    filters = _filters(request.query_params)
    action = _bulk_action(request.query_params.get("action"))
    counted = await service.act_on_matching(session, login.principal, BulkMatchIn(
        action=action, campaign_id=filters.get("campaign_id"), channel=filters.get("channel"),
        q=filters.get("q"), dry_run=True))
    return await _bulk_page(session, login, filters, action, counted, None)


async def _bulk_page(session: SessionDep, login: WebLogin, filters: dict[str, str], action: str,
                     counted: BulkMatchOut, done: BulkMatchOut | None) -> Response:
    workspace_id = login.principal.workspace_id
    names = {c.id: c.name for c in await views.campaign_choices(session, workspace_id)}
    who = await views.recipients_of(session, workspace_id, [r.id for r in done.results]) if done else {}
    return _render("bulk.html", login=login, action=action, counted=counted, done=done, who=who,
                   filters={k: v for k, v in filters.items() if k not in ("cursor", "tab")}, back=urlencode(filters),
                   campaign_name=names.get(filters.get("campaign_id", "")), inbox_url=_inbox_url,
                   can_act=login.principal.role in (Role.admin, Role.approver))


@router.post("/inbox/bulk")
async def bulk_act(request: Request, session: SessionDep) -> Response:
    login, form, refused = await _acting(request, session)
    if refused or login is None:
        return refused or _to_signin()
    filters = _back(form)
    action = _bulk_action(form.get("action"))
    items = {}
    for raw in form.getlist("item")[:500]:
        oid, _, version = str(raw).partition(":")
        if oid and version.isdigit():
            items[oid] = int(version)
    instruction = str(form.get("instruction", "")).strip()[:2000]
    want = BulkMatchIn(action=action, campaign_id=filters.get("campaign_id"), channel=filters.get("channel"),
                       q=filters.get("q"), items=items, reason=str(form.get("reason", "")).strip()[:2000],
                       regenerate=action == "reject" and bool(instruction), instruction=instruction or None)
    done = await service.act_on_matching(session, login.principal, want)
    return await _bulk_page(session, login, filters, action, done, done)
