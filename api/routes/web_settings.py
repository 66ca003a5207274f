"""The Settings tab's forms: add a channel, number, goal or analysis, and change one (edit,
remove, archive, restore, a channel's start/pause/resume/stop); and count a remarketing
channel's audience before adding it.

Admins only, with the session's CSRF token, like every form of the campaign pages; each change goes
through the service its API endpoint calls (``api.campaign_settings``) and redirects back to the
tab. A refused change re-renders the tab with the reason, the API's status and the form as it was
filled in, its fields' messages beside them.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from agent.errors import OvertureError
from api import campaign_settings as forms
from api.deps import SessionDep
from api.routes.web import _to_signin
from api.routes.web_campaigns import BASE, _acting, _campaign_page, _url

router = APIRouter(include_in_schema=False)
# Form fields that may repeat (checkboxes); they reach the services joined by commas.
MULTI = ("audience_statuses", "audience_goal_results")


def _values(form: FormData) -> dict[str, str]:
    values = {k: str(v) for k, v in form.items() if k != "csrf"}
    for key in MULTI:
        if key in form:
            values[key] = ",".join(str(v) for v in form.getlist(key))
    return values


async def _change(request: Request, session: SessionDep, campaign_id: str, form_id: str, run, done=None) -> Response:
    """``run`` the form's change; then, by default, back to the tab with its notice (``done`` makes
    another page of the result instead)."""
    login, form, refused, status = await _acting(request, session)
    if login is None:
        return _to_signin()
    values = _values(form)
    if refused:
        return await _campaign_page(session, login, campaign_id, "settings", {}, error=refused, status=status,
                                    values=values, failed=form_id)
    try:
        notice = await run(login.principal.workspace_id, values, login.principal.key_id)
    except OvertureError as exc:
        await session.rollback()
        return await _campaign_page(session, login, campaign_id, "settings", {}, error=exc.detail, status=exc.status,
                                    values=values, failed=form_id, field_errors=forms.field_errors(exc))
    if done is not None:
        return await done(login, values, notice)
    return RedirectResponse(_url(f"{BASE}/{campaign_id}", {"tab": "settings", "notice": notice}) + "#" + quote(form_id),
                            status_code=303)


def _add_route(what: str) -> None:
    async def add(campaign_id: str, request: Request, session: SessionDep) -> Response:
        async def run(workspace_id: str, values: dict[str, str], actor: str) -> str:
            return await forms.ADD[what](session, workspace_id, campaign_id, values, actor)

        return await _change(request, session, campaign_id, f"{what}-add", run)

    router.add_api_route(f"{BASE}/{{campaign_id}}/{what}", add, methods=["POST"], name=f"web_add_{what}")


@router.post(f"{BASE}/{{campaign_id}}/channels/audience", name="web_count_audience")
async def count_audience(campaign_id: str, request: Request, session: SessionDep) -> Response:
    """The "Count contacts" button of a remarketing "Add a channel" form: the tab again with the
    form as filled in and how many contacts its audience holds; nothing is added."""
    async def run(workspace_id: str, values: dict[str, str], actor: str) -> int:
        return await forms.audience_count(session, workspace_id, campaign_id, values)

    async def shown(login, values: dict[str, str], count: int) -> Response:
        return await _campaign_page(session, login, campaign_id, "settings", {}, values=values,
                                    failed="channels-add", audience_count=count)

    return await _change(request, session, campaign_id, "channels-add", run, shown)


def _item_route(what: str) -> None:
    async def change(campaign_id: str, item_id: str, op: str, request: Request, session: SessionDep) -> Response:
        async def run(workspace_id: str, values: dict[str, str], actor: str) -> str:
            return await forms.item_op(session, workspace_id, campaign_id, what, item_id, op, values, actor)

        return await _change(request, session, campaign_id, f"{what}-{item_id}", run)

    router.add_api_route(f"{BASE}/{{campaign_id}}/{what}/{{item_id}}/{{op}}", change, methods=["POST"],
                         name=f"web_change_{what}")


for _what in forms.ADD:
    _add_route(_what)
    _item_route(_what)
