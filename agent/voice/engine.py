"""The live-call engine: one assistant turn at a time, for every voice protocol (OpenAI hook, Retell).

Latency is the product, so nothing is written before the model's first token. The first request
of a call only reads (who calls, for which campaign, what the prompt needs: ``resolve_call``);
the later turns of the call reuse what this process read then and the prompt it rendered (for
``_RecentCalls.ttl`` seconds) and ask the database nothing at all before the model. The engine
hands out the model's deltas as they arrive and, when the stream ends, opens the conversation
if it is new (``claim_call``) and records the caller's new turns and the reply in one short
transaction, which commits before the reply's iterator ends: the hook sends its closing chunk
and ``[DONE]`` only after that, so a turn the platform heard in full is a turn stored, even if
the process is killed the next instant. A turn cut off before its end is not stored as
answered; the platform's next request carries the whole conversation and records it then.

The one opening still written before the model is an inbound caller the campaign may admit as
a new contact (``Opening.must_admit``): the contact it makes is part of the prompt. The model ends a conversation by finishing its reply with
``END_CALL``; the engine strips the marker (even split across deltas, ``marker.py``) and sets
``Reply.end_call``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity, llm
from agent.db import begin_write, session_scope, utcnow
from agent.models import Campaign, Contact, Conversation, Goal, Outreach
from agent.prompting import default_prompts, render
from agent.states import OUTREACH_SENT
from agent.voice.calls import (INBOUND, CallContext, CallInfo, Opening, claim_call, normalize_number,
                              record_turns, rehearse_resolve, resolve_call)
from agent.voice.marker import EndCallMarker
from agent.voice.offline import voice_reply

log = logging.getLogger(__name__)

TASK = "voice"
TEMPLATE = "voice/system.j2"
_MODEL_TURNS = 80  # the model sees the latest turns; every turn is still recorded
_HISTORY = 6
_EXCERPT = 240
_OPEN_ATTEMPTS = 3
_RECORD_ATTEMPTS = 3


# -- the platform's messages -----------------------------------------------------------------

def _text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content.strip()
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping)).strip()
    return ""


def split_messages(messages: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[tuple[str, str]]]:
    """(the platform's system messages, the spoken turns as (role, text)); tool traffic is dropped."""
    platform: list[str] = []
    turns: list[tuple[str, str]] = []
    for message in messages:
        role, text = message.get("role"), _text(message)
        if not text:
            continue
        if role in ("system", "developer"):
            platform.append(text)
        elif role in ("user", "assistant"):
            turns.append((str(role), text))
    return platform, turns


# -- one assistant turn ----------------------------------------------------------------------

class Reply:
    """One assistant turn being produced: ``async for delta in reply``; then ``end_call``, ``text``.

    Also: ``context`` (the call), ``prompt_version``, ``model`` and, once finished, ``result``
    (tokens and cost). Close it (``aclose``) if you stop reading early: the caller's turns are
    still recorded, the unfinished reply is not (the platform's next request says what was heard).
    """

    def __init__(self, context: CallContext, turns: list[tuple[str, str]], messages: list[dict[str, Any]],
                 params: dict[str, Any], prompt_version: str, model: str, *, call: CallInfo | None = None,
                 opening: Opening | None = None) -> None:
        self.context = context
        self._call = call
        self._opening = opening  # a new call, stored with the turns once the model has answered
        self.prompt_version = prompt_version
        self.model = model
        self.end_call = False
        self.text = ""
        self.result: llm.LLMResult | None = None
        self.finished = False
        self.recorded = False  # the turns (and a new call) are committed
        self._turns = turns
        self._messages = messages
        self._params = params
        self._deltas = self._run()

    @property
    def conversation_id(self) -> str:
        return self.context.conversation_id

    def __aiter__(self) -> Reply:
        return self

    async def __anext__(self) -> str:
        return await self._deltas.__anext__()

    async def aclose(self) -> None:
        await self._deltas.aclose()

    async def _run(self) -> AsyncIterator[str]:
        marker = EndCallMarker()
        stream = llm.stream(TASK, self._messages, **self._params)
        said = False  # the reply reached its end, or broke after being partly said
        try:
            async with stream:
                async for delta in stream:
                    out = marker.feed(delta)
                    if out:
                        yield out
                tail = marker.flush()
                if tail:
                    yield tail
            said = True
        except llm.LLMError:
            said = True
            raise
        finally:
            self.text, self.end_call, self.result, self.finished = marker.text, marker.seen, stream.result, said
            # Its own task: a dropped connection cancels us, not the write.
            await asyncio.shield(asyncio.ensure_future(self._record(said)))

    async def _record(self, with_reply: bool) -> None:
        turns = [*self._turns, ("assistant", self.text)] if with_reply and self.text else self._turns
        for attempt in range(1, _RECORD_ATTEMPTS + 1):
            try:
                async with session_scope() as session:
                    await begin_write(session)
                    if self._opening is not None:
                        await self._claim(session)
                    await record_turns(session, self.conversation_id, turns)
                if self._opening is not None and self._call is not None:
                    recent_calls.claimed(self.context.workspace_id, self._call.call_id)
                self.recorded = True
                return
            except Exception:  # noqa: BLE001 - the caller already heard it; the end-of-call report has it too
                if attempt == _RECORD_ATTEMPTS:
                    log.exception("could not record the turns of conversation %s", self.conversation_id)
                else:
                    await asyncio.sleep(0.05 * attempt)

    async def _claim(self, session: AsyncSession) -> None:
        assert self._opening is not None and self._call is not None
        ctx = await claim_call(session, self._opening, self._call)
        if ctx.created:
            _started(session, ctx, self._call, self.prompt_version, self.model)
        # A concurrent first request (another process) stored the call first: its id is the call's.
        self.context = ctx


class _Known:
    """What a call's later turns reuse: its context, prompt facts, the prompt last rendered for it
    and, until a turn has stored it, the opening of a new call."""

    __slots__ = ("expires", "context", "facts", "opening", "prompt")

    def __init__(self, expires: float, context: CallContext, facts: dict[str, Any], opening: Opening | None) -> None:
        self.expires, self.context, self.facts, self.opening = expires, context, facts, opening
        self.prompt: tuple[tuple[Any, ...], Any] | None = None  # (what it was rendered from, Rendered)


class _RecentCalls:
    """Calls this process answered lately: their context and prompt facts, so the later turns of
    a call ask the database nothing before the model. Entries live ``ttl`` seconds, so changes
    to the campaign or contact reach a call within that time."""

    def __init__(self, ttl: float = 30.0, size: int = 4096) -> None:
        self.ttl, self.size = ttl, size
        self._items: OrderedDict[tuple[str, str], _Known] = OrderedDict()

    def get(self, workspace_id: str, call_id: str) -> _Known | None:
        item = self._items.get((workspace_id, call_id))
        if item is None or item.expires < time.monotonic():
            return None
        return item

    def put(self, workspace_id: str, call_id: str, ctx: CallContext, facts: dict[str, Any],
            opening: Opening | None = None) -> _Known:
        item = _Known(time.monotonic() + self.ttl, replace(ctx, created=False), facts, opening)
        self._items[(workspace_id, call_id)] = item
        self._items.move_to_end((workspace_id, call_id))
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return item

    def claimed(self, workspace_id: str, call_id: str) -> None:
        """The call's conversation is stored: its later turns need not claim it again."""
        item = self._items.get((workspace_id, call_id))
        if item is not None:
            item.opening = None

    def forget(self, workspace_id: str, call_id: str) -> None:
        self._items.pop((workspace_id, call_id), None)


recent_calls = _RecentCalls()


def _started(session: AsyncSession, ctx: CallContext, call: CallInfo, version: str, model: str) -> None:
    activity.record(session, workspace_id=ctx.workspace_id, actor=activity.SYSTEM, kind="conversation.started",
                    campaign_id=ctx.campaign_id, contact_id=ctx.contact_id, enrollment_id=ctx.enrollment_id,
                    payload={"conversation_id": ctx.conversation_id, "call_id": call.call_id, "channel": "voice",
                             "direction": ctx.direction, "known_contact": ctx.known_contact,
                             "prompt_version": version, "model": model})


async def _open(workspace_id: str, call: CallInfo, turns: list[tuple[str, str]],
                version: str, model: str) -> tuple[CallContext, dict[str, Any], Opening | None]:
    """Find the call, or what opening it will store, and read what its prompt needs: reads only,
    but for an inbound caller the campaign may admit (stored here, see the module docstring)."""
    for attempt in range(1, _OPEN_ATTEMPTS + 1):
        try:
            async with session_scope() as session:
                found = await resolve_call(session, workspace_id, call)
                if isinstance(found, CallContext):
                    return found, await call_facts(session, found, call), None
                if not found.must_admit:
                    return found.context, await call_facts(session, found.context, call), found
                ctx = await claim_call(session, found, call)
                facts = await call_facts(session, ctx, call)
                if ctx.created:
                    await record_turns(session, ctx.conversation_id, turns)
                    _started(session, ctx, call, version, model)
            return ctx, facts, None
        except IntegrityError:
            # Two first requests of calls from one new number both added the caller: retry,
            # and the second finds the contact the first one made.
            if attempt == _OPEN_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _prompt(known: _Known, platform: list[str]) -> Any:
    """The call's system prompt, rendered again only when its inputs changed (the minute of the
    call's local time, the platform's instructions)."""
    facts = _call_facts(known.context, known.facts)
    key = (facts["local_time"], tuple(platform))
    if known.prompt is None or known.prompt[0] != key:
        known.prompt = (key, render(TEMPLATE, {**known.facts, "call": facts, "platform_instructions": platform}))
    return known.prompt[1]


async def start_reply(workspace_id: str, call: CallInfo, messages: list[dict[str, Any]]) -> Reply:
    """Find or resolve the call and start streaming the next assistant turn (``Reply``); the
    call (if new) and the caller's new turns are stored with the reply when it ends.

    Raises NotFound(``unknown_call``) when nothing identifies the call's campaign, before
    anything is stored. The platform's own system messages reach the model only as quoted,
    less authoritative context inside the campaign's prompt.
    """
    platform, turns = split_messages(messages)
    version = default_prompts().version(TEMPLATE)
    model = llm.get_config().model_for(TASK)
    known = recent_calls.get(workspace_id, call.call_id)
    if known is None:
        ctx, facts, opening = await _open(workspace_id, call, turns, version, model)
        known = recent_calls.put(workspace_id, call.call_id, ctx, facts, opening)
    rendered = _prompt(known, platform)
    model_messages = [{"role": "system", "content": rendered.text},
                      *({"role": role, "content": text} for role, text in turns[-_MODEL_TURNS:])]
    params: dict[str, Any] = {}
    if model == llm.OFFLINE_MODEL:
        # litellm streams this text through its real streaming path, like any model's answer.
        params["mock_response"] = voice_reply(model_messages)
    return Reply(known.context, turns, model_messages, params, rendered.version, model, call=call,
                 opening=known.opening)


def warm() -> None:
    """Compile the voice prompt and load the phone number metadata now (blocking; at start-up),
    not in the first caller's turn."""
    normalize_number("+12125550199")
    facts = {"campaign_name": "", "brief": "", "ai_variables": {}, "inbound_prompt": "", "goals": [],
             "known_contact": False, "contact": None, "history": [], "call_timezone": None,
             "unknown_caller": {"number": None, "name": None, "email": None}}
    render(TEMPLATE, {**facts, "call": {"direction": "outbound", "local_time": "", "timezone": "UTC"},
                      "platform_instructions": []})


async def warm_reads() -> None:
    """Run a first turn's reads once, for a call and rows that do not exist (nothing matches,
    nothing is written), so each query is compiled and the pool holds a connection before the
    first caller: the first turns after start-up paid both before the model was asked."""
    ctx = CallContext(conversation_id="cnv_warm", workspace_id="ws_warm", campaign_id="cmp_warm",
                      contact_id="ct_warm", enrollment_id="enr_warm", direction="outbound", known_contact=True,
                      created=False)
    try:
        async with session_scope() as session:
            call = await rehearse_resolve(session, ctx)
            await call_facts(session, ctx, call)
            await _goals(session, ctx.campaign_id)
            await _history(session, ctx)
            await session.rollback()
    except Exception as exc:  # noqa: BLE001 - a database not there yet is /readyz's to report, not start-up's
        log.warning("could not rehearse the first turn's reads: %s", type(exc).__name__)


# -- what the prompt needs -------------------------------------------------------------------

def _excerpt(text: str | None) -> str | None:
    if not text:
        return None
    text = " ".join(text.split())
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 1].rstrip() + "…"


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ValueError, OSError):
        return ZoneInfo("UTC")


async def call_facts(session: AsyncSession, ctx: CallContext, call: CallInfo) -> dict[str, Any]:
    """The context keys of ``voice/system.j2`` that hold for the whole call (all but ``call`` and
    ``platform_instructions``; see the template's header)."""
    # session.get: open_call usually loaded the campaign into this session already.
    campaign = await session.get(Campaign, ctx.campaign_id) if ctx.campaign_id else None
    contact = await session.get(Contact, ctx.contact_id) if ctx.contact_id else None
    goals = await _goals(session, campaign.id) if campaign is not None else []
    caller_number = call.from_number if ctx.direction == INBOUND else call.to_number
    return {
        "campaign_name": campaign.name if campaign else "",
        "brief": campaign.brief if campaign else "",
        "ai_variables": dict(campaign.ai_variables or {}) if campaign else {},
        "inbound_prompt": campaign.inbound_prompt if campaign else "",
        "goals": [{"name": g.name, "description": g.description, "is_primary": g.is_primary} for g in goals],
        "known_contact": contact is not None,
        "contact": None if contact is None else {
            "first_name": contact.first_name, "last_name": contact.last_name, "email": contact.email,
            "phone": contact.phone, "timezone": contact.timezone, "properties": dict(contact.properties or {})},
        "unknown_caller": None if contact is not None else {
            "number": caller_number, "name": call.customer.get("name"), "email": call.customer.get("email")},
        "history": await _history(session, ctx) if contact is not None else [],
        "call_timezone": (contact.timezone if contact else None) or (campaign.timezone if campaign else None),
    }


async def _goals(session: AsyncSession, campaign_id: str) -> list[Any]:
    return list((await session.execute(
        select(Goal.name, Goal.description, Goal.is_primary)
        .where(Goal.campaign_id == campaign_id, Goal.archived_at.is_(None))
        .order_by(Goal.is_primary.desc(), Goal.created_at, Goal.id))).all())


def _call_facts(ctx: CallContext, facts: dict[str, Any]) -> dict[str, Any]:
    zone = _zone(facts["call_timezone"])
    return {"direction": ctx.direction, "local_time": utcnow().astimezone(zone).isoformat(timespec="minutes"),
            "timezone": zone.key}


async def _history(session: AsyncSession, ctx: CallContext) -> list[dict[str, Any]]:
    """The latest outreaches sent and calls had with this contact in this campaign, newest first."""
    items: list[tuple[dt.datetime, dict[str, Any]]] = []
    if ctx.enrollment_id:
        sent = await session.execute(
            select(Outreach.channel, Outreach.subject, Outreach.body, Outreach.status, Outreach.sent_at,
                   Outreach.scheduled_at)
            .where(Outreach.enrollment_id == ctx.enrollment_id, Outreach.status.in_(OUTREACH_SENT))
            .order_by(Outreach.id.desc()).limit(_HISTORY))
        for o in sent:
            when = o.sent_at or o.scheduled_at
            if when is not None:
                items.append((when, {"kind": "outreach", "date": when, "channel": o.channel, "direction": "outbound",
                                     "summary": _excerpt(o.subject) or _excerpt(o.body), "outcome": o.status}))
    calls = await session.execute(
        select(Conversation.channel, Conversation.direction, Conversation.started_at, Conversation.created_at,
               Conversation.answer_status, Conversation.ended_reason, Conversation.duration_s)
        .where(Conversation.contact_id == ctx.contact_id, Conversation.campaign_id == ctx.campaign_id,
               Conversation.id != ctx.conversation_id)
        .order_by(Conversation.id.desc()).limit(_HISTORY))
    for c in calls:
        when = c.started_at or c.created_at
        length = f"{round(c.duration_s)} s" if c.duration_s is not None else None
        items.append((when, {"kind": "call", "date": when, "channel": c.channel, "direction": c.direction,
                             "summary": ", ".join(p for p in (length, c.ended_reason) if p) or None,
                             "outcome": c.answer_status}))
    items.sort(key=lambda item: item[0], reverse=True)
    return [item for _, item in items[:_HISTORY]]
