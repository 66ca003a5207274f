"""The conversations read API: one conversation with its transcript in the order spoken, and a
campaign's conversations newest first in keyset pages, filtered by answer status and contact.
Any role may read; another workspace's conversations do not exist for the caller (404)."""

from __future__ import annotations

import datetime as dt

from agent.states import Role
from tests.builders import add_conversation
from tests.conftest import bearer, make_key
from tests.flows import calling_campaign as voice_campaign  # the plain kind: no goals, no number


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
        code = "invalid_cursor" if "cursor" in params else "validation_error"
        assert r.json()["code"] == code and r.json()["errors"][0]["loc"] == loc
