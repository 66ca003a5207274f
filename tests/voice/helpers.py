"""Voice test helpers: a live voice campaign with contacts, goals and a caller number, request
bodies as voice platforms send them, and readers of what the hook stored.

Campaigns and contacts go through the HTTP API. Caller numbers and goals have no endpoint yet, so
they are written as rows, the way the demo seeds its goals.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from agent.db import session_scope
from agent.ids import new_id
from agent.models import CallerNumber, Contact, Conversation, ConversationTurn, Enrollment, Goal

HOOK = "/v1/voice/chat/completions"
CALLER_NUMBER = "+12125550199"  # the campaign's own number (our side of every call)
BRIEF = ("Call patients whose last visit to Riverside Dental was over six months ago and offer to book "
         "their check-up. Slots: weekdays 8am to 6pm. Keep it friendly and short.")
INBOUND_PROMPT = "Greet the caller, say this is Riverside Dental, and ask how we can help."
PEOPLE = [
    {"first_name": "Maria", "last_name": "Gonzalez", "email": "maria@example.com", "phone": "+1 312 555 0101",
     "properties": {"clinic": "Loop", "last_visit": "2025-11-02"}},
    {"first_name": "James", "last_name": "Carter", "email": "james@example.com", "phone": "+1 415 555 0102",
     "properties": {"clinic": "Mission"}},
]
GOALS = [("Secondary: details confirmed", "The patient confirmed their contact details.", False),
         ("Appointment booked", "The patient agreed to a date and time for a check-up.", True)]


@dataclass
class VoiceCampaign:
    id: str
    caller_number: str
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)  # first name -> contact (id, phone, ...)
    goal_ids: list[str] = field(default_factory=list)

    def phone(self, first_name: str) -> str:
        return self.contacts[first_name]["phone"]


async def add_caller_number(campaign_id: str, number: str) -> str:
    async with session_scope() as s:
        row = CallerNumber(id=new_id("num"), campaign_id=campaign_id, number=number, friendly_name="Main line")
        s.add(row)
    return row.id


async def add_goals(campaign_id: str, goals=GOALS) -> list[str]:
    ids = []
    async with session_scope() as s:
        for name, description, primary in goals:
            ids.append(new_id("goal"))
            s.add(Goal(id=ids[-1], campaign_id=campaign_id, name=name, description=description, is_primary=primary))
    return ids


async def voice_campaign(client, headers, *, people=PEOPLE, caller_number: str | None = CALLER_NUMBER,
                         goals=GOALS, live: bool = True, **fields: Any) -> VoiceCampaign:
    """A voice campaign (live unless ``live=False``) with ``people`` enrolled, goals and a caller number."""
    body = {"name": "Check-up calls", "brief": BRIEF, "channels": [{"kind": "voice"}], "timezone": "America/Chicago",
            "inbound_prompt": INBOUND_PROMPT, **fields}
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
        await add_caller_number(cid, caller_number)
    campaign.goal_ids = await add_goals(cid, goals) if goals else []
    items = (await client.get(f"/v1/campaigns/{cid}/contacts", headers=headers)).json()["items"]
    campaign.contacts = {i["contact"]["first_name"]: i["contact"] | {"enrollment_id": i["id"]} for i in items}
    return campaign


# -- request bodies --------------------------------------------------------------------------

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


# -- what was stored -------------------------------------------------------------------------

async def conversation(call: str) -> Conversation | None:
    async with session_scope() as s:
        return (await s.execute(select(Conversation).where(Conversation.external_id == call))).scalar_one_or_none()


async def conversations(campaign_id: str | None = None) -> list[Conversation]:
    async with session_scope() as s:
        q = select(Conversation).order_by(Conversation.id)
        if campaign_id:
            q = q.where(Conversation.campaign_id == campaign_id)
        return list((await s.execute(q)).scalars())


async def turns(conversation_id: str) -> list[tuple[str, str]]:
    async with session_scope() as s:
        rows = (await s.execute(select(ConversationTurn).where(ConversationTurn.conversation_id == conversation_id)
                                .order_by(ConversationTurn.seq))).scalars()
        return [(t.role, t.content) for t in rows]


async def contact_by_phone(phone: str) -> Contact | None:
    async with session_scope() as s:
        return (await s.execute(select(Contact).where(Contact.phone == phone))).scalar_one_or_none()


async def enrollments_of(campaign_id: str) -> list[Enrollment]:
    async with session_scope() as s:
        return list((await s.execute(select(Enrollment).where(Enrollment.campaign_id == campaign_id)
                                     .order_by(Enrollment.id))).scalars())
