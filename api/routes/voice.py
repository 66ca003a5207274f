"""The voice platforms' "custom LLM" hook: OpenAI chat completions answered by the live-call engine.

Vapi, Pipecat and the like POST the conversation so far (with their ``call``, ``phoneNumber``,
``customer`` and ``metadata`` objects beside ``messages``) and speak whatever streams back. The
answer is OpenAI's format exactly: SSE ``chat.completion.chunk`` events ending with ``[DONE]``
when ``stream`` is true or the client accepts ``text/event-stream``, one ``chat.completion``
otherwise. Everything that can fail with a 4xx/5xx (auth, call details, unknown call, a model
that never answers) fails before the first byte; once streaming, a model failure ends the
stream cleanly with what was said.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from agent import llm
from agent.auth import Principal
from agent.db import session_scope
from agent.errors import Forbidden, OvertureError
from agent.states import Role
from agent.voice import engine
from agent.voice.events import MAX_TURN_CHARS
from agent.voice.calls import parse_call
from api.deps import get_principal
from api.errors import ERROR_RESPONSES
from api.guard import PRINCIPAL
from api.idempotency import AnsweringRoute

log = logging.getLogger(__name__)

router = APIRouter(tags=["voice"], route_class=AnsweringRoute, responses=ERROR_RESPONSES)
END_CALL_TOOL = "endCall"  # Vapi's built-in tool; offered in the request when the assistant may hang up


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str = Field(max_length=40)
    content: Annotated[str, Field(max_length=MAX_TURN_CHARS)] | list[dict[str, Any]] | None = None


class ChatCompletionRequest(BaseModel):
    """An OpenAI chat-completions request plus the call details voice platforms send beside it.

    Other OpenAI keys (``temperature``, ``max_tokens``, ...) are accepted and ignored: the
    campaign's model settings decide, not the platform's.
    """

    model_config = ConfigDict(extra="allow")
    messages: list[ChatMessage] = Field(min_length=1, max_length=5000)
    model: str | None = Field(None, max_length=200)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = Field(None, description='{"call_id", "from", "to", "campaign_id"}')
    call: dict[str, Any] | None = Field(None, description="The platform's call object (Vapi: id, type, customer...)")
    phoneNumber: dict[str, Any] | None = Field(None, description="Our side of the call (Vapi)")  # noqa: N815
    customer: dict[str, Any] | None = Field(None, description="The other party as the platform knows them")
    tools: list[dict[str, Any]] | None = None
    functions: list[dict[str, Any]] | None = None


async def hook_caller(request: Request,
                      authorization: Annotated[str | None, Header(include_in_schema=False)] = None) -> Principal:
    """An admin or approver key (the hook acts on calls). ``api.guard`` resolved it already (through
    the key cache); else in a session closed at once, not the request-long ``SessionDep``: a
    stream must not hold a database connection."""
    principal = getattr(request.state, PRINCIPAL, None)
    if principal is None:
        async with session_scope() as session:
            principal = await get_principal(request, session, authorization)
    if not principal.may(Role.admin, Role.approver):
        raise Forbidden(f"the {principal.role.value} role may not use the voice hook; it needs admin or approver")
    return principal


HookCaller = Annotated[Principal, Depends(hook_caller)]


def _end_tool(body: ChatCompletionRequest) -> str | None:
    """How the request lets the assistant hang up: "tools", "functions" or not at all."""
    for tool in body.tools or []:
        if tool.get("type") == "function" and (tool.get("function") or {}).get("name") == END_CALL_TOOL:
            return "tools"
    if any(f.get("name") == END_CALL_TOOL for f in body.functions or []):
        return "functions"
    return None


def _hang_up(kind: str) -> tuple[dict[str, Any], str]:
    """The message fields and finish reason that call the platform's end-call tool."""
    if kind == "functions":
        return {"function_call": {"name": END_CALL_TOOL, "arguments": "{}"}}, "function_call"
    return {"tool_calls": [{"index": 0, "id": f"call_{secrets.token_hex(12)}", "type": "function",
                            "function": {"name": END_CALL_TOOL, "arguments": "{}"}}]}, "tool_calls"


def _usage(reply: engine.Reply) -> dict[str, int]:
    prompt = reply.result.input_tokens if reply.result else 0
    completion = reply.result.output_tokens if reply.result else 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class _Chunks:
    """``chat.completion.chunk`` events sharing one id, creation time and model."""

    def __init__(self, model: str) -> None:
        self.base = {"id": f"chatcmpl-{secrets.token_hex(12)}", "object": "chat.completion.chunk",
                     "created": int(time.time()), "model": model, "system_fingerprint": None}

    def event(self, delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> bytes:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        payload = json.dumps({**self.base, "choices": choices, **extra}, ensure_ascii=False, separators=(",", ":"))
        return f"data: {payload}\n\n".encode()


async def _sse(reply: engine.Reply, first: str | None, chunks: _Chunks, end_tool: str | None,
               include_usage: bool) -> AsyncIterator[bytes]:
    try:
        yield chunks.event({"role": "assistant", "content": ""})
        if first:
            yield chunks.event({"content": first})
        async for delta in reply:
            yield chunks.event({"content": delta})
    except llm.LLMError as exc:
        log.warning("voice model failed mid-reply in conversation %s: %s", reply.conversation_id,
                    type(exc).__name__)
    except Exception:  # noqa: BLE001 - the caller is live: end the turn cleanly, keep the trace in the log
        log.exception("voice reply failed mid-stream in conversation %s", reply.conversation_id)
    finally:
        # Also on a dropped connection: free the model stream now (shielded from the cancellation).
        with anyio.CancelScope(shield=True):
            await reply.aclose()
    finish = "stop"
    if reply.end_call and end_tool:
        fields, finish = _hang_up(end_tool)
        yield chunks.event(fields)
    yield chunks.event({}, finish)
    if include_usage:
        yield chunks.event(None, usage=_usage(reply))
    yield b"data: [DONE]\n\n"


@router.post("/v1/voice/chat/completions", response_model=None, responses={200: {
    "description": "A chat.completion, or with stream (or Accept: text/event-stream) chat.completion.chunk "
                   "server-sent events ending with [DONE].",
    "content": {"application/json": {}, "text/event-stream": {}}}})
async def chat_completions(body: ChatCompletionRequest, who: HookCaller,
                           accept: Annotated[str | None, Header()] = None) -> Any:
    """The assistant's next turn on a live call (OpenAI chat completions, streaming or not)."""
    call = parse_call(body.model_dump())
    messages = [m.model_dump() for m in body.messages]
    reply = await engine.start_reply(who.workspace_id, call, messages)
    headers = {"X-Overture-Conversation": reply.conversation_id}
    try:
        # Waiting for the first words here keeps a model that never answers a clean 5xx.
        first: str | None = await reply.__anext__()
    except StopAsyncIteration:
        first = None
    except llm.LLMRequestRejected as exc:
        log.warning("voice model rejected the request for conversation %s: %s", reply.conversation_id, exc)
        raise OvertureError("the model rejected the request", code="model_rejected", status=502) from None
    except llm.LLMError as exc:
        log.warning("voice model unavailable for conversation %s: %s", reply.conversation_id, type(exc).__name__)
        raise OvertureError("the model did not answer; try again", code="model_unavailable", status=503) from None
    model = body.model or engine.TASK
    end_tool = _end_tool(body)
    if body.stream or "text/event-stream" in (accept or ""):
        include_usage = bool((body.stream_options or {}).get("include_usage"))
        return StreamingResponse(_sse(reply, first, _Chunks(model), end_tool, include_usage),
                                 media_type="text/event-stream",
                                 headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    parts = [first or ""]
    try:
        parts.extend([delta async for delta in reply])
    except llm.LLMError as exc:
        log.warning("voice model failed mid-reply in conversation %s: %s", reply.conversation_id, type(exc).__name__)
    message: dict[str, Any] = {"role": "assistant", "content": "".join(parts).strip()}
    finish = "stop"
    if reply.end_call and end_tool:
        fields, finish = _hang_up(end_tool)
        if end_tool == "tools":
            fields["tool_calls"][0].pop("index")
        message.update(fields)
    return JSONResponse({
        "id": f"chatcmpl-{secrets.token_hex(12)}", "object": "chat.completion", "created": int(time.time()),
        "model": model, "system_fingerprint": None,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": _usage(reply),
    }, headers=headers)
