"""Retell's custom-LLM WebSocket protocol: its events in, its frames out (no IO, no database).

Retell connects to ``{url}/{call_id}`` and speaks JSON text frames. Ours: a ``config`` frame, then
``response`` frames (``response_id``, a ``content`` delta, ``content_complete`` on the last one,
``end_call`` there too) and ``ping_pong`` echoes. Theirs, told apart by ``interaction_type``:
``call_details`` (the ``call`` object), ``ping_pong``, ``update_only`` (the live transcript),
``response_required`` and ``reminder_required`` (answer the given ``response_id``; a reminder
means the caller has been silent). The route in ``api/routes/voice_retell.py`` drives a
connection with these; the live-call engine does the talking.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from agent.models import Conversation
from agent.voice.calls import INBOUND, OUTBOUND, CallInfo, normalize_number

# Retell's roles -> the engine's; other utterances (tool calls, DTMF, ...) are not spoken turns.
ROLES = {"agent": "assistant", "user": "user"}
MAX_UTTERANCES = 5000  # the chat-completions hook's limit on messages
CALL_ID_MAX = Conversation.external_id.type.length  # the call id is stored as the conversation's external id
# Handed to the engine as the platform's own (quoted, less authoritative) instruction.
REMINDER_NOTE = ("reminder_required: the caller has said nothing since the agent last spoke. Check briefly "
                 "and kindly that they are still there, or restate the last question in a few words.")


class BadFrame(ValueError):
    """A frame this protocol cannot use. The message names what is wrong, never the frame's text."""


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Utterance(_Lenient):
    role: str = Field(max_length=40)
    content: str = ""

    @field_validator("content", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value


class RetellCall(_Lenient):
    """The part of Retell's call object the conversation needs (it sends much more)."""

    call_id: str | None = None
    from_number: str | None = Field(None, max_length=200)
    to_number: str | None = Field(None, max_length=200)
    direction: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    retell_llm_dynamic_variables: dict[str, Any] = Field(default_factory=dict)

    @field_validator("metadata", "retell_llm_dynamic_variables", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


class CallDetails(_Lenient):
    interaction_type: Literal["call_details"]
    call: RetellCall


class PingPong(_Lenient):
    interaction_type: Literal["ping_pong"]
    timestamp: int


class UpdateOnly(_Lenient):
    interaction_type: Literal["update_only"]
    transcript: list[Utterance] = Field(default_factory=list, max_length=MAX_UTTERANCES)


class ResponseRequired(_Lenient):
    """``response_required`` or ``reminder_required``: answer ``response_id`` now."""

    interaction_type: Literal["response_required", "reminder_required"]
    response_id: int = Field(ge=0)
    transcript: list[Utterance] = Field(default_factory=list, max_length=MAX_UTTERANCES)

    @property
    def reminder(self) -> bool:
        return self.interaction_type == "reminder_required"


Event = CallDetails | PingPong | UpdateOnly | ResponseRequired
_EVENT: TypeAdapter[Event] = TypeAdapter(Annotated[Event, Field(discriminator="interaction_type")])
_KNOWN = {"call_details", "ping_pong", "update_only", "response_required", "reminder_required"}


def parse_event(raw: str | bytes | None) -> Event:
    """One of Retell's frames as a typed event; ``BadFrame`` when it is not one we can use."""
    if raw is None:
        raise BadFrame("empty frame")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadFrame("not JSON") from None
    if not isinstance(data, dict):
        raise BadFrame("not a JSON object")
    kind = data.get("interaction_type")
    if kind not in _KNOWN:
        raise BadFrame("unknown interaction_type" if isinstance(kind, str) else "no interaction_type")
    try:
        return _EVENT.validate_python(data)
    except ValidationError as exc:
        where = "; ".join(".".join(str(p) for p in e["loc"]) + ": " + e["msg"] for e in exc.errors()[:3])
        raise BadFrame(f"invalid {kind}: {where}") from None


# -- what the engine gets --------------------------------------------------------------------

def spoken_turns(transcript: Sequence[Utterance], *, settled: bool = False) -> list[tuple[str, str]]:
    """The transcript as (role, text) turns for the engine, agent -> assistant.

    ``settled`` leaves out the last utterance: in an ``update_only`` it may still be being spoken,
    and turns are stored once by position, so a half-heard sentence would stay half-heard.
    Empty utterances are dropped, as the engine drops empty messages, so positions agree.
    """
    utterances = transcript[:-1] if settled else transcript
    turns = []
    for u in utterances:
        role, text = ROLES.get(u.role), u.content.strip()
        if role and text:
            turns.append((role, text))
    return turns


def messages(turns: Sequence[tuple[str, str]], *, reminder: bool = False) -> list[dict[str, Any]]:
    """OpenAI-style messages for ``engine.start_reply``; a reminder carries a note on the silence."""
    out: list[dict[str, Any]] = [{"role": role, "content": text} for role, text in turns]
    if reminder:
        out.insert(0, {"role": "system", "content": REMINDER_NOTE})
    return out


def _string(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def valid_call_id(call_id: str) -> bool:
    return 0 < len(call_id) <= CALL_ID_MAX and call_id.isprintable() and not call_id.isspace()


def call_info(call_id: str, call: RetellCall | None = None) -> CallInfo:
    """The engine's view of the call. The path's call id wins over the body's: it is the one
    Retell connected with, and so the one a reconnect will use again."""
    if call is None:
        return CallInfo(call_id=call_id, from_number=None, to_number=None, campaign_id=None, direction=None)
    variables = call.retell_llm_dynamic_variables
    campaign_id = _string(call.metadata.get("campaign_id")) or _string(variables.get("campaign_id"))
    nested = call.metadata.get("customer")
    customer = {k: v for k, v in (nested if isinstance(nested, dict) else {}).items() if isinstance(v, str)}
    customer.update({k: v for k, v in variables.items() if isinstance(v, str) and k != "campaign_id"})
    direction = call.direction if call.direction in (INBOUND, OUTBOUND) else None
    return CallInfo(call_id=call_id, from_number=normalize_number(call.from_number),
                    to_number=normalize_number(call.to_number), campaign_id=campaign_id and campaign_id[:40],
                    direction=direction, customer=customer)


# -- our frames ------------------------------------------------------------------------------

def _frame(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def config_frame() -> str:
    """Ask for the call details and for keep-alive pings, so Retell reconnects a dead socket."""
    return _frame({"response_type": "config", "config": {"auto_reconnect": True, "call_details": True}})


def response_frame(response_id: int, content: str, *, complete: bool = False, end_call: bool = False) -> str:
    payload: dict[str, Any] = {"response_type": "response", "response_id": response_id, "content": content,
                               "content_complete": complete}
    if complete:
        payload["end_call"] = end_call
    return _frame(payload)


def pong_frame(timestamp: int) -> str:
    return _frame({"response_type": "ping_pong", "timestamp": timestamp})
