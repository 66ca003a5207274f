"""Retell's custom-LLM WebSocket, ``/v1/voice/retell/{call_id}``, answered by the live-call engine.

**Authentication, before the handshake completes.** The API key comes in ``Authorization: Bearer``
or, since Retell's dashboard takes only a URL, in a ``?key=`` query parameter, which is removed
from the request before anything can log it (uvicorn's access line prints the query string). A
missing, unknown or revoked key is refused with HTTP 401 and a viewer key with 403, each with the
API's problem+json body, through the ASGI WebSocket denial response: the peer never gets a
socket, nothing runs for it, and it still learns why. A server without that ASGI extension closes
the handshake with 1008 (policy violation) instead. Admin and approver keys may connect, as on
the chat-completions hook, and the call is looked up in the key's workspace only. (uvicorn's
``websockets-sansio`` protocol logs a spurious "returned without completing handshake" error
after a denial response, Kludex/uvicorn#3138; the peer still gets the right answer.)

**After the handshake.** We send ``config`` (call details and keep-alive pings, so Retell
reconnects a dead socket) and an empty begin message: the caller speaks first, and a caller who
stays silent gets a ``reminder_required``, which the engine answers with its opener once it knows
the campaign. Each ``response_required`` or ``reminder_required`` cancels the reply still
streaming for an older ``response_id`` before the new one starts, so no frame of a superseded
response is ever sent, and a cancelled reply records no assistant turn (it was never heard); a
repeated or older id is ignored. ``update_only`` transcripts are stored up to, not including,
the utterance that may still be being spoken. A reconnect for the same call id finds the same
conversation: turns are stored by position, so a transcript sent again adds nothing. Frames we
cannot use are logged and ignored; the socket stays up. A call no campaign of the workspace can
be matched to is closed with 4404 ``unknown_call``.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from agent import llm
from agent.auth import Principal, resolve_key
from agent.db import session_scope
from agent.errors import NotFound
from agent.states import Role
from agent.voice import engine, retell
from agent.voice.calls import find_call, record_turns
from api.errors import ERROR_RESPONSES, problem
from api.idempotency import AnsweringRoute

log = logging.getLogger(__name__)

router = APIRouter(tags=["voice"], route_class=AnsweringRoute, responses=ERROR_RESPONSES)

ROLES = (Role.admin, Role.approver)
POLICY_VIOLATION = 1008  # the refusal when the server cannot send an HTTP denial response
UNKNOWN_CALL = 4404  # application close codes are 4000-4999; 4404 reads as "not found"
_DENIAL = "websocket.http.response"


# -- the handshake ---------------------------------------------------------------------------

def _take_key(websocket: WebSocket) -> str | None:
    """The Bearer key, else the ``key`` query parameter, which is stripped from the request."""
    query = parse_qsl(websocket.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    from_query = next((value for name, value in query if name == "key"), None)
    if from_query is not None:
        # In place: the server logs the scope's query string when the handshake is answered.
        websocket.scope["query_string"] = urlencode([(n, v) for n, v in query if n != "key"]).encode("latin-1")
    header = websocket.headers.get("authorization", "")
    if header[:7].lower() == "bearer " and header[7:].strip():
        return header[7:].strip()
    return from_query.strip() if from_query else None


async def _principal(key: str | None) -> Principal | None:
    if not key:
        return None
    async with session_scope() as session:
        return await resolve_key(session, key)


async def _refuse(websocket: WebSocket, status: int, code: str, detail: str, **fields: object) -> None:
    if _DENIAL in websocket.scope.get("extensions", {}):
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        await websocket.send_denial_response(problem(status, code, detail, headers=headers, **fields))
    else:
        await websocket.close(code=POLICY_VIOLATION, reason=code)


@router.websocket("/v1/voice/retell/{call_id}")
async def retell_socket(websocket: WebSocket, call_id: str) -> None:
    """Retell's LLM WebSocket for one call (see the module docstring for the protocol)."""
    principal = await _principal(_take_key(websocket))
    if principal is None:
        return await _refuse(websocket, 401, "unauthorized",
                             "send an API key as 'Authorization: Bearer <key>' or as the 'key' query parameter")
    if not principal.may(*ROLES):
        return await _refuse(websocket, 403, "forbidden", f"the {principal.role.value} role may not use the "
                             "voice hook; it needs admin or approver")
    if not retell.valid_call_id(call_id):
        return await _refuse(websocket, 422, "invalid_call_id", f"the call id must be 1 to {retell.CALL_ID_MAX} "
                             "characters", errors=[{"loc": ["path", "call_id"], "message": "invalid call id"}])
    await websocket.accept()
    await _Connection(websocket, principal.workspace_id, call_id).run()


# -- one connection --------------------------------------------------------------------------

class _Superseded(Exception):
    """A reply's response id is no longer the newest asked for (or the socket is gone)."""


def _drop(opening: asyncio.Future) -> None:
    if not opening.cancelled() and opening.exception() is not None:
        log.warning("a superseded voice turn failed to open: %s", type(opening.exception()).__name__)


class _Connection:
    def __init__(self, websocket: WebSocket, workspace_id: str, call_id: str) -> None:
        self.ws = websocket
        self.workspace_id = workspace_id
        self.call = retell.call_info(call_id)
        self.conversation_id: str | None = None
        self.stored = 0  # settled turns known to be stored: update_only skips the database below it
        self.latest = -1  # the newest response_id asked for
        self.reply: asyncio.Task | None = None
        self.closed = False
        self._lock = asyncio.Lock()
        self._ignored_reasons: set[str] = set()

    async def run(self) -> None:
        log.info("retell call %s connected", self.call.call_id)
        try:
            await self._send(retell.config_frame())
            await self._send(retell.response_frame(0, "", complete=True))
            while not self.closed:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                try:
                    event = retell.parse_event(message["text"] if message.get("text") is not None
                                               else message.get("bytes"))
                except retell.BadFrame as bad:
                    self._ignored(str(bad))
                    continue
                try:
                    await self._handle(event)
                except (WebSocketDisconnect, OSError):
                    raise
                except Exception:  # noqa: BLE001 - one event going wrong must not hang up a live call
                    log.exception("retell call %s: could not handle a %s event", self.call.call_id,
                                  event.interaction_type)
        except (WebSocketDisconnect, OSError):
            pass  # the peer went away; a reconnect continues the same conversation
        finally:
            await self._cancel_reply()
            log.info("retell call %s disconnected", self.call.call_id)

    def _ignored(self, reason: str) -> None:
        if reason not in self._ignored_reasons:  # once per kind and connection: no log flood
            self._ignored_reasons.add(reason)
            log.warning("retell call %s: ignored a frame: %s", self.call.call_id, reason)

    async def _handle(self, event: retell.Event) -> None:
        if isinstance(event, retell.PingPong):
            await self._send(retell.pong_frame(event.timestamp))
        elif isinstance(event, retell.CallDetails):
            self.call = retell.call_info(self.call.call_id, event.call)
        elif isinstance(event, retell.UpdateOnly):
            await self._record(retell.spoken_turns(event.transcript, settled=True))
        elif event.response_id > self.latest:  # an older or repeated id is stale on arrival
            self.latest = event.response_id
            await self._cancel_reply()
            turns = retell.spoken_turns(event.transcript)
            self.reply = asyncio.create_task(self._answer(event.response_id, turns, event.reminder))

    async def _send(self, frame: str) -> None:
        async with self._lock:
            if not self.closed:
                await self.ws.send_text(frame)

    async def _send_for(self, response_id: int, frame: str) -> None:
        if self.closed or response_id != self.latest:
            raise _Superseded
        await self._send(frame)

    async def _cancel_reply(self) -> None:
        task, self.reply = self.reply, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _record(self, turns: list[tuple[str, str]]) -> None:
        """Store the update's settled turns, once the conversation exists (the first reply opens
        it, recording the whole transcript it is given)."""
        if len(turns) <= self.stored:
            return
        try:
            async with session_scope() as session:
                if self.conversation_id is None:
                    found = await find_call(session, self.call.call_id, workspace_id=self.workspace_id)
                    if found is None:
                        return
                    self.conversation_id = found.id
                await record_turns(session, self.conversation_id, turns)
            self.stored = len(turns)
        except Exception:  # noqa: BLE001 - the call goes on; the next reply records the turns again
            log.exception("retell call %s: could not record the transcript update", self.call.call_id)

    async def _answer(self, response_id: int, turns: list[tuple[str, str]], reminder: bool) -> None:
        try:
            reply = await self._open(turns, reminder)
        except NotFound as exc:
            return await self._close(UNKNOWN_CALL, f"{exc.code}: no campaign of this workspace matches the call")
        except Exception:  # noqa: BLE001 - answer the turn (empty) rather than leave Retell waiting
            log.exception("retell call %s: could not start a reply", self.call.call_id)
            return await self._finish(response_id, end_call=False)
        self.conversation_id = reply.conversation_id
        self.stored = max(self.stored, len(turns))
        try:
            async for delta in reply:
                await self._send_for(response_id, retell.response_frame(response_id, delta))
        except (_Superseded, WebSocketDisconnect, OSError):
            return
        except llm.LLMError as exc:
            log.warning("retell call %s: the voice model failed mid-reply: %s", self.call.call_id, type(exc).__name__)
        except Exception:  # noqa: BLE001 - end the turn cleanly, keep the trace in the log
            log.exception("retell call %s: reply failed mid-stream", self.call.call_id)
        finally:
            # Also when cancelled: closing frees the model stream, and an unfinished reply is not recorded.
            await reply.aclose()
        await self._finish(response_id, end_call=reply.end_call)

    async def _open(self, turns: list[tuple[str, str]], reminder: bool) -> engine.Reply:
        opening = asyncio.ensure_future(
            engine.start_reply(self.workspace_id, self.call, retell.messages(turns, reminder=reminder)))
        try:
            return await asyncio.shield(opening)
        except asyncio.CancelledError:
            # Superseded while the turn was being opened: let that short transaction finish (a
            # database call cut off half-way can spoil a pooled connection); the reply is never read.
            opening.add_done_callback(_drop)
            raise

    async def _finish(self, response_id: int, *, end_call: bool) -> None:
        try:
            await self._send_for(response_id, retell.response_frame(response_id, "", complete=True, end_call=end_call))
        except (_Superseded, WebSocketDisconnect, OSError):
            pass

    async def _close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        log.warning("retell call %s: closing with %s (%s)", self.call.call_id, code, reason)
        try:
            async with self._lock:  # not in the middle of a frame being sent
                await self.ws.close(code=code, reason=reason[:120])
        except (WebSocketDisconnect, OSError, RuntimeError):
            pass  # already gone
