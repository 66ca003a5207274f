"""Planning runs whose model is the local OpenAI-compatible server, reached through litellm's
real ``openai/`` provider: 429s, 500s, timeouts, invalid JSON and drafts that break the channel
rules. Whatever the server does, every run finishes, no enrollment is left in ``planning`` and
no draft that breaks the rules reaches the review queue.

The server answers per contact (it reads the contact block of the prompt), so several contacts
with different scripts share one run whatever order the worker takes them in.
"""

from __future__ import annotations

import json as jsonlib
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import pytest

from agent.channels.rules import SMS_BODY_MAX, check_message
from agent.llm import LLMConfig, use_config
from tests.llm_server import Behaviour, LLMServer, invalid_json, json, slow, status
from tests.builders import nothing_left_planning, outreaches
from tests.flows import enrollments, live_campaign, run_plan

MODEL = "openai/test-model"
FALLBACK = "openai/fallback-model"
PHONES = ["212 555 0100", "312 555 0101", "720 555 0102", "415 555 0103", "617 555 0104", "206 555 0105"]

_CONTACT_BLOCK = re.compile(r'<data name="contact">\n(.*?)\n</data>', re.DOTALL)


def contact_of(body: dict[str, Any]) -> str:
    """The first name in the request's contact data block (the repair request repeats it)."""
    for message in body.get("messages") or []:
        match = _CONTACT_BLOCK.search(str(message.get("content") or ""))
        if match:
            return jsonlib.loads(match.group(1))["first_name"]
    raise AssertionError(f"no contact block in {body!r:.300}")


def user_text(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content") or "") for m in body["messages"] if m["role"] == "user")


@dataclass
class PerContactServer(LLMServer):
    """Each contact's requests pop from the contact's own script; ``(model, name)`` scripts win
    over ``name`` ones, so a fallback model can answer differently. Unscripted: ``default``."""

    scripts: dict[Any, deque[Behaviour]] = field(default_factory=dict)

    def for_contact(self, name: str, *behaviours: Behaviour, model: str | None = None) -> None:
        key = (model.split("/", 1)[1], name) if model else name
        with self._lock:
            self.scripts.setdefault(key, deque()).extend(behaviours)

    def _next(self, body: dict[str, Any]) -> Behaviour:
        fallback = super()._next(body)
        name = contact_of(body)
        with self._lock:
            for key in ((body.get("model"), name), name):
                script = self.scripts.get(key)
                if script:
                    return script.popleft()
        return fallback

    def requests_for(self, name: str, model: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            recorded = list(self.requests)
        return [b for b in recorded
                if contact_of(b) == name and (model is None or b.get("model") == model.split("/", 1)[1])]

    def unused(self) -> dict[Any, int]:
        with self._lock:
            return {k: len(v) for k, v in self.scripts.items() if v}


def sms(body: str, rationale: str = "A short reminder of the webinar.") -> Behaviour:
    return json({"subject": None, "body": body, "rationale": rationale})


def email(subject: str | None, body: str, rationale: str = "The invitation, short.") -> Behaviour:
    return json({"subject": subject, "body": body, "rationale": rationale})


def prompt_tokens(body: dict[str, Any]) -> int:
    """What the test server reports as prompt tokens for a request (words of every message)."""
    return sum(len(str(m.get("content") or "").split()) for m in body["messages"])


@pytest.fixture
def server():
    # An unscripted request is a test bug: make it loud (a 400 is not retried, so it fails fast).
    with PerContactServer(default=status(400, "unscripted request")) as srv:
        yield srv


@pytest.fixture
def model_config(server):
    """Install the local server as the planner's model for the test (the worker thread reads the
    same process-wide config); ``configure(**overrides)`` swaps in other knobs."""

    def configure(**overrides: Any) -> LLMConfig:
        values = dict(model=MODEL, api_base=server.api_base, api_key="test", timeout=5.0, retries=2,
                      backoff=0.01, backoff_max=0.02, concurrency=4)
        return use_config(LLMConfig(**{**values, **overrides}))

    configure()
    yield configure
    use_config(None)


def people(*names: str, channel: str = "sms") -> list[dict[str, str]]:
    out = []
    for i, name in enumerate(names):
        person = {"name": f"{name} Tester", "email": f"{name.lower()}@example.com"}
        if channel == "sms":
            person["phone"] = PHONES[i]
        out.append(person)
    return out


async def plan(client, admin, names: tuple[str, ...], *, channel: str = "sms") -> tuple[dict, dict, dict]:
    """A live campaign with ``names`` as contacts, one planning run: (run, enrollments, outreaches)."""
    # Manual mode: the embedded scheduler never starts a run of its own beside this one.
    cid = await live_campaign(client, admin, channels=(channel,), contacts=people(*names, channel=channel),
                              execution_mode="manual")
    run = await run_plan(client, admin, cid)
    rows = await enrollments(client, admin, cid)
    drafts = {o.enrollment_id: o for o in await outreaches(cid)}
    await assert_run_settled(run, rows, drafts)
    return run, rows, {name: drafts.get(row["id"]) for name, row in rows.items()}


async def assert_run_settled(run: dict, rows: dict, drafts: dict) -> None:
    """The invariants every run must keep, whatever the model did."""
    assert run["status"] == "succeeded", run
    assert run["planned"] + run["failed"] + run["skipped"] == run["total"] == len(rows), run
    assert await nothing_left_planning()
    for o in drafts.values():
        assert check_message(o.channel, subject=o.subject, body=o.body) == [], (o.subject, o.body[:80])
        assert o.status == "awaiting_approval"
    with_draft = {o.enrollment_id for o in drafts.values()}
    for name, row in rows.items():
        if row["id"] in with_draft:
            assert row["status"] == "awaiting_approval", (name, row)
        else:
            assert row["status"] == "error", (name, row)
    assert run["planned"] == len(drafts)
    assert run["failed"] == sum(1 for r in rows.values() if r["status"] == "error")


def error_of(rows: dict, name: str) -> tuple[str, str | None]:
    return rows[name]["status"], rows[name]["substatus"]


# -- (a) valid drafts ---------------------------------------------------------------------

async def test_valid_drafts_from_the_server_are_planned_with_model_and_tokens(client, admin, server, model_config):
    answers = {"Ann": sms("Hi Ann, the spring webinar is on May 4. Want a seat? Reply STOP to opt out."),
               "Bo": sms("Hi Bo, join our spring webinar on May 4? Reply STOP to opt out.", "Bo's angle.")}
    for name, answer in answers.items():
        server.for_contact(name, answer)
    run, rows, drafts = await plan(client, admin, ("Ann", "Bo"))
    assert (run["planned"], run["failed"]) == (2, 0)
    assert drafts["Ann"].body.startswith("Hi Ann, the spring webinar") and drafts["Bo"].rationale == "Bo's angle."
    for name in ("Ann", "Bo"):
        [request] = server.requests_for(name)
        o = drafts[name]
        assert o.model == MODEL and o.channel == "sms" and o.subject is None
        # Tokens are the server's usage figures for the one request, carried to the row.
        assert o.input_tokens == prompt_tokens(request) > 100
        assert o.output_tokens == len(answers[name].text.split()) > 5
        assert o.cost_usd == 0.0  # a model missing from litellm's price map costs nothing, never fails
        assert request["model"] == "test-model"
        # Structured output went out as a JSON schema, over the real openai provider.
        assert request["response_format"]["type"] == "json_schema"
        assert request["response_format"]["json_schema"]["schema"]["title"] == "OutreachDraft"
        assert "validation_errors" not in user_text(request)
    assert server.unused() == {}


# -- (b) 429 then OK ----------------------------------------------------------------------

async def test_rate_limited_requests_are_retried_and_planned(client, admin, server, model_config):
    server.for_contact("Ann", status(429, "slow down"), sms("Hi Ann, seats are open for the May 4 webinar."))
    server.for_contact("Bo", status(429), status(503), sms("Hi Bo, seats are open for the May 4 webinar."))
    server.for_contact("Cy", sms("Hi Cy, seats are open for the May 4 webinar."))
    run, rows, drafts = await plan(client, admin, ("Ann", "Bo", "Cy"))
    assert (run["planned"], run["failed"]) == (3, 0)
    assert [len(server.requests_for(n)) for n in ("Ann", "Bo", "Cy")] == [2, 3, 1]
    assert drafts["Bo"].body == "Hi Bo, seats are open for the May 4 webinar." and drafts["Bo"].model == MODEL
    # Only the answered request counts toward tokens (a 429 carries no usage).
    assert drafts["Ann"].input_tokens == prompt_tokens(server.requests_for("Ann")[-1])
    assert server.unused() == {}


# -- (c) 500 on every attempt -------------------------------------------------------------

async def test_server_errors_on_every_attempt_end_in_model_error_and_count_as_failed(client, admin, server,
                                                                                      model_config):
    model_config(retries=2)
    server.for_contact("Ann", *[status(500, "boom")] * 3)
    server.for_contact("Bo", sms("Hi Bo, seats are open for the May 4 webinar."))
    run, rows, drafts = await plan(client, admin, ("Ann", "Bo"))
    assert (run["planned"], run["failed"], run["skipped"]) == (1, 1, 0)
    assert error_of(rows, "Ann") == ("error", "model_error") and drafts["Ann"] is None
    assert len(server.requests_for("Ann")) == 3  # the first attempt and two retries, then no more
    assert drafts["Bo"] is not None
    assert server.unused() == {}


# -- (d) slower than the timeout ----------------------------------------------------------

async def test_a_model_slower_than_the_timeout_ends_in_model_error_in_bounded_time(client, admin, server,
                                                                                   model_config):
    model_config(timeout=0.5, retries=1)
    server.for_contact("Ann", slow(30, sms("too late")), slow(30, sms("too late")))
    server.for_contact("Bo", sms("Hi Bo, seats are open for the May 4 webinar."))
    started = time.monotonic()
    run, rows, drafts = await plan(client, admin, ("Ann", "Bo"))
    elapsed = time.monotonic() - started
    assert error_of(rows, "Ann") == ("error", "model_error") and drafts["Ann"] is None
    assert (run["planned"], run["failed"]) == (1, 1)
    assert len(server.requests_for("Ann")) == 2  # one attempt and one retry, each cut at 0.5 s
    assert elapsed < 10, elapsed  # 2 x 0.5 s plus set-up; never the server's 30 s


# -- (e) invalid JSON -----------------------------------------------------------------------

async def test_invalid_json_gets_one_repair_request_then_model_error(client, admin, server, model_config):
    server.for_contact("Ann", invalid_json(), invalid_json('{"body": "Hi Ann"'))
    server.for_contact("Bo", invalid_json("Sure! Here is your message: Hi Bo"),
                       sms("Hi Bo, seats are open for the May 4 webinar."))
    # Valid JSON but not the schema (no body) is repaired the same way.
    server.for_contact("Cy", json({"message": "Hi Cy"}), json({"text": "Hi Cy"}))
    run, rows, drafts = await plan(client, admin, ("Ann", "Bo", "Cy"))
    assert error_of(rows, "Ann") == ("error", "model_error") and error_of(rows, "Cy") == ("error", "model_error")
    assert (run["planned"], run["failed"]) == (1, 2)
    for name in ("Ann", "Bo", "Cy"):
        first, repair = server.requests_for(name)  # exactly two: the request and one repair
        # The repair request sends the bad answer back with the validation errors.
        assert first["messages"] == repair["messages"][: len(first["messages"])]
        assert repair["messages"][-2]["role"] == "assistant"
        assert "does not validate" in repair["messages"][-1]["content"]
    assert server.requests_for("Ann")[1]["messages"][-2]["content"] == '{"not": "closed"'
    assert "body" in server.requests_for("Cy")[1]["messages"][-1]["content"]  # names the missing field
    assert drafts["Bo"].body == "Hi Bo, seats are open for the May 4 webinar."
    # Both answered requests count toward the tokens of the row that got planned.
    assert drafts["Bo"].input_tokens == sum(prompt_tokens(b) for b in server.requests_for("Bo"))
    assert server.unused() == {}


# -- (f) over-long drafts -------------------------------------------------------------------

LONG = ("Hi, " + "the webinar on May 4 has seats left. " * 60)[:1_999] + "."


async def test_over_long_sms_is_redrafted_at_most_twice_then_message_too_long(client, admin, server, model_config):
    assert len(LONG) == 2_000 > SMS_BODY_MAX
    server.for_contact("Ann", sms(LONG), sms(LONG), sms(LONG))
    server.for_contact("Bo", sms(LONG), sms("Hi Bo, short now: seats are open for the May 4 webinar."))
    run, rows, drafts = await plan(client, admin, ("Ann", "Bo"))
    assert error_of(rows, "Ann") == ("error", "message_too_long") and drafts["Ann"] is None
    assert (run["planned"], run["failed"]) == (1, 1)
    ann = server.requests_for("Ann")
    assert len(ann) == 3  # the draft and two redrafts, no more
    failure = f"The sms body has {len(LONG)} characters; the limit is {SMS_BODY_MAX}."
    assert failure not in user_text(ann[0]) and "validation_errors" not in user_text(ann[0])
    for redraft in ann[1:]:
        assert '<data name="validation_errors">' in user_text(redraft) and failure in user_text(redraft)
    bo = server.requests_for("Bo")
    assert len(bo) == 2 and failure in user_text(bo[1])
    assert drafts["Bo"].body == "Hi Bo, short now: seats are open for the May 4 webinar."
    # The redraft's tokens add to the first draft's.
    assert drafts["Bo"].input_tokens == sum(prompt_tokens(b) for b in bo)
    assert server.unused() == {}


async def test_leftover_placeholders_are_redrafted_and_end_in_model_error(client, admin, server, model_config):
    server.for_contact("Ann", *[sms("Hi [First Name], seats are open for the May 4 webinar.")] * 3)
    server.for_contact("Bo", sms("Hi {{ first_name }}, seats are open."), sms("Hi Bo, seats are open."))
    run, rows, drafts = await plan(client, admin, ("Ann", "Bo"))
    # A rule without a substatus of its own means the model could not produce a usable draft.
    assert error_of(rows, "Ann") == ("error", "model_error")
    assert len(server.requests_for("Ann")) == 3
    assert "[First Name]" in user_text(server.requests_for("Ann")[1])
    assert drafts["Bo"].body == "Hi Bo, seats are open."
    assert server.unused() == {}


# -- (g) email without a subject ------------------------------------------------------------

async def test_email_without_subject_is_redrafted(client, admin, server, model_config):
    body = "Hi Ann,\n\nThe spring webinar is on May 4 and a seat is yours if you want it.\n\nBest,\nThe team"
    server.for_contact("Ann", email(None, body), email("A seat at the May 4 webinar", body))
    server.for_contact("Bo", email(None, body), email("   ", body), email(None, body))
    run, rows, drafts = await plan(client, admin, ("Ann", "Bo"), channel="email")
    assert drafts["Ann"].subject == "A seat at the May 4 webinar" and drafts["Ann"].body == body
    assert error_of(rows, "Bo") == ("error", "missing_subject") and drafts["Bo"] is None
    assert (run["planned"], run["failed"]) == (1, 1)
    ann, bo = server.requests_for("Ann"), server.requests_for("Bo")
    assert (len(ann), len(bo)) == (2, 3)
    assert "An email needs a subject." in user_text(ann[1])
    assert all("An email needs a subject." in user_text(r) for r in bo[1:])
    assert server.unused() == {}


# -- (h) fallback model ---------------------------------------------------------------------

async def test_fallback_model_answers_when_the_main_one_keeps_failing(client, admin, server, model_config):
    model_config(fallbacks=[FALLBACK], retries=1)
    server.for_contact("Ann", status(500), status(502), model=MODEL)
    server.for_contact("Ann", sms("Hi Ann, from the fallback: seats are open May 4."), model=FALLBACK)
    server.for_contact("Bo", sms("Hi Bo, from the main model: seats are open May 4."), model=MODEL)
    # Both models down: the chain runs out and the contact goes to error, not to the queue.
    server.for_contact("Cy", status(500), status(500), model=MODEL)
    server.for_contact("Cy", status(503), status(500), model=FALLBACK)
    run, rows, drafts = await plan(client, admin, ("Ann", "Bo", "Cy"))
    assert drafts["Ann"].model == FALLBACK and drafts["Ann"].body.startswith("Hi Ann, from the fallback")
    assert drafts["Bo"].model == MODEL
    assert error_of(rows, "Cy") == ("error", "model_error")
    assert (run["planned"], run["failed"]) == (2, 1)
    assert [b["model"] for b in server.requests_for("Ann")] == ["test-model", "test-model", "fallback-model"]
    assert len(server.requests_for("Cy", FALLBACK)) == 2 and len(server.requests_for("Cy", MODEL)) == 2
    assert server.unused() == {}


# -- everything at once -------------------------------------------------------------------

async def test_a_run_mixing_every_failure_settles_every_contact(client, admin, server, model_config):
    model_config(timeout=0.5, retries=1)
    server.for_contact("Ann", sms("Hi Ann, seats are open for the May 4 webinar."))
    server.for_contact("Bo", status(429), sms("Hi Bo, seats are open for the May 4 webinar."))
    server.for_contact("Cy", status(500), status(500))
    server.for_contact("Di", slow(30), slow(30))
    server.for_contact("Ed", invalid_json(), invalid_json())
    server.for_contact("Flo", sms(LONG), sms(LONG), sms(LONG))
    run, rows, drafts = await plan(client, admin, ("Ann", "Bo", "Cy", "Di", "Ed", "Flo"))
    assert {n for n, o in drafts.items() if o is not None} == {"Ann", "Bo"}
    assert {n: error_of(rows, n)[1] for n in ("Cy", "Di", "Ed", "Flo")} == {
        "Cy": "model_error", "Di": "model_error", "Ed": "model_error", "Flo": "message_too_long"}
    assert (run["planned"], run["failed"], run["skipped"]) == (2, 4, 0)
    assert server.unused() == {}


async def test_the_model_concurrency_limit_holds_across_the_worker_threads(client, admin, server, model_config):
    # The worker plans two contacts at once (two threads, one event loop); each answer takes 50 ms.
    model_config(concurrency=1)
    server.latency = 0.05
    names = ("Ann", "Bo", "Cy", "Di")
    for name in names:
        server.for_contact(name, sms(f"Hi {name}, seats are open for the May 4 webinar."))
    run, rows, drafts = await plan(client, admin, names)
    assert run["planned"] == 4
    assert server.max_in_flight == 1


# -- a reviewer's instruction, through the service -----------------------------------------------

async def test_a_reviewer_instruction_reaches_the_model_and_is_stored_with_the_draft(client, admin, server,
                                                                                    model_config):
    from planner.service import plan_enrollment

    cid = await live_campaign(client, admin, channels=("sms",), contacts=people("Ann"), execution_mode="manual")
    enrollment_id = (await enrollments(client, admin, cid))["Ann"]["id"]
    server.for_contact("Ann", sms("Hi Ann, the May 4 webinar is recorded too, if the date does not suit."))
    await plan_enrollment(enrollment_id, instruction="Mention that the webinar is recorded.")
    [request] = server.requests_for("Ann")
    assert '<data name="reviewer_instruction">\n"Mention that the webinar is recorded."' in user_text(request)
    [draft] = await outreaches(cid)
    assert draft.instruction == "Mention that the webinar is recorded." and draft.model == MODEL
    assert (await enrollments(client, admin, cid))["Ann"]["status"] == "awaiting_approval"
    assert await nothing_left_planning()
