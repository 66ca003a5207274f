"""What each page of the campaign web app shows, assembled from the services the API uses.

The routes (``api.routes.web_campaigns``) only read the form or query, call one of these and
render. Here rather than in ``review/``: the contact table needs the goal roll-ups of
``evaluators``, which ``review`` may not import (tests/test_layering.py).

The campaign page's tabs are defined once, in ``TABS``: a new tab (the Exports download) adds
an entry there, a branch in ``campaign_view`` and a ``{% elif tab == '...' %}`` block in
campaign.html.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity
from agent.campaigns import service as campaigns
from agent.campaigns.schemas import CampaignCreate, CampaignSettings, CampaignUpdate
from agent.contacts import repository as contact_repo
from agent.errors import ValidationFailed
from agent.filters import parse_statuses
from agent.lifecycle import campaigns as lifecycle
from agent.reports import exports, stats
from agent.numbers import repository as number_repository
from agent.reports.export_files import ExportFormat
from agent.schedules import repository as schedule_repository
from agent.states import (CAMPAIGN_TRANSITIONS, CampaignAction, CampaignStatus, ChannelKind, EnrollmentStatus, JobStatus,
                          OutreachStatus)
from api import campaign_settings as forms
from api.campaign_settings import validated as _validated
from evaluators import goals, rollup
from review.thread import enrollment_entries
from review import views
from review.web import charts


@dataclass(frozen=True)
class Tab:
    slug: str
    label: str


TABS = (Tab("dashboard", "Dashboard"), Tab("contacts", "Contacts"), Tab("activity", "Activity"),
        Tab("settings", "Settings"), Tab("exports", "Exports"))
TAB_SLUGS = {t.slug for t in TABS}

LIST_SORTS = (("-created_at", "Newest first"), ("created_at", "Oldest first"), ("name", "Name A–Z"),
              ("-name", "Name Z–A"), ("status", "Status"), ("start_at", "Start date"),
              ("-start_at", "Start date, latest first"), ("-contacts_count", "Most contacts"),
              ("contacts_count", "Fewest contacts"))
LIST_STATUSES = ("draft", "active", "paused", "completed", "cancelled", "archived")
BULK_ACTIONS = ("pause", "resume", "archive")
# Lifecycle buttons in the order a manager meets them; each shows only where the state table allows it.
ACTION_ORDER = (CampaignAction.go_live, CampaignAction.pause, CampaignAction.resume, CampaignAction.complete,
                CampaignAction.cancel, CampaignAction.archive)
ACTION_LABELS = {CampaignAction.go_live: "Start (go live)", CampaignAction.pause: "Pause",
                 CampaignAction.resume: "Resume", CampaignAction.complete: "Complete",
                 CampaignAction.cancel: "Stop (cancel)", CampaignAction.archive: "Archive"}
PENDING = {OutreachStatus.awaiting_approval, OutreachStatus.approved, OutreachStatus.awaiting_execution}
PAGE = 50


def _clean(query: Any, keys: tuple[str, ...]) -> dict[str, str]:
    return {k: v for k in keys if (v := str(query.get(k, "") or "").strip())}


# --- the campaign list ------------------------------------------------------------------------

async def list_view(session: AsyncSession, workspace_id: str, query: Any) -> dict[str, Any]:
    """The list for the page's search, sort and status filter (unknown choices fall back)."""
    filters = _clean(query, ("q", "sort", "status", "cursor"))
    if filters.get("sort") not in dict(LIST_SORTS):
        filters.pop("sort", None)
    if filters.get("status") not in LIST_STATUSES:
        filters.pop("status", None)
    status = filters.get("status")
    items, next_cursor = await campaigns.list_campaigns(
        session, workspace_id, statuses=parse_statuses(status, CampaignStatus) if status else None,
        q=filters.get("q", "")[:200] or None, sort=filters.get("sort", "-created_at"), cursor=filters.get("cursor"),
        limit=PAGE)
    return {"items": items, "next_cursor": next_cursor, "filters": filters, "sorts": LIST_SORTS,
            "statuses": LIST_STATUSES, "bulk_actions": BULK_ACTIONS, "allowed_actions": allowed_actions,
            "action_labels": ACTION_LABELS,
            "numbers": await number_repository.numbers_by_campaign(session, [c.id for c in items])}


async def bulk(session: AsyncSession, workspace_id: str, action: str, ids: list[str], actor: str) -> tuple[int, int]:
    """(moved, refused) after applying ``action`` to each id on its own."""
    if action not in BULK_ACTIONS:
        raise ValidationFailed("choose pause, resume or archive", errors=[{"loc": ["action"], "message": "unknown"}])
    if not ids:
        raise ValidationFailed("select at least one campaign", errors=[{"loc": ["ids"], "message": "empty"}])
    result = await lifecycle.bulk_action(session, workspace_id, ids[:200], CampaignAction(action), actor)
    return result.done, len(result.results) - result.done


# --- one campaign -----------------------------------------------------------------------------

def allowed_actions(status: str) -> list[CampaignAction]:
    return [a for a in ACTION_ORDER if CampaignStatus(status) in CAMPAIGN_TRANSITIONS[a][0]]


async def campaign_view(session: AsyncSession, workspace_id: str, campaign_id: str, tab: str,
                        query: Any) -> dict[str, Any]:
    campaign = await campaigns.get(session, workspace_id, campaign_id)
    tab = tab if tab in TAB_SLUGS else "dashboard"
    view: dict[str, Any] = {"campaign": await campaigns.to_out(session, campaign), "tab": tab, "tabs": TABS,
                            "actions": allowed_actions(campaign.status), "action_labels": ACTION_LABELS,
                            "read_only": campaign.status == CampaignStatus.archived}
    if tab == "dashboard":
        view.update(dashboard(await stats.campaign_stats(session, campaign)))
    elif tab == "contacts":
        view.update(await contacts_tab(session, workspace_id, campaign, query))
    elif tab == "activity":
        view.update(await activity_tab(session, workspace_id, campaign, query))
    elif tab == "settings":
        view.update(await settings_tab(session, workspace_id, campaign))
    elif tab == "exports":
        view.update(await exports_tab(session, workspace_id, campaign))
    return view


def _figures(title: str, values: dict[str, Any], chart_id: str) -> dict[str, Any]:
    rows = [(k.replace("_", " "), v) for k, v in values.items() if isinstance(v, (int, float))]
    return {"id": chart_id, "title": title, "rows": rows,
            "svg": charts.bars(chart_id, title, [charts.Bar(k, v) for k, v in rows])}


def dashboard(figures: dict[str, Any]) -> dict[str, Any]:
    """The stats as charts, each with its figures as a table beside it."""
    voice = figures["voice"]
    panels = [
        _figures("Contacts", figures["all"], "chart-all"),
        _figures("Contact status", {s: n for s, n in figures["statuses"].items() if n}, "chart-statuses"),
        _figures("Email", figures["email"], "chart-email"),
        _figures("SMS", figures["sms"], "chart-sms"),
        _figures("Calls", {k: voice[k] for k in ("calls", "conversations")}, "chart-calls"),
        _figures("Answer status", voice["answer_status"], "chart-answer"),
        _figures("Tasks", figures["tasks"], "chart-tasks"),
        _figures("Flow: contacts per step", {f"step {f['step']} ({f['channel']})": f["contacts"]
                                             for f in figures["flow"]}, "chart-flow"),
    ]
    for i, g in enumerate(figures["goals"]):
        counts = {k: v for k, v in g.items() if k not in ("goal_id", "name", "is_primary")}
        panels.append(_figures(f"Goal: {g['name']}{' (primary)' if g['is_primary'] else ''}", counts, f"chart-goal-{i}"))
    heat = figures["heatmap"]
    return {"stats": figures, "panels": panels, "voice": voice,
            "heat_svg": charts.heatmap("chart-heatmap", f"Human answers by weekday and hour ({heat['timezone']})",
                                       heat["cells"]),
            "heat_rows": sorted(((charts.WEEKDAYS[c["weekday"]], c["hour"], c["calls"], c["human"])
                                 for c in heat["cells"] if c["calls"]), key=lambda r: (charts.WEEKDAYS.index(r[0]), r[1])),
            "heat_zone": heat["timezone"]}


async def contacts_tab(session: AsyncSession, workspace_id: str, campaign: Any, query: Any) -> dict[str, Any]:
    filters = _clean(query, ("status", "q", "cursor"))
    if filters.get("status") not in {s.value for s in EnrollmentStatus}:
        filters.pop("status", None)
    status = filters.get("status")
    kept, next_cursor = await contact_repo.list_enrollments(
        session, workspace_id, campaign.id, statuses=[EnrollmentStatus(status)] if status else None, substatus=None,
        q=filters.get("q", "")[:200] or None, limit=PAGE, cursor=filters.get("cursor"))
    ids = [e.id for e, _ in kept]
    primaries = await rollup.primary_results(session, campaign.id, ids)
    totals = await contact_repo.conversation_totals(session, ids)
    counts = await contact_repo.status_counts(session, campaign.id)
    max_attempts = CampaignSettings.model_validate(campaign.settings).max_attempts
    rows = [{"enrollment": e, "contact": c, "primary": primaries.get(e.id), "conversations": totals.get(e.id, (0, 0.0)),
             "max_attempts": max_attempts} for e, c in kept]
    return {"rows": rows, "next_cursor": next_cursor, "filters": filters, "status_counts": counts,
            "enrollment_statuses": [s.value for s in EnrollmentStatus if s != EnrollmentStatus.removed]}


def _day_bounds(day: str, zone: str, end: bool) -> dt.datetime | None:
    """A date from the form, read in the campaign's time zone: its start (or the next day's)."""
    try:
        d = dt.date.fromisoformat(day)
    except ValueError:
        return None
    if end:
        d += dt.timedelta(days=1)
    return dt.datetime.combine(d, dt.time(), tzinfo=ZoneInfo(zone or "UTC"))


async def activity_tab(session: AsyncSession, workspace_id: str, campaign: Any, query: Any) -> dict[str, Any]:
    filters = _clean(query, ("kind", "channel", "step", "contact_id", "since", "until", "cursor"))
    if filters.get("channel") not in {k.value for k in ChannelKind}:
        filters.pop("channel", None)
    if not filters.get("step", "").isdigit() or len(filters["step"]) > 3:
        filters.pop("step", None)
    since = _day_bounds(filters.get("since", ""), campaign.timezone, end=False)
    until = _day_bounds(filters.get("until", ""), campaign.timezone, end=True)
    for key, value in (("since", since), ("until", until)):
        if value is None:
            filters.pop(key, None)
    kinds = [k.strip() for k in filters.get("kind", "").split(",") if k.strip()][:20]
    events, next_cursor = await activity.list_events(
        session, workspace_id=workspace_id, campaign_id=campaign.id, kinds=kinds or None,
        contact_id=filters.get("contact_id"), since=since, until=until, cursor=filters.get("cursor"), limit=PAGE,
        channel=filters.get("channel"), step=int(filters["step"]) if "step" in filters else None)
    return {"events": events, "next_cursor": next_cursor, "filters": filters,
            "names": await views.actor_names(session, workspace_id, {e.actor for e in events}),
            "channels": [k.value for k in ChannelKind], "event_kinds": await activity.kinds_of(session, campaign.id)}


async def settings_tab(session: AsyncSession, workspace_id: str, campaign: Any) -> dict[str, Any]:
    # A linked schedule's hours are shown (read-only) where the campaign's own would be.
    return {**await forms.tab_data(session, workspace_id, campaign),
            "call_settings": CampaignSettings.model_validate(campaign.settings).model_dump(),
            "hours": hours_text(campaign.hours), "weekdays": WEEKDAYS,
            "schedules": await schedule_repository.list_schedules(session, workspace_id)}


EXPORT_FORMATS = ((ExportFormat.csv, "CSV (comma)"), (ExportFormat.csv_semicolon, "CSV (semicolon, decimal comma)"),
                  (ExportFormat.xlsx, "Excel (.xlsx)"), (ExportFormat.json, "JSON"))
UNFINISHED = {JobStatus.queued, JobStatus.running}


async def exports_tab(session: AsyncSession, workspace_id: str, campaign: Any) -> dict[str, Any]:
    """The export history, newest first; ``running`` while one is queued or running (the page then polls)."""
    jobs = await exports.history(session, campaign.id, PAGE)
    return {"exports": jobs, "formats": EXPORT_FORMATS, "running": any(j.status in UNFINISHED for j in jobs),
            "names": await views.actor_names(session, workspace_id, {j.created_by for j in jobs if j.created_by})}


async def start_export(session: AsyncSession, workspace_id: str, campaign_id: str, fmt: str, actor: str) -> None:
    """Queue an export through the same service as ``POST /v1/campaigns/{id}/exports``."""
    try:
        chosen = ExportFormat(fmt)
    except ValueError:
        raise ValidationFailed("choose csv, csv_semicolon, xlsx or json",
                               errors=[{"loc": ["format"], "message": "unknown"}]) from None
    campaign = await campaigns.get(session, workspace_id, campaign_id)
    await exports.create_job(session, campaign, chosen, actor=actor)


async def contact_view(session: AsyncSession, workspace_id: str, campaign_id: str, contact_id: str) -> dict[str, Any]:
    campaign = await campaigns.get(session, workspace_id, campaign_id)
    enrollment, contact = await contact_repo.get_enrollment(session, campaign.id, contact_id)
    outreaches = await contact_repo.enrollment_outreaches(session, enrollment.id)
    upcoming = [o for o in outreaches if o.status in PENDING]
    goal_rows = (await rollup.rollup(session, [enrollment.id])).get(enrollment.id, {})
    names = {g.id: g.name for g in await goals.list_goals(session, workspace_id, campaign.id, archived=False)}
    return {"campaign": await campaigns.to_out(session, campaign), "enrollment": enrollment, "contact": contact,
            "max_attempts": CampaignSettings.model_validate(campaign.settings).max_attempts,
            "next_outreach": upcoming[-1] if upcoming else None,
            "primary": (await rollup.primary_results(session, campaign.id, [enrollment.id])).get(enrollment.id),
            "goals": [dict(asdict(g), name=names.get(g.goal_id, g.goal_id)) for g in goal_rows.values()],
            "conversations": (await contact_repo.conversation_totals(session, [enrollment.id])).get(enrollment.id,
                                                                                                    (0, 0.0)),
            "entries": await enrollment_entries(session, enrollment.id), "tabs": TABS}


# --- forms ------------------------------------------------------------------------------------

def _local_time(value: str, zone: str) -> dt.datetime | str | None:
    """A ``datetime-local`` value read in ``zone``; the raw text back when it is no time at all
    (the model's validation then names the field)."""
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value).replace(tzinfo=ZoneInfo(zone or "UTC"))
    except (ValueError, KeyError):
        return value


def parse_variables(text: str) -> dict[str, str]:
    """``name = value`` lines (blank lines and lines without ``=`` are skipped)."""
    out = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip():
            out[name.strip()] = value.strip()
    return out


async def create_from_form(session: AsyncSession, workspace_id: str, form: dict[str, Any], kinds: list[str],
                           actor: str) -> str:
    zone = form.get("timezone") or "UTC"
    data = {"name": form.get("name", "").strip(), "type": form.get("type") or "one_time",
            "execution_mode": form.get("execution_mode") or "scheduled", "manual_review": form.get("manual_review") == "on",
            "brief": form.get("brief", ""), "timezone": zone, "notes": form.get("notes", ""),
            "channels": [{"kind": k} for k in dict.fromkeys(kinds)],
            "ai_variables": parse_variables(form.get("ai_variables", ""))}
    if start := _local_time(form.get("start_at", ""), zone):
        data["start_at"] = start
    campaign = await campaigns.create(session, workspace_id, _validated(CampaignCreate, data), actor)
    return campaign.id


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SETTINGS_FORM_FIELDS = ("name", "brief", "notes", "timezone", "manual_review", "ai_variables", "start_at", "schedule_id",
                        *(f"hours_{d}" for d in WEEKDAYS), *forms.CALL_FORM_FIELDS)


def hours_text(schedule: dict[str, Any] | None) -> dict[str, str]:
    """Each weekday's windows as the form shows them: ``09:00-12:00, 13:00-17:00`` (empty: closed)."""
    hours = (schedule or {}).get("business_hours") or {}
    return {d: ", ".join(f"{w['start']}-{w['end']}" for w in hours.get(d, [])) for d in WEEKDAYS}


def parse_hours(text: str) -> list[dict[str, str]]:
    """``09:00-12:00, 13:00-17:00`` to windows; a piece without a dash keeps its text as the start,
    so the schedule's own validation names what is wrong with it."""
    windows = []
    for piece in text.replace(";", ",").split(","):
        if piece.strip():
            start, _, end = piece.partition("-")
            windows.append({"start": start.strip(), "end": end.strip()})
    return windows


async def update_from_form(session: AsyncSession, workspace_id: str, campaign_id: str, form: dict[str, Any],
                           actor: str) -> None:
    campaign = await campaigns.get(session, workspace_id, campaign_id, for_update=True)
    zone = form.get("timezone") or campaign.timezone or "UTC"
    data: dict[str, Any] = {"name": form.get("name", "").strip(), "brief": form.get("brief", ""),
                            "notes": form.get("notes", ""), "timezone": zone,
                            "manual_review": form.get("manual_review") == "on",
                            "ai_variables": parse_variables(form.get("ai_variables", "")),
                            "start_at": _local_time(form.get("start_at", ""), zone)}
    data.update(_hours_from_form(campaign, form))
    if call := forms.call_settings_from_form(form):
        # The settings the form leaves empty stay as they are.
        data["settings"] = {**campaign.settings, **call}
    await campaigns.update(session, campaign, _validated(CampaignUpdate, data), actor)


def _hours_from_form(campaign: Any, form: dict[str, Any]) -> dict[str, Any]:
    """The hours part of a Settings save: ``schedule_id`` links a saved schedule (its hours inputs
    are read-only then, so none are sent); choosing the campaign's own hours again starts them from
    the schedule it followed; otherwise only hours someone changed write the inline schedule (an
    untouched form leaves "none set" alone)."""
    chosen = form.get("schedule_id", campaign.schedule_id or "") or None
    if chosen != campaign.schedule_id:
        if chosen is not None:
            return {"schedule_id": chosen}
        followed = campaign.hours or {}
        return {"schedule_id": None, "schedule": {
            "timezone": followed.get("timezone"), "holidays": followed.get("holidays") or [],
            "business_hours": followed.get("business_hours") or {}}}
    if chosen is not None:
        return {}
    shown = hours_text(campaign.schedule)
    if any(f"hours_{d}" in form and form[f"hours_{d}"].strip() != shown[d] for d in WEEKDAYS):
        return {"schedule": {"timezone": (campaign.schedule or {}).get("timezone"),
                             "holidays": (campaign.schedule or {}).get("holidays") or [],
                             "business_hours": {d: parse_hours(form.get(f"hours_{d}", "")) for d in WEEKDAYS}}}
    return {}


async def duplicate(session: AsyncSession, workspace_id: str, campaign_id: str, actor: str) -> str:
    """A new draft with the campaign's configuration (``POST /v1/campaigns/{id}/duplicate``); its id."""
    source = await campaigns.get(session, workspace_id, campaign_id)
    return (await campaigns.duplicate(session, source, actor)).id


async def delete_confirmed(session: AsyncSession, workspace_id: str, campaign_id: str, typed: str,
                           actor: str) -> None:
    """Delete the campaign for good once the name typed matches it: the page's form of the API's
    ``?confirm=true`` (a slip of the mouse never deletes)."""
    campaign = await campaigns.get(session, workspace_id, campaign_id, for_update=True)
    if typed.strip() != campaign.name:
        raise ValidationFailed("type the campaign's name exactly to delete it (or archive it instead)",
                               code="confirmation_required",
                               errors=[{"loc": ["confirm_name"], "message": "does not match the campaign's name"}])
    await campaigns.remove(session, campaign, actor)


async def act(session: AsyncSession, workspace_id: str, campaign_id: str, action: str, actor: str) -> str:
    """One lifecycle move through the same service as the API; the new status."""
    try:
        move = CampaignAction(action)
    except ValueError:
        raise ValidationFailed(f"unknown action {action[:40]}", errors=[{"loc": ["action"], "message": "unknown"}]) from None
    campaign = await campaigns.get(session, workspace_id, campaign_id, for_update=True)
    await lifecycle.campaign_action(session, campaign, move, actor)
    return str(campaign.status)
