"""The Settings tab's forms beyond the general one: channels and their providers, caller numbers,
goals and analyses, and the typed call settings, each through the service its API endpoint calls.

A form's fields arrive as text; each function turns them into the API's own pydantic input (so
the same rules and the same error codes apply) and calls one service. Refusals are raised as the
services raise them; ``field_errors`` turns an error list into a message per form field so the
page can show it beside the input.
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass
from typing import Any

from annotated_types import Ge, Le
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from agent.campaigns import remarketing
from agent.campaigns import service as campaigns
from agent.campaigns.remarketing import RemarketingIn
from agent.campaigns.schemas import CHANNEL_FIELDS, CHANNEL_PROVIDERS, CampaignSettings, CampaignUpdate, ChannelIn, Duration
from agent.channels.readiness import provider_configured
from agent.errors import NotFound, OvertureError, ValidationFailed
from agent.lifecycle import campaigns as lifecycle
from agent.lifecycle import remarket
from agent.numbers import service as numbers
from agent.numbers.schemas import PhoneNumberIn, PhoneNumberUpdate
from agent.settings import get_settings
from agent.states import (CHANNEL_TRANSITIONS, AnalysisType, CallerNumberStatus, CampaignStatus, ChannelAction,
                          ChannelKind, ChannelStatus, DataPointType, EnrollmentStatus, GoalResultValue,
                          channel_action_campaign_states)
from evaluators import analyses, goals
from evaluators.schemas import CHOICE_TYPES, TYPE_FIELDS, AnalysisCreate, AnalysisUpdate, GoalCreate, GoalUpdate

# --- the call settings, typed from the model -------------------------------------------------------


@dataclass(frozen=True)
class CallInput:
    """One call setting as the form shows it: a select for a choice, a number with its range, or a
    duration (a number and a unit select, posted as ``<name>_value`` and ``<name>_unit``)."""

    name: str
    input: str  # "select", "number" or "duration"
    choices: tuple[str, ...] = ()
    low: int | None = None
    high: int | None = None
    help: str = ""


def _call_inputs() -> tuple[CallInput, ...]:
    out = []
    for name, field in CampaignSettings.model_fields.items():
        kind = field.annotation
        if typing.get_origin(kind) is typing.Literal:
            out.append(CallInput(name, "select", tuple(typing.get_args(kind)), help=field.description or ""))
        elif kind is Duration:
            out.append(CallInput(name, "duration", tuple(typing.get_args(Duration.model_fields["unit"].annotation)),
                                 help=field.description or ""))
        else:
            low = next((m.ge for m in field.metadata if isinstance(m, Ge)), None)
            high = next((m.le for m in field.metadata if isinstance(m, Le)), None)
            out.append(CallInput(name, "number", low=low, high=high, help=field.description or ""))
    return tuple(out)


CALL_INPUTS = _call_inputs()
CALL_FORM_FIELDS = tuple(n for c in CALL_INPUTS for n in ((f"{c.name}_value", f"{c.name}_unit")
                                                          if c.input == "duration" else (c.name,)))


def call_settings_from_form(form: dict[str, str]) -> dict[str, Any]:
    """The call settings the form names (an empty input is left as it was); the model validates them."""
    out: dict[str, Any] = {}
    for c in CALL_INPUTS:
        if c.input == "duration":
            value, unit = form.get(f"{c.name}_value", "").strip(), form.get(f"{c.name}_unit", "").strip()
            if value or unit:
                out[c.name] = {"value": value, "unit": unit}
        elif (value := form.get(c.name, "").strip()):
            out[c.name] = value
    return out


def field_errors(exc: OvertureError) -> dict[str, str]:
    """Each error's message under the form field it is about: ``["body", "settings", "retry_interval",
    "value"]`` is the input ``retry_interval_value``; list positions and the body prefix are dropped."""
    out: dict[str, list[str]] = {}
    for error in exc.errors or []:
        parts = [str(p) for p in error.get("loc", []) if isinstance(p, str) and p not in ("body", "settings",
                                                                                              "channels")]
        # A rule across fields (a vapi channel needs phone_number_id) has no loc: it is the form's.
        messages = out.setdefault("_".join(parts) or "form", [])
        # One field may have several (each contact id not in the campaign): all are shown, once each.
        if (message := str(error.get("message", ""))) not in messages:
            messages.append(message)
    return {field: "; ".join(messages) for field, messages in out.items()}


def validated(model: type, data: dict[str, Any]) -> Any:
    """``model`` from the form's data, or ValidationFailed naming each field as the API would."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [{"loc": list(e["loc"]), "message": e["msg"]} for e in exc.errors()]
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg']}" for e in exc.errors())
        raise ValidationFailed(detail, errors=errors) from None


# --- channels ----------------------------------------------------------------------------------------

USER_CHANNEL_ACTIONS = (ChannelAction.start, ChannelAction.pause, ChannelAction.resume, ChannelAction.stop)
CHANNEL_ACTION_LABELS = {ChannelAction.start: "Start", ChannelAction.pause: "Pause", ChannelAction.resume: "Resume",
                         ChannelAction.stop: "Stop"}
# The typed fields of each kind, in the order the form shows them.
FIELD_ORDER = ("from_address", "from_name", "reply_to", "postal_address", "from_number", "messaging_service_sid",
               "assistant_id", "phone_number_id")
FIELD_HELP = {"from_address": "Sender address (required for smtp)", "from_name": "Sender name",
              "reply_to": "Reply-to address", "postal_address": "Postal address in the footer (required for smtp)",
              "from_number": "Caller or sender number in E.164, e.g. +14155552671",
              "messaging_service_sid": "Twilio messaging service (MG…), instead of a from number",
              "assistant_id": "The voice provider's assistant id",
              "phone_number_id": "Vapi's phone-number id (required for vapi)"}
KIND_FORMS = tuple((kind.value, CHANNEL_PROVIDERS[kind], tuple(f for f in FIELD_ORDER if f in CHANNEL_FIELDS[kind]))
                   for kind in ChannelKind)
KIND_FORMS_BY_KIND = {kind: (providers, fields) for kind, providers, fields in KIND_FORMS}
AUDIENCE_STATUSES = tuple(s.value for s in EnrollmentStatus if s != EnrollmentStatus.removed)
AUDIENCE_GOAL_RESULTS = tuple(r.value for r in GoalResultValue)
# Pasted contact ids: one a line, or separated by commas (a spreadsheet column or a list).
_ID_SEPARATORS = re.compile(r"[\s,;]+")
# Where "Add a channel" is offered: a draft's steps, or remarketing (a live or completed campaign).
TAKES_CHANNELS = frozenset({CampaignStatus.draft, CampaignStatus.active, CampaignStatus.paused}) | remarketing.REMARKETABLE


def channel_actions(campaign_status: str, channel_status: str, *, remarketing: bool = False) -> list[ChannelAction]:
    """The moves the state tables allow this channel now (the API refuses the others); a
    remarketing channel may start under a completed campaign too."""
    return [a for a in USER_CHANNEL_ACTIONS if ChannelStatus(channel_status) in CHANNEL_TRANSITIONS[a][0]
            and CampaignStatus(campaign_status) in channel_action_campaign_states(a, remarketing=remarketing)]


async def channel_rows(session: AsyncSession, campaign: Any, channels: list[Any]) -> list[dict[str, Any]]:
    """Each channel with its provider readiness and allowed moves; a remarketing channel with
    what starting it does to its audience (``audience``: reopened, unchanged, excluded by reason)."""
    settings = get_settings()
    rows = []
    for c in channels:
        audience = await remarket.preview(session, c) if await lifecycle.is_remarketing(session, c.id) else None
        rows.append({"channel": c, "missing": provider_configured(c.kind, c.config, settings),
                     "actions": channel_actions(campaign.status, c.status, remarketing=audience is not None),
                     "audience": audience, "providers": KIND_FORMS_BY_KIND[c.kind][0],
                     "fields": KIND_FORMS_BY_KIND[c.kind][1]})
    return rows


def _channel_in(kind: str, form: dict[str, str], model: type = ChannelIn, **extra: Any) -> Any:
    """The channel the form describes: its kind, provider and the typed fields it filled in."""
    data: dict[str, Any] = {"kind": kind, "provider": form.get("provider") or "sandbox", **extra}
    data.update({f: v for f in FIELD_ORDER if (v := form.get(f, "").strip())})
    return validated(model, data)


def _as_input(channel: Any) -> ChannelIn:
    return ChannelIn.model_validate({"kind": channel.kind, **channel.config})


async def _replace_channels(session: AsyncSession, campaign: Any, channels: list[ChannelIn], actor: str) -> None:
    # The API's PATCH with the whole list: the same draft-only rule (409 campaign_locked once live).
    await campaigns.update(session, campaign, CampaignUpdate(channels=channels), actor)


def _audience(form: dict[str, str]) -> dict[str, Any]:
    """The API's ``audience`` from the form: the statuses and goal results ticked and the contact
    ids pasted (a filter left empty is not given, as the API's body would leave it out)."""
    def ticked(key: str) -> list[str] | None:
        return [v for v in form.get(key, "").split(",") if v] or None

    ids = list(dict.fromkeys(i for i in _ID_SEPARATORS.split(form.get("audience_contact_ids", "")) if i))
    return {"statuses": ticked("audience_statuses"), "goal_results": ticked("audience_goal_results"),
            "contact_ids": ids or None}


async def add_channel(session: AsyncSession, workspace_id: str, campaign_id: str, form: dict[str, str],
                      actor: str) -> str:
    """A draft gets the channel appended to its steps (the API's PATCH); a live campaign gets a
    remarketing channel for the audience chosen (``POST .../channels``)."""
    campaign = await campaigns.get(session, workspace_id, campaign_id, for_update=True)
    kind = form.get("kind", "")
    if campaign.status != CampaignStatus.draft:
        data = _channel_in(kind, form, RemarketingIn, audience=_audience(form))
        await remarketing.add_channel(session, campaign, data, actor)
        return "channel_added"
    new = _channel_in(kind, form)
    existing = [_as_input(c) for c in await campaigns.channels_of(session, campaign.id)]
    await _replace_channels(session, campaign, [*existing, new], actor)
    return "channel_added"


async def audience_count(session: AsyncSession, workspace_id: str, campaign_id: str, form: dict[str, str]) -> int:
    """How many contacts the audience chosen in an "Add a channel" form holds, before adding it.
    Only the audience is validated (a provider field still empty is no reason to refuse a count),
    under the API's ``audience`` key so each message lands beside its field."""
    campaign = await campaigns.get(session, workspace_id, campaign_id)
    data = validated(RemarketingIn, {"kind": form.get("kind", ""), "audience": _audience(form)})
    return await remarketing.count(session, campaign, data.audience)


async def _channel_list(session: AsyncSession, workspace_id: str, campaign_id: str,
                        channel_id: str) -> tuple[Any, list[Any], int]:
    campaign = await campaigns.get(session, workspace_id, campaign_id, for_update=True)
    channel = await campaigns.get_channel(session, campaign, channel_id)
    channels = await campaigns.channels_of(session, campaign.id)
    return campaign, channels, [c.id for c in channels].index(channel.id)


async def edit_channel(session: AsyncSession, workspace_id: str, campaign_id: str, channel_id: str,
                       form: dict[str, str], actor: str) -> str:
    campaign, channels, at = await _channel_list(session, workspace_id, campaign_id, channel_id)
    inputs = [_as_input(c) for c in channels]
    inputs[at] = _channel_in(channels[at].kind, form)
    await _replace_channels(session, campaign, inputs, actor)
    return "channel_saved"


async def remove_channel(session: AsyncSession, workspace_id: str, campaign_id: str, channel_id: str,
                         form: dict[str, str], actor: str) -> str:
    campaign, channels, at = await _channel_list(session, workspace_id, campaign_id, channel_id)
    await _replace_channels(session, campaign, [_as_input(c) for i, c in enumerate(channels) if i != at], actor)
    return "channel_removed"


async def move_channel(session: AsyncSession, workspace_id: str, campaign_id: str, channel_id: str,
                       action: str, actor: str) -> str:
    """One of start, pause, resume, stop, through the lifecycle as ``POST .../channels/{id}/{action}``."""
    if action not in {a.value for a in USER_CHANNEL_ACTIONS}:
        raise ValidationFailed(f"unknown channel action {action[:40]}", errors=[{"loc": ["action"], "message": "unknown"}])
    campaign = await campaigns.get(session, workspace_id, campaign_id, for_update=True)
    channel = await campaigns.get_channel(session, campaign, channel_id)
    await lifecycle.channel_action(session, campaign, channel, ChannelAction(action), actor)
    return "channel_moved"


# --- caller numbers ------------------------------------------------------------------------------------

NUMBER_STATUSES = tuple(s.value for s in CallerNumberStatus)


def _number_data(form: dict[str, str], with_number: bool) -> dict[str, Any]:
    data: dict[str, Any] = {"friendly_name": form.get("friendly_name", "").strip(),
                            "provider_number_id": form.get("provider_number_id", "").strip() or None}
    if with_number:
        data["number"] = form.get("number", "").strip()
    for key in ("status", "spam_score", "weight"):
        if value := form.get(key, "").strip():
            data[key] = value
    return data


async def add_number(session: AsyncSession, workspace_id: str, campaign_id: str, form: dict[str, str],
                     actor: str) -> str:
    await numbers.add(session, workspace_id, campaign_id, validated(PhoneNumberIn, _number_data(form, True)), actor)
    return "number_added"


async def edit_number(session: AsyncSession, workspace_id: str, campaign_id: str, number_id: str,
                      form: dict[str, str], actor: str) -> str:
    data = validated(PhoneNumberUpdate, _number_data(form, False))
    await numbers.update(session, workspace_id, campaign_id, number_id, data, actor)
    return "number_saved"


async def remove_number(session: AsyncSession, workspace_id: str, campaign_id: str, number_id: str,
                        form: dict[str, str], actor: str) -> str:
    await numbers.remove(session, workspace_id, campaign_id, number_id, actor)
    return "number_removed"


# --- goals and analyses: the same archive/restore, and the same check that the row is the page's --------

async def _owned(session: AsyncSession, workspace_id: str, campaign_id: str, item_id: str, lister: Any) -> None:
    """404 unless the goal or analysis is this campaign's: the API's routes for them go by their id
    alone, but the page is the campaign's, so another campaign's row is not its to change."""
    mine = {row.id for archived in (False, True)
            for row in await lister(session, workspace_id, campaign_id, archived=archived)}
    if item_id not in mine:
        raise NotFound("no such item in this campaign")


def _archival(service: Any, move: str, notice: str) -> Any:
    """An archive or restore form: the service's ``archive``/``restore`` (goals or analyses)."""
    lister = service.list_goals if service is goals else service.list_analyses

    async def run(session: AsyncSession, workspace_id: str, campaign_id: str, item_id: str, form: dict[str, str],
                  actor: str) -> str:
        await _owned(session, workspace_id, campaign_id, item_id, lister)
        await getattr(service, move)(session, workspace_id, item_id, actor)
        return notice

    return run


# --- goals ----------------------------------------------------------------------------------------------

async def add_goal(session: AsyncSession, workspace_id: str, campaign_id: str, form: dict[str, str],
                   actor: str) -> str:
    data = validated(GoalCreate, {"name": form.get("name", ""), "description": form.get("description", ""),
                                   "is_primary": form.get("is_primary") == "on"})
    await goals.create(session, workspace_id, campaign_id, data, actor)
    return "goal_added"


async def edit_goal(session: AsyncSession, workspace_id: str, campaign_id: str, goal_id: str,
                    form: dict[str, str], actor: str) -> str:
    await _owned(session, workspace_id, campaign_id, goal_id, goals.list_goals)
    data: dict[str, Any] = {"name": form.get("name", ""), "description": form.get("description", "")}
    if form.get("is_primary") == "on":  # unticking is no request: another goal is made primary instead
        data["is_primary"] = True
    await goals.update(session, workspace_id, goal_id, validated(GoalUpdate, data), actor)
    return "goal_saved"


# --- analyses -------------------------------------------------------------------------------------------

ANALYSIS_TYPES = tuple(t.value for t in AnalysisType)
DATA_TYPES = tuple(t.value for t in DataPointType)


def _analysis_data(form: dict[str, str]) -> dict[str, Any]:
    """Name, question, on/off, type, and the chosen type's own fields only (a type change drops the
    old type's, as the API's PATCH does when they are not named)."""
    kind = form.get("type", "")
    data: dict[str, Any] = {"name": form.get("name", ""), "description": form.get("description", ""),
                            "active": form.get("active") == "on", "type": kind}
    try:
        chosen = AnalysisType(kind)
    except ValueError:
        return data
    if chosen in CHOICE_TYPES:
        data["options"] = [o.strip() for o in form.get("options", "").splitlines() if o.strip()]
    for field in ("scale_min", "scale_max", "data_type"):
        if chosen in TYPE_FIELDS[field] and (value := form.get(field, "").strip()):
            data[field] = value
    return data


async def add_analysis(session: AsyncSession, workspace_id: str, campaign_id: str, form: dict[str, str],
                       actor: str) -> str:
    await analyses.create(session, workspace_id, campaign_id, validated(AnalysisCreate, _analysis_data(form)), actor)
    return "analysis_added"


async def edit_analysis(session: AsyncSession, workspace_id: str, campaign_id: str, analysis_id: str,
                        form: dict[str, str], actor: str) -> str:
    await _owned(session, workspace_id, campaign_id, analysis_id, analyses.list_analyses)
    await analyses.update(session, workspace_id, analysis_id, validated(AnalysisUpdate, _analysis_data(form)), actor)
    return "analysis_saved"


# --- the routes' table -----------------------------------------------------------------------------------

ADD = {"channels": add_channel, "numbers": add_number, "goals": add_goal, "analyses": add_analysis}
ITEM_OPS = {
    "channels": {"edit": edit_channel, "remove": remove_channel},
    "numbers": {"edit": edit_number, "remove": remove_number},
    "goals": {"edit": edit_goal, "archive": _archival(goals, "archive", "goal_archived"),
              "restore": _archival(goals, "restore", "goal_restored")},
    "analyses": {"edit": edit_analysis, "archive": _archival(analyses, "archive", "analysis_archived"),
                 "restore": _archival(analyses, "restore", "analysis_restored")},
}


async def item_op(session: AsyncSession, workspace_id: str, campaign_id: str, what: str, item_id: str, op: str,
                  form: dict[str, str], actor: str) -> str:
    """One change to one channel, number, goal or analysis; the notice's key."""
    if what == "channels" and op in {a.value for a in USER_CHANNEL_ACTIONS}:
        return await move_channel(session, workspace_id, campaign_id, item_id, op, actor)
    handler = ITEM_OPS[what].get(op)
    if handler is None:
        raise ValidationFailed(f"unknown change {op[:40]}", errors=[{"loc": ["op"], "message": "unknown"}])
    return await handler(session, workspace_id, campaign_id, item_id, form, actor)


async def tab_data(session: AsyncSession, workspace_id: str, campaign: Any) -> dict[str, Any]:
    """What the Settings tab shows besides the general form: channels with their allowed moves and
    provider readiness, numbers, goals and analyses (the archived ones too, to restore)."""
    return {
        "channels": await channel_rows(session, campaign, await campaigns.channels_of(session, campaign.id)),
        "numbers": await numbers.list_numbers(session, workspace_id, campaign.id),
        "goals": await goals.list_goals(session, workspace_id, campaign.id, archived=False),
        "archived_goals": await goals.list_goals(session, workspace_id, campaign.id, archived=True),
        "analyses": await analyses.list_analyses(session, workspace_id, campaign.id, archived=False),
        "archived_analyses": await analyses.list_analyses(session, workspace_id, campaign.id, archived=True),
        "call_inputs": CALL_INPUTS, "kind_forms": KIND_FORMS, "channel_action_labels": CHANNEL_ACTION_LABELS,
        "number_statuses": NUMBER_STATUSES, "analysis_types": ANALYSIS_TYPES, "data_types": DATA_TYPES,
        "audience_statuses": AUDIENCE_STATUSES, "audience_goal_results": AUDIENCE_GOAL_RESULTS,
        "field_help": FIELD_HELP, "is_draft": campaign.status == CampaignStatus.draft,
        "takes_channels": CampaignStatus(campaign.status) in TAKES_CHANNELS,
        "is_completed": campaign.status == CampaignStatus.completed,
    }
