"""HTTP journeys through the app's httpx client, each asserting its own steps went through: create
a campaign, add contacts, go live, plan and wait for the drafts, read the queue and the activity
log; the voice and evaluation set-ups; and the bodies voice platforms send. Rows the API cannot
write come from ``tests/builders.py``."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from agent.db import session_scope, utcnow
from agent.lifecycle.outreaches import move_outreaches
from agent.models import Enrollment, Outreach
from agent.states import OutreachAction
from tests import builders
from tests.builders import GOALS as VOICE_GOALS
from tests.conftest import drain_queue

BRIEF = "Invite customers to the spring product webinar on May 4 and offer a seat. Keep it short."
SCHEDULE = {"business_hours": {d: [{"start": "09:00", "end": "17:00"}] for d in ("mon", "tue", "wed", "thu", "fri")}}
TWO_CHANNELS = [{"kind": "email", "from_address": "ann@example.com"}, {"kind": "sms"}]
NAMES = ["Ann Lee", "Bo Chen", "Cy Diaz", "Di Eng", "Ed Fox", "Flo Gray"]


# -- campaigns -------------------------------------------------------------------------------

async def create(client, headers, **fields):
    """A draft campaign (email and SMS unless ``channels=``), as the API answers it."""
    r = await client.post("/v1/campaigns", json={"name": "Spring", "channels": TWO_CHANNELS, **fields}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def act(client, headers, cid, action):
    r = await client.post(f"/v1/campaigns/{cid}/{action}", headers=headers)
    assert r.status_code in (200, 201), r.text
    return r.json()


async def fetch(client, headers, cid):
    r = await client.get(f"/v1/campaigns/{cid}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def listed(client, headers, **params):
    r = await client.get("/v1/campaigns", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def assert_problem(r, status, code):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == code and body["status"] == status and body["title"] and body["detail"]
    return body


async def events(client, headers, cid, params=None):
    """A campaign's activity log over HTTP (``tests.builders.events`` reads one outreach's rows)."""
    r = await client.get(f"/v1/campaigns/{cid}/activity", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def live_campaign(client, headers, *, channels=("email",), manual_review=True, contacts=(), **extra) -> str:
    """A campaign with ``contacts`` enrolled, gone live; its id. ``channels`` are kinds, or whole
    channel bodies (kind and configuration). A ``follow_up`` campaign (the sequence with its
    retries, which these journeys exercise) unless ``type="one_time"``."""
    body = {"name": "Spring webinar", "brief": BRIEF, "type": "follow_up",
            "channels": [{"kind": k} if isinstance(k, str) else k for k in channels],
            "manual_review": manual_review, "timezone": "America/New_York", **extra}
    cid = (await client.post("/v1/campaigns", json=body, headers=headers)).json()["id"]
    if contacts:
        r = await client.post(f"/v1/campaigns/{cid}/contacts", json={"contacts": list(contacts)}, headers=headers)
        assert r.status_code == 200 and not r.json()["errors"], r.text
    assert (await client.post(f"/v1/campaigns/{cid}/go-live", headers=headers)).status_code == 200
    return cid


async def enrollments(client, headers, cid: str) -> dict[str, dict]:
    """A campaign's enrollments as the API lists them, by contact first name."""
    r = await client.get(f"/v1/campaigns/{cid}/contacts", headers=headers)
    assert r.status_code == 200, r.text
    return {i["contact"]["first_name"]: i for i in r.json()["items"]}


# -- planning and the review queue -----------------------------------------------------------

async def run_plan(client, headers, cid: str, body: dict | None = None) -> dict:
    """Start a planning run, let the worker finish it, return the run."""
    r = await client.post(f"/v1/campaigns/{cid}/planning-runs", json=body, headers=headers)
    assert r.status_code == 202, r.text
    await drain_queue()
    # The worker may be another process's (the browser tests' live server): its run is done
    # when it says so, not when this process's queue is empty.
    deadline = time.monotonic() + 60
    while True:
        run = (await client.get(f"/v1/planning-runs/{r.json()['id']}", headers=headers)).json()
        if run["status"] not in ("queued", "running") or time.monotonic() > deadline:
            return run
        await asyncio.sleep(0.05)


def zone_at_noon(now: dt.datetime | None = None) -> str:
    """A fixed-offset IANA zone where it is about noon now, so the contact's hours are open."""
    now = now or dt.datetime.now(dt.UTC)
    offset = 12 - now.hour  # -11..12, all of which exist as Etc/GMT zones (their sign is inverted)
    return f"Etc/GMT{-offset:+d}"


def people(n: int, *, timezone: str = "", domain: str = "example.com") -> list[dict]:
    return [{"name": name, "email": f"{name.split()[0].lower()}@{domain}", "timezone": timezone}
            for name in NAMES[:n]]


async def queue_with_drafts(client, headers, n: int = 3, **campaign) -> tuple[str, list[dict]]:
    """A live campaign whose ``n`` contacts each have a draft awaiting approval (oldest first)."""
    contacts = campaign.pop("contacts", None) or people(n)
    cid = await live_campaign(client, headers, contacts=contacts, **campaign)
    run = await run_plan(client, headers, cid)
    assert run["planned"] == len(contacts), run
    r = await client.get("/v1/outreaches", params={"campaign_id": cid, "status": "awaiting_approval,awaiting_execution"},
                         headers=headers)
    assert r.status_code == 200, r.text
    return cid, r.json()["items"]


async def approved_and_queued(client, admin, n: int = 1, **campaign) -> tuple[str, dict[str, dict]]:
    """A live campaign whose drafts are approved and handed to the executor, but not yet sent (the
    tests call the executor themselves, so nothing races them)."""
    cid, items = await queue_with_drafts(client, admin, n, contacts=people(n, timezone=zone_at_noon()), **campaign)
    for item in items:
        assert (await client.post(f"/v1/outreaches/{item['id']}/approve", headers=admin)).status_code == 200
    async with session_scope() as s:
        moved = await move_outreaches(s, OutreachAction.queue, Outreach.campaign_id == cid)
        ids = [r.enrollment_id for r in moved]
        await s.execute(Enrollment.__table__.update().where(Enrollment.id.in_(ids))
                        .values(status="awaiting_execution"))
    return cid, by_name(items)


@contextmanager
def statements_on(fragment: str) -> Iterator[list[str]]:
    """The SQL statements naming ``fragment`` that any engine runs inside the block (clear the list to reset)."""
    statements: list[str] = []

    def spy(conn, cursor, statement, *args) -> None:  # noqa: ANN001
        if fragment in statement:
            statements.append(statement)

    event.listen(Engine, "before_cursor_execute", spy)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", spy)


def by_name(items: list[dict]) -> dict[str, dict]:
    """Inbox items by contact first name (drafts are planned concurrently, in no fixed order)."""
    return {i["contact"]["name"].split()[0]: i for i in items}


# -- voice -----------------------------------------------------------------------------------

HOOK = "/v1/voice/chat/completions"
CALLER_NUMBER = "+12125550199"  # the campaign's own number (our side of every call)
VOICE_BRIEF = ("Call patients whose last visit to Riverside Dental was over six months ago and offer to book "
               "their check-up. Slots: weekdays 8am to 6pm. Keep it friendly and short.")
INBOUND_PROMPT = "Greet the caller, say this is Riverside Dental, and ask how we can help."
PEOPLE = [
    {"first_name": "Maria", "last_name": "Gonzalez", "email": "maria@example.com", "phone": "+1 312 555 0101",
     "properties": {"clinic": "Loop", "last_visit": "2025-11-02"}},
    {"first_name": "James", "last_name": "Carter", "email": "james@example.com", "phone": "+1 415 555 0102",
     "properties": {"clinic": "Mission"}},
]
CALLEES = [{"name": "Ann Lee", "phone": "+1 212 555 0100", "timezone": "America/New_York"},
           {"name": "Bo Chen", "phone": "+1 312 555 0101", "timezone": "America/Chicago"}]
SSE = {"Accept": "text/event-stream"}
BLOCK = re.compile(r'<data name="([a-z_0-9]+)">\n(.*?)\n</data>', re.DOTALL)  # a data block of a prompt


@dataclass
class VoiceCampaign:
    id: str
    caller_number: str
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)  # first name -> contact (id, phone, ...)
    goal_ids: list[str] = field(default_factory=list)

    def phone(self, first_name: str) -> str:
        return self.contacts[first_name]["phone"]


async def voice_campaign(client, headers, *, people=PEOPLE, caller_number: str | None = CALLER_NUMBER,
                         goals=VOICE_GOALS, live: bool = True, **fields: Any) -> VoiceCampaign:
    """A voice campaign (live unless ``live=False``) with ``people`` enrolled, goals and a caller
    number. Caller numbers and goals have no endpoint yet, so they come from the builders."""
    body = {"name": "Check-up calls", "brief": VOICE_BRIEF, "channels": [{"kind": "voice"}], "type": "follow_up",
            "timezone": "America/Chicago", "inbound_prompt": INBOUND_PROMPT, **fields}
    r = await client.post("/v1/campaigns", json=body, headers=headers)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    if people:
        r = await client.post(f"/v1/campaigns/{cid}/contacts", json={"contacts": list(people)}, headers=headers)
        assert r.status_code == 200 and not r.json()["errors"], r.text
    if live:
        r = await client.post(f"/v1/campaigns/{cid}/go-live", headers=headers)
        assert r.status_code == 200, r.text
    campaign = VoiceCampaign(id=cid, caller_number=caller_number or "")
    if caller_number:
        await builders.add_caller_number(cid, caller_number)
    campaign.goal_ids = await builders.add_goals(cid, goals) if goals else []
    items = (await client.get(f"/v1/campaigns/{cid}/contacts", headers=headers)).json()["items"]
    campaign.contacts = {i["contact"]["first_name"]: i["contact"] | {"enrollment_id": i["id"]} for i in items}
    return campaign


async def calling_campaign(client, headers, *, contacts=CALLEES, **extra) -> tuple[str, dict[str, dict]]:
    """A live voice campaign of the plain kind (no goals, no number) and its enrollments by first
    name (each with ``contact``)."""
    cid = await live_campaign(client, headers, channels=("voice",), contacts=contacts, **extra)
    return cid, await enrollments(client, headers, cid)


def key_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def call_id() -> str:
    return str(uuid.uuid4())


def metadata_body(call: str, *, frm: str | None = None, to: str | None = None, campaign_id: str | None = None,
                  messages: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    """The plain shape API.md documents: call details in ``metadata``."""
    meta = {"call_id": call}
    if frm:
        meta["from"] = frm
    if to:
        meta["to"] = to
    if campaign_id:
        meta["campaign_id"] = campaign_id
    return {"model": "overture-voice", "messages": messages or [{"role": "user", "content": "Hello?"}],
            "metadata": meta, **extra}


# What Vapi's "custom-llm" provider POSTs to {url}/chat/completions during an outbound phone call
# (fields as in Vapi's request; ids, numbers and secrets replaced).
VAPI_OUTBOUND = {
    "model": "gpt-4o",
    "messages": [
        {"role": "system", "content": "You are Riley, a scheduling assistant. Speak in a calm, warm voice."},
        {"role": "assistant", "content": "Hi, this is Riley from Riverside Dental. Is this a good time?"},
        {"role": "user", "content": "Yes, who is this again?"},
    ],
    "temperature": 0.7,
    "max_tokens": 250,
    "stream": True,
    "tools": [{"type": "function", "function": {
        "name": "endCall", "description": "Use this function to end the call.",
        "parameters": {"type": "object", "properties": {}, "required": []}}}],
    "call": {
        "id": "9f2c4b1e-7a5d-4c3e-9b8f-2d1e6a7c5b40",
        "orgId": "0b3c9d2e-1f4a-4b5c-8d6e-7f8a9b0c1d2e",
        "createdAt": "2026-03-04T15:02:11.482Z",
        "updatedAt": "2026-03-04T15:02:13.019Z",
        "type": "outboundPhoneCall",
        "status": "in-progress",
        "assistantId": "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9",
        "phoneNumberId": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
        "phoneCallProvider": "twilio",
        "phoneCallProviderId": "CA8f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "phoneCallTransport": "pstn",
        "customer": {"number": "+13125550101"},
        "monitor": {"listenUrl": "wss://phone-call-websocket.aws-us-west-2-backend-production1.vapi.ai/9f2c/listen",
                    "controlUrl": "https://phone-call-websocket.aws-us-west-2-backend-production1.vapi.ai/9f2c/control"},
        "transport": {"callSid": "CA8f1e2d3c4b5a69788796a5b4c3d2e1f0", "provider": "twilio"},
        "metadata": {},
    },
    "phoneNumber": {
        "id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
        "orgId": "0b3c9d2e-1f4a-4b5c-8d6e-7f8a9b0c1d2e",
        "number": "+12125550199",
        "name": "Riverside main line",
        "provider": "twilio",
        "twilioAccountSid": "AC00000000000000000000000000000000",
        "createdAt": "2025-12-01T10:00:00.000Z",
        "updatedAt": "2025-12-01T10:00:00.000Z",
        "status": "active",
    },
    "customer": {"number": "+13125550101", "name": "Maria Gonzalez"},
    "metadata": {},
}


def vapi_body(call: str | None = None, *, inbound: bool = False, customer: dict[str, Any] | None = None,
              messages: list[dict[str, Any]] | None = None, campaign_id: str | None = None) -> dict[str, Any]:
    body = copy.deepcopy(VAPI_OUTBOUND)
    if call:
        body["call"]["id"] = call
    if inbound:
        body["call"]["type"] = "inboundPhoneCall"
    if customer is not None:
        body["customer"] = customer
        body["call"]["customer"] = {"number": customer.get("number")}
    if messages is not None:
        body["messages"] = messages
    if campaign_id:
        body["call"]["metadata"] = {"campaign_id": campaign_id}
    return body


def sse_events(text: str) -> list[Any]:
    """The hook's SSE body as a list of JSON payloads, ``[DONE]`` kept as the string; strict framing."""
    assert text.endswith("\n\n"), text[-80:]
    out: list[Any] = []
    for block in text.split("\n\n")[:-1]:
        assert block.startswith("data: "), block
        payload = block[len("data: "):]
        out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


def streamed_text(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


# -- evaluations -----------------------------------------------------------------------------

EVALUATION_BRIEF = "Call patients due for a check-up at Riverside Dental and book a visit."
EVALUATION_GOALS = [("Appointment booked", "The patient agreed to a date and time for a check-up.", True),
                    ("Details confirmed", "The patient confirmed their email address.", False)]
QUESTIONS = [
    {"name": "Interested", "description": "Was the patient interested in a check-up?", "type": "yes_no"},
    {"name": "Preferred time", "description": "When does the patient prefer visits?", "type": "single_choice",
     "options": ["Morning", "Afternoon", "Evening"]},
    {"name": "Concerns", "description": "Which concerns did the patient raise?", "type": "multiple_choice",
     "options": ["Price", "Pain", "Time", "Insurance"]},
    {"name": "Summary", "description": "Summarise the call in one sentence.", "type": "open"},
    {"name": "Friendliness", "description": "How friendly was the patient, 1 to 5?", "type": "rating",
     "scale_min": 1, "scale_max": 5},
    {"name": "Email", "description": "The patient's email address, if they gave one.", "type": "data_point",
     "data_type": "email"},
    {"name": "Visit date", "description": "The date of the booked visit.", "type": "data_point", "data_type": "date"},
]
TRANSCRIPT = [
    ("assistant", "Hi Maria, this is Riverside Dental. You are due for a check-up; can we book you in?"),
    ("user", "Oh yes, I have been meaning to. Mornings are best for me."),
    ("assistant", "We have Tuesday the 14th of April at 9am. Does that work?"),
    ("user", "Tuesday at 9 works. I was worried about the price and the time it takes, to be honest."),
    ("assistant", "A check-up is covered by most plans and takes about thirty minutes. Shall I confirm your email?"),
    ("user", "Sure, it is maria.gonzalez@example.com. Thanks, you have been lovely!"),
]


@dataclass
class Setup:
    campaign_id: str
    workspace_id: str
    goal_ids: list[str] = field(default_factory=list)
    question_ids: list[str] = field(default_factory=list)
    enrollments: dict[str, tuple[str, str]] = field(default_factory=dict)  # first name -> (enrollment, contact)


async def evaluation_campaign(client, headers, *, questions=QUESTIONS, goals=EVALUATION_GOALS,
                              people=("Maria",)) -> Setup:
    """A draft voice campaign with ``people`` enrolled, goals and one question of each type."""
    r = await client.post("/v1/campaigns", json={"name": "Check-ups", "brief": EVALUATION_BRIEF, "type": "follow_up",
                                                 "channels": [{"kind": "voice"}]}, headers=headers)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    contacts = [{"first_name": name, "last_name": "Lee", "phone": f"+1 312 555 01{10 + i:02d}"}
                for i, name in enumerate(people)]
    r = await client.post(f"/v1/campaigns/{cid}/contacts", json={"contacts": contacts}, headers=headers)
    assert r.status_code == 200 and not r.json()["errors"], r.text
    setup = Setup(cid, await builders.workspace_of(cid))
    for name, description, primary in goals:
        r = await client.post(f"/v1/campaigns/{cid}/goals", headers=headers,
                              json={"name": name, "description": description, "is_primary": primary})
        assert r.status_code == 201, r.text
        setup.goal_ids.append(r.json()["id"])
    for q in questions:
        r = await client.post(f"/v1/campaigns/{cid}/analyses", json=q, headers=headers)
        assert r.status_code == 201, r.text
        setup.question_ids.append(r.json()["id"])
    items = (await client.get(f"/v1/campaigns/{cid}/contacts", headers=headers)).json()["items"]
    setup.enrollments = {i["contact"]["first_name"]: (i["id"], i["contact"]["id"]) for i in items}
    return setup


async def finished_call(setup: Setup, turns=TRANSCRIPT, *, who: str = "Maria",
                        evaluate_after: dt.datetime | None = None) -> str:
    """A closed conversation with ``turns``, as the end-of-call report leaves it; its id."""
    enrollment_id, contact_id = setup.enrollments[who]
    now = utcnow()
    return await builders.add_conversation(
        setup.campaign_id, enrollment_id=enrollment_id, contact_id=contact_id,
        turns=[(seq, role, content) for seq, (role, content) in enumerate(turns)], ended_reason="customer-ended-call",
        started_at=now - dt.timedelta(minutes=2), ended_at=now, duration_s=95.0,
        evaluate_after=evaluate_after or now + dt.timedelta(hours=1))


def good_answer(n_goals: int = 2, questions=QUESTIONS) -> dict[str, Any]:
    """What a careful model answers for TRANSCRIPT (fields in the order of the definitions)."""
    goals = [{"result": "achieved", "score": 95, "reason": "Tuesday at 9am was agreed.",
              "evidence": "Tuesday at 9 works."},
             {"result": "achieved", "score": 90, "reason": "The email was given.",
              "evidence": "it is maria.gonzalez@example.com"}]
    values = {"Interested": (True, "Oh yes, I have been meaning to."),
              "Preferred time": ("Morning", "Mornings are best for me."),
              "Concerns": (["Price", "Time"], "I was worried about the price and the time it takes"),
              "Summary": ("The patient booked a check-up for Tuesday at 9am.", None),
              "Friendliness": (5, "you have been lovely!"),
              "Email": ("maria.gonzalez@example.com", "maria.gonzalez@example.com"),
              "Visit date": ("2027-04-14", "Tuesday the 14th of April at 9am")}
    answer = {f"goal_{i + 1}": copy.deepcopy(goals[i % 2]) for i in range(n_goals)}
    for i, q in enumerate(questions):
        value, evidence = values.get(q["name"], (None, None))
        answer[f"question_{i + 1}"] = {"value": value, "reason": "From the call.", "evidence": evidence}
    return answer


async def evaluate(client, headers, conversation_id: str) -> dict[str, Any]:
    """Ask for an evaluation over HTTP, let the worker run it, return the conversation."""
    r = await client.post(f"/v1/conversations/{conversation_id}/evaluate", headers=headers)
    assert r.status_code == 202, r.text
    await drain_queue()
    r = await client.get(f"/v1/conversations/{conversation_id}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()
