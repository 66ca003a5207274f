"""Inbound callers who are not contacts: the campaign's rules decide whether the caller becomes a
contact and is enrolled, or is answered with the inbound prompt and nothing about them is kept."""

from __future__ import annotations

import json
import re

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from agent.db import session_scope
from agent.ids import new_id
from agent.models import ActivityEvent, Contact, Suppression
from agent.voice.inbound import InboundRules, check, parse_rules
from tests.builders import contact_by_phone, conversation, enrollments_of, turns
from tests.flows import (BLOCK, CALLER_NUMBER, HOOK, INBOUND_PROMPT, SSE, sse_events, streamed_text, vapi_body,
                         voice_campaign)

US_CALLER = "+16175550142"
UK_CALLER = "+447400123456"
RULES = {"allowed_countries": ["US", "ca"], "required_fields": ["name"]}


def inbound(call: str, number: str, **customer) -> dict:
    return vapi_body(call, inbound=True, customer={"number": number, **customer},
                     messages=[{"role": "user", "content": "Hi, I'd like to book a cleaning."}])


async def contacts_count() -> int:
    async with session_scope() as s:
        return (await s.execute(select(func.count()).select_from(Contact))).scalar_one()


# -- the rules -------------------------------------------------------------------------------

def test_rules_are_normalised_and_an_empty_set_admits_anyone():
    rules = parse_rules({"allowed_countries": [" us", "CA", "US"], "blocked_countries": ["ru"],
                         "required_fields": ["email"]})
    assert rules == InboundRules(allowed_countries=["US", "CA"], blocked_countries=["RU"], required_fields=["email"])
    assert parse_rules(None) == parse_rules({}) == InboundRules()
    assert check(InboundRules(), UK_CALLER, {}).eligible


@pytest.mark.parametrize(("raw", "loc"), [
    ({"allowed_countries": ["USA"]}, ("allowed_countries",)),
    ({"blocked_countries": ["XX"]}, ("blocked_countries",)),
    ({"required_fields": ["phone"]}, ("required_fields", 0)),
    ({"allowed_countries": ["US"], "blocked_countries": ["us"]}, ()),
    ({"allow": ["US"]}, ("allow",)),
    ({"allowed_countries": "US"}, ("allowed_countries",)),
])
def test_invalid_rules_are_refused_with_their_location(raw, loc):
    with pytest.raises(ValidationError) as raised:
        parse_rules(raw)
    assert raised.value.errors()[0]["loc"] == loc


@pytest.mark.parametrize(("number", "customer", "reason"), [
    (US_CALLER, {"name": "Ann Lee"}, "eligible"),
    ("+14165550199", {"firstName": "Ann"}, "eligible"),  # Canada; Vapi's camelCase
    (UK_CALLER, {"name": "Ann Lee"}, "country_not_allowed"),
    (US_CALLER, {}, "missing_name"),
    (US_CALLER, {"name": "  "}, "missing_name"),
    ("anonymous", {"name": "Ann"}, "invalid_number"),
    (None, {"name": "Ann"}, "invalid_number"),
    ("+1555", {"name": "Ann"}, "invalid_number"),
])
def test_country_and_required_fields_decide(number, customer, reason):
    assert check(parse_rules(RULES), number, customer).reason == reason


def test_blocked_countries_and_a_valid_email_when_one_is_required():
    rules = parse_rules({"blocked_countries": ["GB"], "required_fields": ["email"]})
    assert check(rules, UK_CALLER, {"email": "a@example.com"}).reason == "country_blocked"
    assert check(rules, US_CALLER, {"email": "not an address"}).reason == "missing_email"
    assert check(rules, US_CALLER, {"email": "a@example.com"}).eligible


# -- through the hook ------------------------------------------------------------------------

async def test_an_eligible_unknown_caller_becomes_an_enrolled_contact(client, admin):
    vc = await voice_campaign(client, admin, add_inbound_contacts=True, inbound_rules=RULES)
    r = await client.post(HOOK, json=inbound("in-1", US_CALLER, name="Ann Lee", email="ann@example.com"),
                          headers=admin | SSE)
    assert r.status_code == 200, r.text
    person = await contact_by_phone(US_CALLER)
    assert (person.first_name, person.last_name, person.email) == ("Ann", "Lee", "ann@example.com")
    enrolled = {e.contact_id: e for e in await enrollments_of(vc.id)}[person.id]
    assert (enrolled.source, enrolled.status) == ("inbound", "not_started")
    row = await conversation("in-1")
    assert (row.direction, row.from_number, row.to_number) == ("inbound", US_CALLER, CALLER_NUMBER)
    assert (row.contact_id, row.enrollment_id, row.campaign_id) == (person.id, enrolled.id, vc.id)
    assert await turns(row.id) == [("user", "Hi, I'd like to book a cleaning."),
                                   ("assistant", streamed_text(sse_events(r.text)[:-1]))]
    async with session_scope() as s:
        kinds = set((await s.execute(select(ActivityEvent.kind).where(ActivityEvent.contact_id == person.id))).scalars())
    assert {"contact.enrolled", "conversation.started"} <= kinds

    # The next turn, and the next call, find the contact instead of adding it again.
    again = inbound("in-1", US_CALLER, name="Ann Lee")
    again["messages"].append({"role": "user", "content": "Tuesday works."})
    assert (await client.post(HOOK, json=again, headers=admin)).status_code == 200
    assert (await client.post(HOOK, json=inbound("in-2", US_CALLER), headers=admin)).status_code == 200
    assert (await conversation("in-2")).contact_id == person.id
    assert await contacts_count() == 3 and len(await enrollments_of(vc.id)) == 3


async def test_a_caller_without_a_name_is_added_with_empty_names_not_invented_ones(client, admin):
    vc = await voice_campaign(client, admin, add_inbound_contacts=True, inbound_rules=None)
    assert (await client.post(HOOK, json=inbound("in-3", UK_CALLER), headers=admin)).status_code == 200
    person = await contact_by_phone(UK_CALLER)
    assert (person.first_name, person.last_name, person.phone) == ("", "", UK_CALLER)
    assert (await conversation("in-3")).enrollment_id in {e.id for e in await enrollments_of(vc.id)}


async def test_an_existing_contact_outside_the_campaign_is_enrolled_not_duplicated(client, admin):
    other = await voice_campaign(client, admin, caller_number="+12125550177",
                                 people=[{"name": "Bo Chen", "phone": US_CALLER}])
    vc = await voice_campaign(client, admin, add_inbound_contacts=True, inbound_rules=RULES)
    r = await client.post(HOOK, json=inbound("in-4", US_CALLER, name="Bo Chen"), headers=admin)
    assert r.status_code == 200
    bo = other.contacts["Bo"]["id"]
    assert (await conversation("in-4")).contact_id == bo
    assert bo in {e.contact_id for e in await enrollments_of(vc.id)}
    assert await contacts_count() == 3  # Maria, James and Bo: no second Bo


@pytest.mark.parametrize(("fields", "number", "customer"), [
    ({"add_inbound_contacts": True, "inbound_rules": RULES}, UK_CALLER, {"name": "Ann Lee"}),
    ({"add_inbound_contacts": True, "inbound_rules": RULES}, US_CALLER, {}),
    ({"add_inbound_contacts": False}, US_CALLER, {"name": "Ann Lee"}),
])
async def test_an_ineligible_caller_gets_the_inbound_prompt_and_no_contact(client, admin, model_server, fields,
                                                                         number, customer):
    vc = await voice_campaign(client, admin, **fields)
    before = await contacts_count()
    r = await client.post(HOOK, json=inbound("in-5", number, **customer), headers=admin)
    assert r.status_code == 200, r.text
    assert await contacts_count() == before and len(await enrollments_of(vc.id)) == 2
    row = await conversation("in-5")
    assert (row.campaign_id, row.contact_id, row.enrollment_id, row.direction) == (vc.id, None, None, "inbound")
    assert (row.from_number, row.to_number) == (number, CALLER_NUMBER)

    prompt = model_server.requests[0]["messages"][0]["content"]
    blocks = {name: json.loads(text) for name, text in BLOCK.findall(prompt)}
    assert blocks["inbound_instructions"] == INBOUND_PROMPT
    assert blocks["caller"] == {"number": number, "name": customer.get("name"), "email": None}
    assert "contact" not in blocks and "history" not in blocks
    assert blocks["call"]["direction"] == "inbound"
    assert "Someone who is not a contact of this campaign is calling in" in BLOCK.sub("", prompt)


async def test_a_suppressed_number_is_answered_but_never_added(client, admin):
    vc = await voice_campaign(client, admin, add_inbound_contacts=True)
    async with session_scope() as s:
        ws = (await s.execute(select(Contact.workspace_id).limit(1))).scalar_one()
        s.add(Suppression(id=new_id("sup"), workspace_id=ws, phone=US_CALLER, reason="do_not_call"))
    r = await client.post(HOOK, json=inbound("in-6", US_CALLER, name="Ann Lee"), headers=admin)
    assert r.status_code == 200
    assert await contact_by_phone(US_CALLER) is None and (await conversation("in-6")).contact_id is None
    assert len(await enrollments_of(vc.id)) == 2


async def test_the_offline_model_greets_an_unknown_caller_without_pretending_to_know_them(client, admin):
    await voice_campaign(client, admin)
    body = vapi_body("in-7", inbound=True, customer={"number": US_CALLER}, messages=[])
    body["messages"] = [{"role": "system", "content": "You are Riley."}]
    body["stream"] = False
    r = await client.post(HOOK, json=body, headers=admin)
    text = r.json()["choices"][0]["message"]["content"]
    assert text == "Hello, thanks for calling Check-up calls. How can I help you today?"
    assert not re.search(r"Maria|James", text)
