"""Retell's custom-LLM WebSocket, played the way Retell plays it: a real ``websockets`` client
against the app served by uvicorn on a loopback port. Details, pings, transcript updates,
response and reminder requests, superseded responses, dropped connections and reconnects, bad
frames, unknown calls and refused handshakes, with what each leaves in the database."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from agent.models import Conversation, ConversationTurn
from agent.states import Role
from agent.voice import retell
from tests.builders import conversation, count, turns
from tests.conftest import make_key
from tests.flows import CALLER_NUMBER, call_id, key_of, voice_campaign
from tests.llm_server import first_token_delay, ok

PATH = "/v1/voice/retell/"
CONFIG = {"response_type": "config", "config": {"auto_reconnect": True, "call_details": True}}
BEGIN = {"response_type": "response", "response_id": 0, "content": "", "content_complete": True, "end_call": False}

pytestmark = pytest.mark.model_server(default=ok("Sure."))  # what the voice model says unless scripted


# -- a Retell peer ---------------------------------------------------------------------------

@pytest.fixture
async def server_url(app) -> Any:
    """The app (already started by the ``app`` fixture) served by uvicorn on a loopback socket."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_config=None))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    await until(lambda: server.started)
    yield f"ws://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    await task
    sock.close()


async def until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait for something that will happen; the bound only ends a test that is already wrong.
    Roomy: a full garbage collection in a loaded CI worker (up to 7 s of wall time measured)
    stops this process's socket server and model server with it, and a 10 s wait once ran out."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Any:
    """Every log record at INFO and up, uvicorn's too: another test's uvicorn.Config may have
    configured its loggers (no propagation, WARNING), so capture them at the source."""
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger="uvicorn.error")
    source = logging.getLogger("uvicorn")
    source.addHandler(caplog.handler)
    yield caplog
    source.removeHandler(caplog.handler)


def said(*lines: tuple[str, str]) -> list[dict[str, Any]]:
    """A Retell transcript from (role, content) pairs, with the word timings Retell adds."""
    return [{"role": role, "content": content, "words": [{"word": w, "start": 0.5, "end": 0.9}
                                                         for w in content.split()]} for role, content in lines]


def call_object(call: str, *, frm: str | None, to: str | None, direction: str | None = "outbound",
                metadata: dict[str, Any] | None = None, variables: dict[str, str] | None = None) -> dict[str, Any]:
    """Retell's call object as a ``call_details`` event carries it (ids and numbers replaced)."""
    return {"call_type": "phone_call", "call_id": call, "agent_id": "oBeDLoLOeuAbiuaMFXRtDOLriTJ5tSxD",
            "agent_version": 3, "call_status": "ongoing", "from_number": frm, "to_number": to,
            "direction": direction, "metadata": metadata or {}, "retell_llm_dynamic_variables": variables or {},
            "start_timestamp": 1767225600000, "opt_out_sensitive_data_storage": False}


class Retell:
    """What Retell's server does on the socket, one step per method."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, **event: Any) -> None:
        await self.ws.send(json.dumps(event))

    async def frame(self, timeout: float = 15.0) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def opening(self) -> list[dict[str, Any]]:
        return [await self.frame(), await self.frame()]

    async def details(self, call: dict[str, Any]) -> None:
        await self.send(interaction_type="call_details", call=call)

    async def ping(self, timestamp: int) -> dict[str, Any]:
        """A ping, answered before anything sent after it: also a barrier for earlier frames."""
        await self.send(interaction_type="ping_pong", timestamp=timestamp)
        return await self.frame()

    async def answer(self, response_id: int, transcript: list[dict[str, Any]],
                     kind: str = "response_required") -> list[dict[str, Any]]:
        await self.send(interaction_type=kind, response_id=response_id, transcript=transcript)
        return await self.until_complete(response_id)

    async def until_complete(self, response_id: int) -> list[dict[str, Any]]:
        frames = []
        while True:
            frame = await self.frame()
            frames.append(frame)
            if frame.get("response_id") == response_id and frame.get("content_complete"):
                return frames


def text_of(frames: list[dict[str, Any]]) -> str:
    return "".join(f["content"] for f in frames)


def assert_one_response(frames: list[dict[str, Any]], response_id: int, *, end_call: bool = False) -> None:
    assert {f["response_type"] for f in frames} == {"response"}, frames
    assert {f["response_id"] for f in frames} == {response_id}, frames
    assert [f["content_complete"] for f in frames] == [False] * (len(frames) - 1) + [True], frames
    assert frames[-1]["end_call"] is end_call and frames[-1]["content"] == ""
    assert all("end_call" not in f for f in frames[:-1])
    assert len(frames) >= 2 and text_of(frames).strip(), "a spoken reply, streamed before the last frame"


def retell_url(base: str, call: str, key: str | None = None) -> str:
    return f"{base}{PATH}{call}" + (f"?key={key}" if key else "")


def auth(headers: dict[str, str]) -> dict[str, str]:
    return {"Authorization": headers["Authorization"]}


# -- a whole call ----------------------------------------------------------------------------

async def test_a_retell_call_with_a_drop_and_a_reconnect_keeps_one_conversation(server_url, client, admin, logs):
    vc = await voice_campaign(client, admin)
    call = call_id()
    details = call_object(call, frm=CALLER_NUMBER, to=vc.phone("Maria"), metadata={"campaign_id": vc.id},
                          variables={"first_name": "Maria"})
    hello = "Hello?"

    # The key in the query string, as a dashboard URL carries it.
    async with connect(retell_url(server_url, call, key_of(admin)), proxy=None) as ws:
        peer = Retell(ws)
        assert await peer.opening() == [CONFIG, BEGIN]
        await peer.details(details)
        assert await peer.ping(1767225601000) == {"response_type": "ping_pong", "timestamp": 1767225601000}

        first = await peer.answer(1, said(("user", hello)))
        assert_one_response(first, 1)
        a1 = text_of(first).strip()
        # An update while the caller is still talking: the settled turns are kept, not the half sentence.
        await peer.send(interaction_type="update_only", turntaking="user_turn",
                          transcript=said(("user", hello), ("agent", a1), ("user", "Yes, I'd like")))
        assert (await peer.ping(2))["response_type"] == "ping_pong"
        row = await conversation(call)
        assert await turns(row.id) == [("user", hello), ("assistant", a1)]
        ws.transport.abort()  # dropped: no closing handshake

    # Retell reconnects to the same URL, this time with the key in the header.
    async with connect(retell_url(server_url, call), additional_headers=auth(admin), proxy=None) as ws:
        peer = Retell(ws)
        assert await peer.opening() == [CONFIG, BEGIN]
        await peer.details(details)
        so_far = [("user", hello), ("agent", a1), ("user", "Yes, I'd like to book a check-up.")]
        second = await peer.answer(1, said(*so_far))  # ids start again on a new connection
        assert_one_response(second, 1)
        a2 = text_of(second).strip()
        so_far.append(("agent", a2))

        # The caller goes quiet: Retell asks for a reminder.
        nudge = await peer.answer(2, said(*so_far), kind="reminder_required")
        assert_one_response(nudge, 2)
        a3 = text_of(nudge).strip()
        so_far.append(("agent", a3))

        so_far.append(("user", "Actually I have to go. Thanks, goodbye."))
        last = await peer.answer(3, said(*so_far))
        assert_one_response(last, 3, end_call=True)
        a4 = text_of(last).strip()
        assert a4 == "Thank you for your time, Maria. Goodbye!"
        assert not any("END_CALL" in f["content"] for f in first + second + nudge + last)

    assert await count(Conversation, Conversation.external_id == call) == 1
    row = await conversation(call)
    assert (row.workspace_id is not None, row.campaign_id, row.contact_id, row.enrollment_id, row.direction) == (
        True, vc.id, vc.contacts["Maria"]["id"], vc.contacts["Maria"]["enrollment_id"], "outbound")
    assert await turns(row.id) == [
        ("user", hello), ("assistant", a1), ("user", "Yes, I'd like to book a check-up."), ("assistant", a2),
        ("assistant", a3), ("user", "Actually I have to go. Thanks, goodbye."), ("assistant", a4)]

    # The key never reached a log line, though the connections did.
    assert f"{PATH}{call}" in logs.text
    assert key_of(admin) not in logs.text


async def test_a_retell_inbound_call_is_matched_by_our_number(server_url, client, admin):
    vc = await voice_campaign(client, admin)
    call = call_id()
    async with connect(retell_url(server_url, call), additional_headers=auth(admin), proxy=None) as ws:
        peer = Retell(ws)
        await peer.opening()
        await peer.details(call_object(call, frm=vc.phone("James"), to=CALLER_NUMBER, direction="inbound"))
        assert_one_response(await peer.answer(1, said(("user", "Hi, you called me earlier?"))), 1)
    row = await conversation(call)
    assert (row.direction, row.campaign_id, row.contact_id) == ("inbound", vc.id, vc.contacts["James"]["id"])
    assert (row.from_number, row.to_number) == (vc.phone("James"), CALLER_NUMBER)


# -- superseded responses and drops ----------------------------------------------------------

async def test_a_newer_request_cancels_the_streaming_one_and_no_stale_frame_is_sent(server_url, client, admin,
                                                                                      model_server):
    vc = await voice_campaign(client, admin)
    call = call_id()
    model_server.script(first_token_delay(800, ok("Stale words nobody should hear.")), ok("Fresh answer, right away."))
    async with connect(retell_url(server_url, call), additional_headers=auth(admin), proxy=None) as ws:
        peer = Retell(ws)
        await peer.opening()
        await peer.details(call_object(call, frm=CALLER_NUMBER, to=vc.phone("Maria"), metadata={"campaign_id": vc.id}))
        await peer.send(interaction_type="response_required", response_id=1, transcript=said(("user", "So I")))
        await until(lambda: len(model_server.requests) == 1)  # the first reply is streaming (waiting on the model)
        frames = await peer.answer(2, said(("user", "So I was wondering about Tuesday.")))
        # The abandoned model request ends (the server notices its client left once the delay is over)...
        await until(lambda: model_server.finished == 2)
        # ...and nothing of response 1 came out before or after: the ping is answered next.
        assert (await peer.ping(7))["timestamp"] == 7
    assert_one_response(frames, 2)
    assert text_of(frames) == "Fresh answer, right away."
    row = await conversation(call)
    stored = await turns(row.id)
    assert [role for role, _ in stored] == ["user", "assistant"]  # the cancelled reply left no turn
    assert stored[1] == ("assistant", "Fresh answer, right away.")


async def test_a_sentence_that_grew_after_a_superseded_request_is_stored_whole(server_url, client, admin,
                                                                              model_server):
    vc = await voice_campaign(client, admin)
    call = call_id()
    model_server.script(first_token_delay(300, ok("Stale.")), ok("Fresh."))
    async with connect(retell_url(server_url, call), additional_headers=auth(admin), proxy=None) as ws:
        peer = Retell(ws)
        await peer.opening()
        await peer.details(call_object(call, frm=CALLER_NUMBER, to=vc.phone("Maria"), metadata={"campaign_id": vc.id}))
        await peer.send(interaction_type="response_required", response_id=1, transcript=said(("user", "So I")))
        await until(lambda: len(model_server.requests) == 1)  # "So I" is on the record by now
        assert_one_response(await peer.answer(2, said(("user", "So I was wondering about Tuesday."))), 2)
    row = await conversation(call)
    assert (await turns(row.id))[0] == ("user", "So I was wondering about Tuesday.")


async def test_a_drop_mid_reply_records_no_unheard_turn_and_the_call_resumes(server_url, client, admin, model_server):
    vc = await voice_campaign(client, admin)
    call = call_id()
    model_server.script(first_token_delay(800, ok("Words lost with the line.")), ok("Sorry, the line dropped."))
    async with connect(retell_url(server_url, call), additional_headers=auth(admin), proxy=None) as ws:
        peer = Retell(ws)
        await peer.opening()
        await peer.details(call_object(call, frm=CALLER_NUMBER, to=vc.phone("James"), metadata={"campaign_id": vc.id}))
        await peer.send(interaction_type="response_required", response_id=1, transcript=said(("user", "Hello?")))
        await until(lambda: len(model_server.requests) == 1)
        ws.transport.abort()
    await until(lambda: model_server.finished == 1)
    row = await conversation(call)
    assert await turns(row.id) == [("user", "Hello?")]

    # The reconnect sends no call details before asking: the call id alone finds the conversation.
    async with connect(retell_url(server_url, call), additional_headers=auth(admin), proxy=None) as ws:
        peer = Retell(ws)
        await peer.opening()
        frames = await peer.answer(1, said(("user", "Hello?"), ("user", "Hello, are you there?")))
    assert_one_response(frames, 1)
    assert await count(Conversation) == 1
    assert await turns(row.id) == [("user", "Hello?"), ("user", "Hello, are you there?"),
                                   ("assistant", "Sorry, the line dropped.")]


async def test_a_reminder_tells_the_model_the_caller_went_quiet_and_invents_no_caller_turn(server_url, client, admin,
                                                                                          model_server):
    vc = await voice_campaign(client, admin)
    call = call_id()
    opener = "Hi Maria, this is Riverside Dental about your check-up."
    model_server.script(ok("Are you still there, Maria?"))
    async with connect(retell_url(server_url, call), additional_headers=auth(admin), proxy=None) as ws:
        peer = Retell(ws)
        await peer.opening()
        await peer.details(call_object(call, frm=CALLER_NUMBER, to=vc.phone("Maria"), metadata={"campaign_id": vc.id}))
        frames = await peer.answer(4, said(("agent", opener)), kind="reminder_required")
    assert_one_response(frames, 4)
    asked = model_server.requests[0]["messages"]
    assert asked[0]["role"] == "system" and "the caller has said nothing" in asked[0]["content"]
    assert asked[1:] == [{"role": "assistant", "content": opener}]
    row = await conversation(call)
    assert await turns(row.id) == [("assistant", opener), ("assistant", "Are you still there, Maria?")]


# -- frames we cannot use, calls we do not know ----------------------------------------------

async def test_bad_frames_are_ignored_and_the_socket_stays_up(server_url, client, admin):
    vc = await voice_campaign(client, admin)
    call = call_id()
    async with connect(retell_url(server_url, call), additional_headers=auth(admin), proxy=None) as ws:
        peer = Retell(ws)
        await peer.opening()
        await peer.details(call_object(call, frm=CALLER_NUMBER, to=vc.phone("Maria")))
        for bad in ("not json", "[1, 2]", "null", '{"interaction_type": "dance"}', '{"no": "type"}',
                    '{"interaction_type": "response_required", "transcript": []}',
                    '{"interaction_type": "response_required", "response_id": -1, "transcript": []}',
                    '{"interaction_type": "update_only", "transcript": "Hello"}',
                    '{"interaction_type": "ping_pong"}'):
            await ws.send(bad)
        await ws.send(b"\xff\x00binary")
        # The next frame out is the answer to this ping: nothing above was answered, nothing crashed.
        assert await peer.ping(42) == {"response_type": "ping_pong", "timestamp": 42}
        assert_one_response(await peer.answer(1, said(("user", "Hello?"))), 1)
    assert await count(ConversationTurn) == 2


async def test_an_unknown_call_is_closed_with_4404_and_nothing_stored(server_url, client, admin):
    await voice_campaign(client, admin)
    call = call_id()
    async with connect(retell_url(server_url, call), additional_headers=auth(admin), proxy=None) as ws:
        peer = Retell(ws)
        await peer.opening()
        await peer.details(call_object(call, frm="+15005550006", to="+15005550007"))
        await peer.send(interaction_type="response_required", response_id=1, transcript=said(("user", "Hello?")))
        with pytest.raises(ConnectionClosed) as closed:
            await peer.frame()
    assert closed.value.rcvd.code == 4404
    assert closed.value.rcvd.reason.startswith("unknown_call")
    assert await count(Conversation) == 0 and await count(ConversationTurn) == 0


async def test_another_workspaces_campaign_is_an_unknown_call(server_url, client, admin):
    vc = await voice_campaign(client, admin)
    outsider = {"Authorization": f"Bearer {await make_key(Role.admin, workspace='elsewhere')}"}
    call = call_id()
    async with connect(retell_url(server_url, call), additional_headers=outsider, proxy=None) as ws:
        peer = Retell(ws)
        await peer.opening()
        await peer.details(call_object(call, frm=CALLER_NUMBER, to=vc.phone("Maria"), metadata={"campaign_id": vc.id}))
        await peer.send(interaction_type="response_required", response_id=1, transcript=said(("user", "Hello?")))
        with pytest.raises(ConnectionClosed) as closed:
            await peer.frame()
    assert closed.value.rcvd.code == 4404
    assert await count(Conversation) == 0


# -- the handshake ---------------------------------------------------------------------------

async def refused(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    with pytest.raises(InvalidStatus) as refusal:
        async with connect(url, additional_headers=headers, proxy=None):
            pass
    response = refusal.value.response
    assert response.headers["content-type"] == "application/problem+json"
    return response.status_code, json.loads(bytes(response.body))


async def test_handshakes_without_a_usable_key_are_refused_before_accepting(server_url, client, admin, logs):
    vc = await voice_campaign(client, admin)
    call = call_id()
    status, body = await refused(retell_url(server_url, call))
    assert (status, body["code"]) == (401, "unauthorized")
    status, body = await refused(retell_url(server_url, call, "ovk_not-a-real-key"))
    assert (status, body["code"]) == (401, "unauthorized")
    status, body = await refused(retell_url(server_url, call), {"Authorization": "Bearer ovk_revoked-or-wrong"})
    assert (status, body["code"]) == (401, "unauthorized")
    viewer = await make_key(Role.viewer)
    status, body = await refused(retell_url(server_url, call, viewer))
    assert (status, body["code"]) == (403, "forbidden")
    status, body = await refused(retell_url(server_url, "x" * 201), auth(admin))
    assert (status, body["code"], body["errors"][0]["loc"]) == (422, "invalid_call_id", ["path", "call_id"])
    assert await count(Conversation) == 0
    assert vc.id and "ovk_not-a-real-key" not in logs.text and viewer not in logs.text
    assert f"{PATH}{call}" in logs.text


async def test_without_the_denial_extension_a_refusal_closes_with_1008(app):
    """A server that cannot send an HTTP answer to a handshake (no ASGI denial-response extension)."""
    sent: list[dict[str, Any]] = []
    inbox = asyncio.Queue()
    await inbox.put({"type": "websocket.connect"})
    scope = {"type": "websocket", "asgi": {"version": "3.0"}, "http_version": "1.1", "scheme": "ws",
             "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5000), "root_path": "",
             "path": f"{PATH}abc", "raw_path": f"{PATH}abc".encode(), "query_string": b"key=ovk_wrong",
             "headers": [(b"host", b"overture.test")], "subprotocols": [], "state": {}}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, inbox.get, send)
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "unauthorized"}]
    assert scope["query_string"] == b""


# -- the protocol layer on its own -----------------------------------------------------------

def test_transcripts_map_agent_to_assistant_and_updates_keep_only_settled_turns():
    event = retell.parse_event(json.dumps({"interaction_type": "update_only", "transcript": [
        {"role": "agent", "content": "Hi Maria."}, {"role": "tool_call_invocation", "content": "{}"},
        {"role": "user", "content": "  "}, {"role": "user", "content": "Yes, I"}]}))
    assert retell.spoken_turns(event.transcript) == [("assistant", "Hi Maria."), ("user", "Yes, I")]
    assert retell.spoken_turns(event.transcript, settled=True) == [("assistant", "Hi Maria.")]


def test_call_details_become_the_engines_call_info():
    details = call_object("body-id", frm="+1 (312) 555-0101", to="+12125550199", direction="inbound",
                          variables={"campaign_id": "cmp_1", "name": "Ann Lee", "age": 3})  # type: ignore[dict-item]
    info = retell.call_info("path-id", retell.parse_event(json.dumps(
        {"interaction_type": "call_details", "call": details})).call)
    assert (info.call_id, info.from_number, info.to_number, info.direction, info.campaign_id) == (
        "path-id", "+13125550101", "+12125550199", "inbound", "cmp_1")
    assert info.customer == {"name": "Ann Lee"}
    web = retell.call_info("w", retell.RetellCall(call_type="web_call", metadata={"campaign_id": "cmp_2"}))
    assert (web.direction, web.from_number, web.campaign_id) == (None, None, "cmp_2")


def test_a_bad_frame_is_described_without_its_content():
    with pytest.raises(retell.BadFrame) as bad:
        retell.parse_event(json.dumps({"interaction_type": "response_required", "response_id": "my card 4242",
                                       "transcript": [{"role": "user", "content": "my card 4242"}]}))
    assert "response_id" in str(bad.value) and "4242" not in str(bad.value)
