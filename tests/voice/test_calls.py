"""Calls as conversations: reading a platform's call details, opening the conversation once per
call whatever races, finding its campaign and contact, and appending turns idempotently."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from agent.db import session_scope
from agent.errors import NotFound, ValidationFailed
from agent.models import Conversation, ConversationTurn
from agent.voice.calls import CallInfo, find_call, open_call, parse_call, record_turns
from tests.builders import count, workspace_id
from tests.conftest import bearer, make_key
from tests.flows import CALLER_NUMBER, VAPI_OUTBOUND, vapi_body, voice_campaign


async def open_(ws: str, call: CallInfo):
    async with session_scope() as s:
        return await open_call(s, ws, call)


def info(call: str, *, frm=None, to=None, campaign_id=None, direction=None, customer=None) -> CallInfo:
    return CallInfo(call_id=call, from_number=frm, to_number=to, campaign_id=campaign_id, direction=direction,
                    customer=customer or {})


# -- parse_call ------------------------------------------------------------------------------

def test_metadata_names_the_call_its_numbers_and_campaign():
    call = parse_call({"messages": [], "metadata": {"call_id": "c-1", "from": "+1 (212) 555-0199",
                                                    "to": "312 555 0101", "campaign_id": "cmp_1"}})
    # International numbers become E.164; a national one is kept as sent until the workspace region reads it.
    assert call == CallInfo("c-1", "+12125550199", "312 555 0101", "cmp_1", None, {})


def test_a_vapi_outbound_call_puts_our_number_first():
    call = parse_call(VAPI_OUTBOUND)
    assert (call.call_id, call.direction) == ("9f2c4b1e-7a5d-4c3e-9b8f-2d1e6a7c5b40", "outbound")
    assert (call.from_number, call.to_number) == ("+12125550199", "+13125550101")
    assert call.customer == {"name": "Maria Gonzalez"} and call.campaign_id is None


def test_a_vapi_inbound_call_puts_the_caller_first_and_keeps_what_vapi_knows_of_them():
    body = vapi_body("c-2", inbound=True, customer={"number": "+447400123456", "name": "Ann", "email": "a@x.test",
                                                     "extension": "12"}, campaign_id="cmp_9")
    call = parse_call(body)
    assert (call.direction, call.from_number, call.to_number) == ("inbound", "+447400123456", "+12125550199")
    assert call.customer == {"name": "Ann", "email": "a@x.test"} and call.campaign_id == "cmp_9"


def test_metadata_wins_over_the_call_object():
    body = vapi_body("from-call") | {"metadata": {"call_id": "from-meta", "to": "+13125550102", "direction": "outbound"}}
    call = parse_call(body)
    assert (call.call_id, call.to_number, call.from_number) == ("from-meta", "+13125550102", "+12125550199")


def test_a_request_without_a_call_id_is_refused_with_the_field():
    for body in ({"messages": []}, {"metadata": {"from": "+12125550199"}}, {"call": {"type": "outboundPhoneCall"}},
                 {"metadata": {"call_id": "  "}}):
        with pytest.raises(ValidationFailed) as raised:
            parse_call(body)
        assert raised.value.code == "call_id_required"
        assert raised.value.errors == [{"loc": ["body", "metadata", "call_id"], "message": "required"}]


@pytest.mark.parametrize(("body", "loc"), [
    ({"metadata": "call-1"}, ["body", "metadata"]),
    ({"metadata": {"call_id": ["x"]}}, ["body", "metadata", "call_id"]),
    ({"metadata": {"call_id": "x" * 201}}, ["body", "metadata", "call_id"]),
    ({"call": {"id": "c", "customer": "+1212"}}, ["body", "call", "customer"]),
    ({"metadata": {"call_id": "c", "direction": "sideways"}}, ["body", "metadata", "direction"]),
])
def test_malformed_call_details_are_refused_with_their_location(body, loc):
    with pytest.raises(ValidationFailed) as raised:
        parse_call(body)
    assert raised.value.errors[0]["loc"] == loc


# -- open_call -------------------------------------------------------------------------------

async def test_opening_a_call_twice_gives_one_conversation(client, admin):
    vc = await voice_campaign(client, admin)
    ws = await workspace_id()
    call = parse_call(vapi_body("call-twice"))
    first = await open_(ws, call)
    again = await open_(ws, call)
    assert first.created and not again.created
    assert (again.conversation_id, again.contact_id, again.enrollment_id) == (
        first.conversation_id, vc.contacts["Maria"]["id"], vc.contacts["Maria"]["enrollment_id"])
    assert (first.campaign_id, first.direction, first.known_contact) == (vc.id, "outbound", True)
    async with session_scope() as s:
        row = await find_call(s, "call-twice", workspace_id=ws)
    assert (row.channel, row.direction, row.status, row.from_number, row.to_number) == (
        "voice", "outbound", "open", CALLER_NUMBER, "+13125550101")
    assert row.started_at is not None and row.external_id == "call-twice"
    assert await count(Conversation) == 1


async def test_concurrent_first_requests_of_a_call_open_it_once(client, admin):
    vc = await voice_campaign(client, admin)
    ws = await workspace_id()
    call = info("race-1", frm=CALLER_NUMBER, to=vc.phone("James"))
    results = await asyncio.gather(*(open_(ws, call) for _ in range(4)))
    assert sorted(r.created for r in results) == [False, False, False, True]
    assert len({r.conversation_id for r in results}) == 1
    assert await count(Conversation) == 1


async def test_the_campaign_is_found_by_our_number_and_the_direction_inferred(client, admin):
    vc = await voice_campaign(client, admin)
    ws = await workspace_id()
    # A contact calling back: the platform says nothing about direction or campaign.
    back = await open_(ws, info("cb-1", frm=vc.phone("James"), to=CALLER_NUMBER))
    assert (back.campaign_id, back.direction, back.contact_id) == (vc.id, "inbound", vc.contacts["James"]["id"])
    out = await open_(ws, info("out-1", frm=CALLER_NUMBER, to=vc.phone("Maria")))
    assert (out.campaign_id, out.direction, out.contact_id) == (vc.id, "outbound", vc.contacts["Maria"]["id"])


async def test_national_numbers_are_read_in_the_workspace_region(client, admin):
    vc = await voice_campaign(client, admin)
    ctx = await open_(await workspace_id(), info("nat-1", frm="(212) 555-0199", to="312.555.0101"))
    assert (ctx.campaign_id, ctx.contact_id, ctx.direction) == (vc.id, vc.contacts["Maria"]["id"], "outbound")
    async with session_scope() as s:
        row = await find_call(s, "nat-1")
    assert (row.from_number, row.to_number) == (CALLER_NUMBER, "+13125550101")


async def test_a_number_shared_by_campaigns_picks_the_callers_own_campaign(client, admin):
    first = await voice_campaign(client, admin)
    second = await voice_campaign(client, admin, people=[{"name": "Zoe Park", "phone": "+1 720 555 0177"}])
    ws = await workspace_id()
    zoe = await open_(ws, info("z-1", frm="+17205550177", to=CALLER_NUMBER))
    maria = await open_(ws, info("m-1", frm=first.phone("Maria"), to=CALLER_NUMBER))
    assert (zoe.campaign_id, zoe.enrollment_id) == (second.id, second.contacts["Zoe"]["enrollment_id"])
    assert (maria.campaign_id, maria.enrollment_id) == (first.id, first.contacts["Maria"]["enrollment_id"])


async def test_a_call_naming_no_known_campaign_or_number_is_unknown_and_stores_nothing(client, admin):
    await voice_campaign(client, admin)
    ws = await workspace_id()
    for call in (info("u-1", frm="+14155550000", to="+14155550001"), info("u-2"),
                 info("u-3", campaign_id="cmp_nope", frm=CALLER_NUMBER, to="+13125550101")):
        with pytest.raises(NotFound) as raised:
            await open_(ws, call)
        assert raised.value.code == "unknown_call"
    assert await count(Conversation) == 0


async def test_another_workspaces_campaign_and_number_are_unknown(client, admin):
    vc = await voice_campaign(client, admin)
    await make_key(workspace="other")
    other = await workspace_id("other")
    for call in (info("x-1", campaign_id=vc.id, frm=CALLER_NUMBER, to=vc.phone("Maria")),
                 info("x-2", frm=CALLER_NUMBER, to=vc.phone("Maria"))):
        with pytest.raises(NotFound) as raised:
            await open_(other, call)
        assert raised.value.code == "unknown_call"
    assert await count(Conversation) == 0


async def test_the_same_call_id_in_two_workspaces_is_two_conversations(client, admin):
    vc = await voice_campaign(client, admin)
    other_key = bearer(await make_key(workspace="other"))
    other = await voice_campaign(client, other_key, caller_number="+12125550188")
    a = await open_(await workspace_id(), info("shared", campaign_id=vc.id, frm=CALLER_NUMBER, to=vc.phone("Maria")))
    b = await open_(await workspace_id("other"), info("shared", campaign_id=other.id, frm="+12125550188",
                                                      to=other.phone("Maria")))
    assert a.created and b.created and a.conversation_id != b.conversation_id
    assert a.contact_id != b.contact_id  # each workspace has its own Maria


# -- record_turns ----------------------------------------------------------------------------

async def test_turns_are_appended_by_position_once(client, admin):
    await voice_campaign(client, admin)
    ctx = await open_(await workspace_id(), parse_call(vapi_body("turns-1")))
    convo = [("assistant", "Hi, this is Riley."), ("user", "Hi."), ("assistant", "Is now a good time?")]
    async with session_scope() as s:
        assert await record_turns(s, ctx.conversation_id, convo[:2]) == 2
    async with session_scope() as s:
        assert await record_turns(s, ctx.conversation_id, convo[:2]) == 0  # a repeat
        assert await record_turns(s, ctx.conversation_id, convo) == 1
        assert await record_turns(s, ctx.conversation_id, convo[:1]) == 0  # shorter: nothing to add
    async with session_scope() as s:
        rows = (await s.execute(select(ConversationTurn.seq, ConversationTurn.role, ConversationTurn.content)
                                .order_by(ConversationTurn.seq))).all()
    assert [tuple(r) for r in rows] == [(i, role, text) for i, (role, text) in enumerate(convo)]


async def test_concurrent_writers_of_the_same_turns_store_each_once(client, admin):
    await voice_campaign(client, admin)
    ctx = await open_(await workspace_id(), parse_call(vapi_body("turns-2")))
    convo = [("user", f"line {i}") for i in range(5)]

    async def write() -> int:
        async with session_scope() as s:
            return await record_turns(s, ctx.conversation_id, convo)

    added = await asyncio.gather(*(write() for _ in range(3)))
    assert sum(added) == 5
    assert await count(ConversationTurn) == 5
