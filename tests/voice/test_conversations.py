"""The conversations read API: one conversation with its transcript in the order spoken, and a
campaign's conversations newest first in keyset pages, filtered by answer status and contact.
Any role may read; another workspace's conversations do not exist for the caller (404)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select

from agent.db import session_scope
from agent.ids import new_id
from agent.models import Campaign, Conversation, ConversationTurn
from agent.states import Role
from tests.conftest import bearer, make_key
from tests.planner.test_planning_runs import live_campaign

PEOPLE = [{"name": "Ann Lee", "phone": "+1 212 555 0100", "timezone": "America/New_York"},
          {"name": "Bo Chen", "phone": "+1 312 555 0101", "timezone": "America/Chicago"}]


async def voice_campaign(client, headers, *, contacts: Sequence[dict] = PEOPLE, **extra) -> tuple[str, dict[str, dict]]:
    """A live voice campaign and its enrollments by first name (each with ``contact``)."""
    cid = await live_campaign(client, headers, channels=("voice",), contacts=contacts, **extra)
    r = await client.get(f"/v1/campaigns/{cid}/contacts", headers=headers)
    assert r.status_code == 200, r.text
    return cid, {i["contact"]["first_name"]: i for i in r.json()["items"]}


async def add_conversation(campaign_id: str, *, enrollment: dict | None = None, answer_status: str | None = "human",
                           turns: Sequence[tuple[int, str, str]] = (), status: str = "closed",
                           direction: str = "outbound", call_id: str | None = None, **values) -> str:
    """A conversation row as the voice hook and the end-of-call report leave it (turns: seq, role, text)."""
    async with session_scope() as s:
        ws = (await s.execute(select(Campaign.workspace_id).where(Campaign.id == campaign_id))).scalar_one()
        started = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
        c = Conversation(id=new_id("cnv"), workspace_id=ws, campaign_id=campaign_id,
                         enrollment_id=enrollment["id"] if enrollment else None,
                         contact_id=enrollment["contact"]["id"] if enrollment else None,
                         external_id=call_id or new_id("call"), channel="voice", direction=direction, status=status,
                         answer_status=answer_status, started_at=started,
                         ended_at=started + dt.timedelta(seconds=42) if status == "closed" else None,
                         duration_s=42.0 if status == "closed" else None, **values)
        s.add(c)
        await s.flush()
        for seq, role, content in turns:
            s.add(ConversationTurn(id=new_id("trn"), conversation_id=c.id, seq=seq, role=role, content=content))
    return c.id


async def test_a_conversation_reads_with_its_transcript_in_the_order_spoken(client, admin):
    cid, people = await voice_campaign(client, admin)
    ann = people["Ann"]
    # Stored out of order on purpose: the answer follows seq, not insertion or id order.
    conv_id = await add_conversation(cid, enrollment=ann, ended_reason="customer-ended-call",
                                     recording_url="https://rec.example/1.wav", from_number="+15550001111",
                                     to_number="+12125550100",
                                     turns=[(2, "assistant", "Great, see you on May 4."),
                                            (0, "assistant", "Hi Ann, it's the clinic calling."),
                                            (1, "user", "Hi! Yes, I can come.")])
    viewer = bearer(await make_key(Role.viewer))
    r = await client.get(f"/v1/conversations/{conv_id}", headers=viewer)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(t["seq"], t["role"], t["content"]) for t in body["transcript"]] == [
        (0, "assistant", "Hi Ann, it's the clinic calling."), (1, "user", "Hi! Yes, I can come."),
        (2, "assistant", "Great, see you on May 4.")]
    assert (body["campaign_id"], body["contact_id"], body["enrollment_id"]) == (cid, ann["contact"]["id"], ann["id"])
    assert (body["answer_status"], body["duration_s"], body["ended_reason"], body["recording_url"]) == (
        "human", 42.0, "customer-ended-call", "https://rec.example/1.wav")
    assert (body["direction"], body["status"], body["channel"]) == ("outbound", "closed", "voice")
    assert dt.datetime.fromisoformat(body["started_at"]) == dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
    assert dt.datetime.fromisoformat(body["ended_at"]) == dt.datetime(2026, 3, 2, 15, 0, 42, tzinfo=dt.UTC)
    assert body["goal_results"] == [] and body["analysis_answers"] == []


async def test_another_workspace_sees_no_such_conversation_and_no_such_campaign(client, admin):
    cid, people = await voice_campaign(client, admin)
    conv_id = await add_conversation(cid, enrollment=people["Ann"], turns=[(0, "user", "hello")])
    stranger = bearer(await make_key(Role.admin, workspace="globex"))
    for path in (f"/v1/conversations/{conv_id}", f"/v1/campaigns/{cid}/conversations"):
        r = await client.get(path, headers=stranger)
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json", r.text
        assert r.json()["code"] == "not_found" and "hello" not in r.text
        assert (await client.get(path)).status_code == 401
    assert (await client.get("/v1/conversations/cnv_nope", headers=admin)).json()["code"] == "not_found"


async def test_the_campaign_list_is_newest_first_in_pages_with_transcripts(client, admin):
    cid, people = await voice_campaign(client, admin)
    made = [await add_conversation(cid, enrollment=people["Ann" if i % 2 else "Bo"],
                                   answer_status="human" if i < 3 else "no_answer",
                                   turns=[(0, "assistant", f"call {i}")] if i < 3 else ())
            for i in range(5)]
    other_cid, _ = await voice_campaign(client, admin)
    await add_conversation(other_cid)  # another campaign's: never listed here
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await client.get(f"/v1/campaigns/{cid}/conversations", params=params, headers=admin)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 2
        seen += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert [i["id"] for i in seen] == list(reversed(made))
    assert [i["transcript"][0]["content"] for i in seen if i["transcript"]] == ["call 2", "call 1", "call 0"]
    assert {i["answer_status"] for i in seen[:2]} == {"no_answer"} and seen[2]["duration_s"] == 42.0


async def test_the_list_filters_by_answer_status_and_contact(client, admin):
    cid, people = await voice_campaign(client, admin)
    ann, bo = people["Ann"], people["Bo"]
    a1 = await add_conversation(cid, enrollment=ann, answer_status="human")
    a2 = await add_conversation(cid, enrollment=ann, answer_status="machine")
    b1 = await add_conversation(cid, enrollment=bo, answer_status="human")
    live = await add_conversation(cid, enrollment=bo, answer_status=None, status="open")

    async def ids(**params) -> list[str]:
        r = await client.get(f"/v1/campaigns/{cid}/conversations", params=params, headers=admin)
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert await ids() == [live, b1, a2, a1]
    assert await ids(answer_status="human") == [b1, a1]
    assert await ids(answer_status="machine") == [a2]
    assert await ids(contact_id=ann["contact"]["id"]) == [a2, a1]
    assert await ids(contact_id=bo["contact"]["id"], answer_status="human") == [b1]
    assert await ids(answer_status="rejected") == []


async def test_bad_filters_and_cursors_are_422_naming_the_parameter(client, admin):
    cid, _ = await voice_campaign(client, admin)
    for params, loc in (({"answer_status": "voicemail"}, ["query", "answer_status"]),
                        ({"cursor": "not-a-cursor"}, ["query", "cursor"]),
                        ({"limit": 0}, ["query", "limit"])):
        r = await client.get(f"/v1/campaigns/{cid}/conversations", params=params, headers=admin)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["code"] == "validation_error" and r.json()["errors"][0]["loc"] == loc
