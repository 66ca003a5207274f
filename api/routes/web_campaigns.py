"""The campaign web app: the list, each campaign's tabs, a contact's page, creating a campaign,
editing its settings and moving it through its lifecycle.

Behind the inbox's sign-in (the same session cookie, scoped to ``/inbox``, so these pages live
under ``/inbox/campaigns``; ``/`` sends the browser there). Every form posts the session's CSRF
token; every change goes through the same services as the API (``api.campaign_pages`` calls
them) and redirects back (post/redirect/get). A refused change re-renders the page with the
reason and the status the API would answer, never a 500.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from agent.auth import WebLogin
from agent.errors import OvertureError
from agent.states import Role
from api import campaign_pages as pages
from api import campaign_settings as forms
from api.deps import SessionDep
from api.routes.exports import file_response
from api.routes.web import _csrf_ok, _login, _render, _to_signin

router = APIRouter(include_in_schema=False)
BASE = "/inbox/campaigns"
NOTICES = {
    "created": "Campaign created as a draft.", "saved": "Settings saved.",
    "duplicated": "Campaign duplicated: this is the new draft (no contacts yet).", "deleted": "Campaign deleted.",
    "moved": "Done: the campaign is now {status}.",
    "bulk": "{n} moved; {failed} could not be (their status does not allow it).",
    "export": "Export queued; its status below updates until the file is ready.",
    "channel_added": "Channel added.", "channel_saved": "Channel saved.", "channel_removed": "Channel removed.",
    "channel_moved": "Done: the channel moved.", "number_added": "Number added.", "number_saved": "Number saved.",
    "number_removed": "Number removed.", "goal_added": "Goal added.", "goal_saved": "Goal saved.",
    "goal_archived": "Goal archived.", "goal_restored": "Goal restored.", "analysis_added": "Analysis added.",
    "analysis_saved": "Analysis saved.", "analysis_archived": "Analysis archived.",
    "analysis_restored": "Analysis restored.",
}
STATUS_WORDS = {"draft", "active", "paused", "completed", "cancelled", "archived"}


def _url(path: str, query: dict[str, Any] | None = None) -> str:
    query = {k: v for k, v in (query or {}).items() if v not in (None, "")}
    return path + ("?" + urlencode(query) if query else "")


def _notice(query: Any) -> str | None:
    text = NOTICES.get(query.get("notice", ""))
    if not text:
        return None
    digits = {k: v if (v := str(query.get(k, ""))).isdigit() and len(v) < 7 else "0" for k in ("n", "failed")}
    status = query.get("status_now", "")
    return text.format(status=status if status in STATUS_WORDS else "changed", **digits)


def _can_edit(login: WebLogin) -> bool:
    return login.principal.role == Role.admin


async def _acting(request: Request, session: SessionDep, roles: tuple[Role, ...] = (Role.admin,),
                  what: str = "change campaigns") -> tuple[WebLogin | None, FormData, str | None, int]:
    """The signed-in user behind a form post if their role is one of ``roles``, or why not (message and status)."""
    login = await _login(request, session)
    form = await request.form()
    if login is None:
        return None, form, None, 401
    if not _csrf_ok(login, form):
        return login, form, "The form was stale or not from this page (CSRF check). Reload and try again.", 403
    if login.principal.role not in roles:
        return login, form, f"The {login.principal.role.value} role may look but not {what}.", 403
    return login, form, None, 200


# --- pages ------------------------------------------------------------------------------------

@router.get("/")
async def home() -> Response:
    return RedirectResponse(BASE, status_code=303)


@router.get(BASE, response_class=HTMLResponse)
async def campaign_list(request: Request, session: SessionDep) -> Response:
    login = await _login(request, session)
    if login is None:
        return _to_signin()
    return await _list_page(session, login, request.query_params, notice=_notice(request.query_params))


async def _list_page(session: SessionDep, login: WebLogin, query: Any, *, notice: str | None = None,
                     error: str | None = None, status: int = 200) -> Response:
    try:
        view = await pages.list_view(session, login.principal.workspace_id, query)
    except OvertureError as exc:  # a forged cursor: the first page, with the reason
        view = await pages.list_view(session, login.principal.workspace_id, {k: v for k, v in query.items()
                                                                                if k != "cursor"})
        error, status = exc.detail, exc.status
    return _render("campaigns.html", status, login=login, can_edit=_can_edit(login), notice=notice, error=error,
                   url=_url, base=BASE, **view)


@router.get(BASE + "/new", response_class=HTMLResponse)
async def new_campaign(request: Request, session: SessionDep) -> Response:
    login = await _login(request, session)
    if login is None:
        return _to_signin()
    return _new_form(login)


def _new_form(login: WebLogin, *, values: dict[str, Any] | None = None, kinds: list[str] | None = None,
              error: str | None = None, status: int = 200) -> Response:
    return _render("campaign_new.html", status, login=login, can_edit=_can_edit(login), error=error,
                   values=values or {"manual_review": "on", "timezone": "UTC"}, kinds=kinds or ["email"],
                   channel_kinds=("email", "sms", "voice", "task"), base=BASE, url=_url)


@router.post(BASE + "/new")
async def create_campaign(request: Request, session: SessionDep) -> Response:
    login, form, refused, status = await _acting(request, session)
    if login is None:
        return _to_signin()
    values = {k: str(form.get(k, "")) for k in ("name", "type", "execution_mode", "manual_review", "brief",
                                                "timezone", "start_at", "notes", "ai_variables")}
    kinds = [str(k) for k in form.getlist("channels")][:4]
    if refused:
        return _new_form(login, values=values, kinds=kinds, error=refused, status=status)
    try:
        campaign_id = await pages.create_from_form(session, login.principal.workspace_id, values, kinds,
                                                   login.principal.key_id)
    except OvertureError as exc:
        await session.rollback()
        return _new_form(login, values=values, kinds=kinds, error=exc.detail, status=exc.status)
    return RedirectResponse(_url(f"{BASE}/{campaign_id}", {"tab": "settings", "notice": "created"}), status_code=303)


async def _on_list(request: Request, session: SessionDep,
                   move: Callable[[WebLogin, FormData], Awaitable[dict[str, Any]]]) -> Response:
    """A form posted from the list: ``move`` (which answers the notice to show), then the list again
    with the filters it was on; a refused move is the list with the reason and nothing changed."""
    login, form, refused, status = await _acting(request, session)
    if login is None:
        return _to_signin()
    back = _back(form)
    if refused:
        return await _list_page(session, login, back, error=refused, status=status)
    try:
        notice = await move(login, form)
    except OvertureError as exc:
        await session.rollback()
        return await _list_page(session, login, back, error=exc.detail, status=exc.status)
    return RedirectResponse(_url(BASE, {**back, **notice}), status_code=303)


@router.post(BASE + "/bulk")
async def bulk_action(request: Request, session: SessionDep) -> Response:
    async def move(login: WebLogin, form: FormData) -> dict[str, Any]:
        moved, failed = await pages.bulk(session, login.principal.workspace_id, str(form.get("action", "")),
                                         [str(i) for i in form.getlist("ids")], login.principal.key_id)
        return {"notice": "bulk", "n": moved, "failed": failed}

    return await _on_list(request, session, move)


@router.post(BASE + "/{campaign_id}/status")
async def list_status_move(campaign_id: str, request: Request, session: SessionDep) -> Response:
    """A row's status menu on the list: one lifecycle move, the form's ``action``."""
    async def move(login: WebLogin, form: FormData) -> dict[str, Any]:
        now = await pages.act(session, login.principal.workspace_id, campaign_id, str(form.get("action", "")),
                              login.principal.key_id)
        return {"notice": "moved", "status_now": now}

    return await _on_list(request, session, move)


def _back(form: FormData) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return {k: v for k, v in parse_qsl(str(form.get("back", ""))) if k in ("q", "sort", "status", "tab")}


@router.get(BASE + "/{campaign_id}", response_class=HTMLResponse)
async def campaign_page(campaign_id: str, request: Request, session: SessionDep) -> Response:
    login = await _login(request, session)
    if login is None:
        return _to_signin()
    query = request.query_params
    return await _campaign_page(session, login, campaign_id, query.get("tab", "dashboard"), query,
                                notice=_notice(query))


async def _campaign_page(session: SessionDep, login: WebLogin, campaign_id: str, tab: str, query: Any, *,
                         notice: str | None = None, error: str | None = None, status: int = 200,
                         values: dict[str, str] | None = None, failed: str | None = None,
                         field_errors: dict[str, str] | None = None, audience_count: int | None = None) -> Response:
    """The tab; after a refused form, ``failed`` names that form, which shows ``values`` and
    ``field_errors`` (a message per input) instead of the stored ones; ``audience_count`` is the
    size of the remarketing audience that form asked to count."""
    try:
        view = await pages.campaign_view(session, login.principal.workspace_id, campaign_id, tab, query)
    except OvertureError as exc:
        if exc.code == "not_found":
            return _missing(login)
        # A forged cursor or filter: the tab without it, and the reason.
        view = await pages.campaign_view(session, login.principal.workspace_id, campaign_id, tab, {})
        error, status = exc.detail, exc.status
    return _render("campaign.html", status, login=login, can_edit=_can_edit(login), notice=notice, error=error,
                   values=values or {}, failed=failed, field_errors=field_errors or {}, audience_count=audience_count,
                   url=_url, base=BASE, **view)


def _missing(login: WebLogin) -> Response:
    return _render("campaign_missing.html", 404, login=login, base=BASE)


@router.get(BASE + "/{campaign_id}/contacts/{contact_id}", response_class=HTMLResponse)
async def contact_page(campaign_id: str, contact_id: str, request: Request, session: SessionDep) -> Response:
    login = await _login(request, session)
    if login is None:
        return _to_signin()
    try:
        view = await pages.contact_view(session, login.principal.workspace_id, campaign_id, contact_id)
    except OvertureError:
        return _missing(login)
    return _render("contact.html", login=login, url=_url, base=BASE, **view)


@router.post(BASE + "/{campaign_id}/actions/{action}")
async def campaign_action(campaign_id: str, action: str, request: Request, session: SessionDep) -> Response:
    login, form, refused, status = await _acting(request, session)
    if login is None:
        return _to_signin()
    tab = _back(form).get("tab", "dashboard")
    if refused:
        return await _campaign_page(session, login, campaign_id, tab, {}, error=refused, status=status)
    try:
        now = await pages.act(session, login.principal.workspace_id, campaign_id, action, login.principal.key_id)
    except OvertureError as exc:
        await session.rollback()
        return await _campaign_page(session, login, campaign_id, tab, {}, error=exc.detail, status=exc.status)
    return RedirectResponse(_url(f"{BASE}/{campaign_id}", {"tab": tab, "notice": "moved", "status_now": now}),
                            status_code=303)


@router.post(BASE + "/{campaign_id}/duplicate")
async def duplicate_campaign(campaign_id: str, request: Request, session: SessionDep) -> Response:
    login, form, refused, status = await _acting(request, session)
    if login is None:
        return _to_signin()
    if refused:
        return await _campaign_page(session, login, campaign_id, "settings", {}, error=refused, status=status)
    try:
        copy_id = await pages.duplicate(session, login.principal.workspace_id, campaign_id, login.principal.key_id)
    except OvertureError:
        return _missing(login)
    return RedirectResponse(_url(f"{BASE}/{copy_id}", {"tab": "settings", "notice": "duplicated"}), status_code=303)


@router.post(BASE + "/{campaign_id}/delete")
async def delete_campaign(campaign_id: str, request: Request, session: SessionDep) -> Response:
    login, form, refused, status = await _acting(request, session)
    if login is None:
        return _to_signin()
    typed = str(form.get("confirm_name", ""))[:200]
    if refused:
        return await _campaign_page(session, login, campaign_id, "settings", {}, error=refused, status=status)
    try:
        await pages.delete_confirmed(session, login.principal.workspace_id, campaign_id, typed, login.principal.key_id)
    except OvertureError as exc:
        await session.rollback()
        return await _campaign_page(session, login, campaign_id, "settings", {}, error=exc.detail, status=exc.status,
                                    values={"confirm_name": typed}, failed="delete-form",
                                    field_errors=forms.field_errors(exc))
    return RedirectResponse(_url(BASE, {"notice": "deleted"}), status_code=303)


@router.post(BASE + "/{campaign_id}/settings")
async def save_settings(campaign_id: str, request: Request, session: SessionDep) -> Response:
    login, form, refused, status = await _acting(request, session)
    if login is None:
        return _to_signin()
    values = {k: str(form[k]) for k in pages.SETTINGS_FORM_FIELDS if k in form}
    if refused:
        return await _campaign_page(session, login, campaign_id, "settings", {}, error=refused, status=status,
                                    values=values, failed="settings-form")
    try:
        await pages.update_from_form(session, login.principal.workspace_id, campaign_id, values,
                                     login.principal.key_id)
    except OvertureError as exc:
        await session.rollback()
        return await _campaign_page(session, login, campaign_id, "settings", {}, error=exc.detail, status=exc.status,
                                    values=values, failed="settings-form", field_errors=forms.field_errors(exc))
    return RedirectResponse(_url(f"{BASE}/{campaign_id}", {"tab": "settings", "notice": "saved"}), status_code=303)


@router.post(BASE + "/{campaign_id}/exports")
async def start_export(campaign_id: str, request: Request, session: SessionDep) -> Response:
    """Queue an export; the same roles as ``POST /v1/campaigns/{id}/exports`` (admins and approvers)."""
    login, form, refused, status = await _acting(request, session, (Role.admin, Role.approver), "start exports")
    if login is None:
        return _to_signin()
    if refused:
        return await _campaign_page(session, login, campaign_id, "exports", {}, error=refused, status=status)
    try:
        await pages.start_export(session, login.principal.workspace_id, campaign_id, str(form.get("format", "")),
                                 login.principal.key_id)
    except OvertureError as exc:
        await session.rollback()
        return await _campaign_page(session, login, campaign_id, "exports", {}, error=exc.detail, status=exc.status)
    return RedirectResponse(_url(f"{BASE}/{campaign_id}", {"tab": "exports", "notice": "export"}), status_code=303)


@router.get(BASE + "/{campaign_id}/exports/{export_id}/download")
async def download_export(campaign_id: str, export_id: str, request: Request, session: SessionDep) -> Response:
    """The file, the same bytes as ``GET /v1/exports/{id}/download``, for any role of the session's workspace."""
    login = await _login(request, session)
    if login is None:
        return _to_signin()
    try:
        return await file_response(session, login.principal.workspace_id, export_id, campaign_id)
    except OvertureError as exc:
        if exc.code == "not_found":
            return _missing(login)
        return await _campaign_page(session, login, campaign_id, "exports", {}, error=exc.detail, status=exc.status)
