"""A hook process killed in the middle of a call loses no turn the caller heard in full.

The hook writes nothing before the model's first token and stores a turn when the reply ends,
before its closing chunk and ``[DONE]``: this kills a real ``overture serve`` (SIGKILL, no
shutdown of any kind) once mid-reply and once the instant a ``[DONE]`` arrives, and reads the
transcript from the database."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import select

from agent.db import dispose_engines, session_scope
from agent.models import Conversation, ConversationTurn
from agent.settings import Settings
from tests.builders import make_key
from tests.flows import voice_campaign
from tests.llm_server import LLMServer, auto, dribble, ok

OVERTURE = str(Path(sys.executable).parent / "overture")
OUR_NUMBER = "+12125550199"
PEOPLE = [{"first_name": "Ann", "last_name": "Lee", "phone": "+1 312 555 0100"}]
REPLIES = ["Hi Ann, this is the clinic calling about your check-up.", "Tuesday at ten works well.",
           "Great, I have booked you in for Tuesday at ten, see you then."]


class VoiceModel(LLMServer):
    """The scripted server, its script kept for the call's turns: the serving process's worker
    also plans the live campaign's contacts through the same model (answered by ``auto``)."""

    def _next(self, body):
        if any(m.get("content") == "Hello?" for m in body.get("messages") or []):
            return super()._next(body)
        with self._lock:
            self.requests.append(body)
            self._in_flight += 1
        return auto()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _hook(settings: Settings, model: LLMServer) -> Iterator[tuple[str, subprocess.Popen]]:
    """``overture serve`` on the test's database, its model the scripted server, once /readyz says ready."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OVERTURE_")}
    env.update(OVERTURE_DATA_DIR=str(settings.data_dir), OVERTURE_MODEL="openai/test-model",
               OVERTURE_MODEL_API_BASE=model.api_base, OVERTURE_MODEL_API_KEY="test", OVERTURE_MODEL_RETRIES="0",
               OVERTURE_MODEL_TIMEOUT="20")
    if not settings.is_sqlite:
        env["OVERTURE_DATABASE_URL"] = settings.db_url
    port = _free_port()
    proc = subprocess.Popen([OVERTURE, "serve", "--port", str(port), "--no-access-log"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, "overture serve exited"
            assert time.monotonic() < deadline, "/readyz never said ready"
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def _conversation(turn: int, heard: list[str]) -> list[dict[str, str]]:
    messages = [{"role": "user", "content": "Hello?"}]
    for k in range(turn):
        messages += [{"role": "assistant", "content": heard[k]}, {"role": "user", "content": f"Question {k + 1}?"}]
    return messages


def _turn(base: str, key: str, messages: list[dict[str, str]], *, kill: subprocess.Popen | None = None,
          kill_after_first_delta: bool = False) -> tuple[str, bool]:
    """One streamed turn as a voice platform reads it: (the text heard, whether [DONE] arrived).
    ``kill`` is SIGKILLed after the first content delta, or the instant [DONE] arrives."""
    body = {"model": "x", "stream": True, "messages": messages,
            "metadata": {"call_id": "call-kill-1", "from": OUR_NUMBER, "to": "+13125550100"}}
    heard, done = [], False
    try:
        with httpx.stream("POST", f"{base}/v1/voice/chat/completions", json=body, timeout=30,
                          headers={"Authorization": f"Bearer {key}"}) as response:
            assert response.status_code == 200, response.read()
            for line in response.iter_lines():
                if line == "data: [DONE]":
                    done = True
                    if kill is not None:
                        kill.send_signal(signal.SIGKILL)
                    break
                if line.startswith("data: "):
                    choices = json.loads(line[6:])["choices"]
                    text = choices[0]["delta"].get("content") if choices else None
                    if text:
                        heard.append(text)
                        if kill is not None and kill_after_first_delta:
                            kill.send_signal(signal.SIGKILL)
                            kill = None
    except (httpx.RemoteProtocolError, httpx.ReadError):
        pass
    return "".join(heard), done


async def _transcript() -> list[tuple[str, str]]:
    async with session_scope() as s:
        conversation = (await s.execute(select(Conversation).where(Conversation.external_id == "call-kill-1"))
                        ).scalar_one()
        rows = (await s.execute(select(ConversationTurn.role, ConversationTurn.content)
                                .where(ConversationTurn.conversation_id == conversation.id)
                                .order_by(ConversationTurn.seq))).all()
    await dispose_engines()
    return [(r.role, r.content) for r in rows]


async def test_a_killed_hook_process_loses_no_turn_the_caller_heard_in_full(client, settings):
    key = await make_key("admin")
    await voice_campaign(client, {"Authorization": f"Bearer {key}"}, people=PEOPLE, caller_number=OUR_NUMBER)
    await dispose_engines()
    with VoiceModel() as model:
        model.script(ok(REPLIES[0]), ok(REPLIES[1]), dribble(0.5, ok(REPLIES[2])), ok(REPLIES[2]))
        heard: list[str] = []
        with _hook(settings, model) as (base, proc):
            for turn in range(2):
                text, done = await _in_thread(_turn, base, key, _conversation(turn, heard))
                assert done and text == REPLIES[turn]
                heard.append(text)
            # Killed in the middle of the third reply: the caller heard part of it, never [DONE].
            partial, done = await _in_thread(_turn, base, key, _conversation(2, heard), kill=proc,
                                             kill_after_first_delta=True)
            assert not done and partial and partial != REPLIES[2]
            proc.wait(10)
        answered = [("user", "Hello?"), ("assistant", REPLIES[0]), ("user", "Question 1?"), ("assistant", REPLIES[1])]
        stored = await _transcript()
        assert stored[:4] == answered  # every turn answered in full is there, as heard
        assert ("assistant", partial) not in stored and len(stored) <= 5  # the cut reply is not an answer

        # The platform asks again on a new process, which is killed the instant its [DONE] arrives.
        with _hook(settings, model) as (base, proc):
            text, done = await _in_thread(_turn, base, key, _conversation(2, heard), kill=proc)
            assert done and text == REPLIES[2]
            proc.wait(10)
        stored = await _transcript()
        assert stored == [*answered, ("user", "Question 2?"), ("assistant", REPLIES[2])]


async def _in_thread(fn, *args, **kwargs):
    import anyio

    return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))
