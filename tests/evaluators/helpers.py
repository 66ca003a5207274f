"""Evaluator test helpers: a campaign with goals and one question of each type (through the API),
finished conversations with their transcripts (as rows, the way the end-of-call report leaves
them), the model's answers as the local server should give them, and running an evaluation."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from agent.db import session_scope, utcnow
from agent.ids import new_id
from agent.models import Campaign, Conversation, ConversationTurn, Evaluation
from tests.conftest import drain_queue

BRIEF = "Call patients due for a check-up at Riverside Dental and book a visit."
GOALS = [("Appointment booked", "The patient agreed to a date and time for a check-up.", True),
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


async def evaluation_campaign(client, headers, *, questions=QUESTIONS, goals=GOALS, people=("Maria",)) -> Setup:
    r = await client.post("/v1/campaigns", json={"name": "Check-ups", "brief": BRIEF, "channels": [{"kind": "voice"}]},
                          headers=headers)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    contacts = [{"first_name": name, "last_name": "Lee", "phone": f"+1 312 555 01{10 + i:02d}"}
                for i, name in enumerate(people)]
    r = await client.post(f"/v1/campaigns/{cid}/contacts", json={"contacts": contacts}, headers=headers)
    assert r.status_code == 200 and not r.json()["errors"], r.text
    async with session_scope() as s:
        ws = (await s.execute(select(Campaign.workspace_id).where(Campaign.id == cid))).scalar_one()
    setup = Setup(cid, ws)
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
    conv_id = new_id("conv")
    async with session_scope() as s:
        s.add(Conversation(id=conv_id, workspace_id=setup.workspace_id, campaign_id=setup.campaign_id,
                           enrollment_id=enrollment_id, contact_id=contact_id, external_id=new_id("call"),
                           channel="voice", direction="outbound", status="closed", answer_status="human",
                           ended_reason="customer-ended-call", duration_s=95.0, started_at=now - dt.timedelta(minutes=2),
                           ended_at=now, evaluate_after=evaluate_after or now + dt.timedelta(hours=1)))
        await s.flush()
        for seq, (role, content) in enumerate(turns):
            s.add(ConversationTurn(id=new_id("turn"), conversation_id=conv_id, seq=seq, role=role, content=content))
    return conv_id


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


async def evaluations_of(conversation_id: str) -> list[Evaluation]:
    async with session_scope() as s:
        return list((await s.execute(select(Evaluation).where(Evaluation.conversation_id == conversation_id)
                                     .order_by(Evaluation.created_at))).scalars())
