"""Issue 14 part 5 (seed 002): remarketing, a new ``ready`` channel on a live campaign for a chosen
set of its contacts, by status, primary goal result or contact ids."""

from __future__ import annotations

from sqlalchemy import select

from agent.campaigns import remarketing
from agent.db import session_scope
from agent.models import Channel, ChannelAudience, Enrollment
from agent.states import Role
from tests.builders import add_conversation, add_goals, make_key, set_enrollments
from tests.conftest import bearer
from tests.e2e.test_exports import _goal_result
from tests.flows import assert_problem, enrollments, live_campaign, people


async def _campaign(client, admin) -> tuple[str, dict[str, dict]]:
    """Five contacts: Ann and Bob finished, Ann's call achieved the primary goal, Bob's did not;
    Cara replied; the others untouched."""
    cid = await live_campaign(client, admin, channels=("email",), contacts=people(5))
    _, primary = await add_goals(cid)
    by_name = await enrollments(client, admin, cid)
    names = sorted(by_name)
    ann, bob, cara = (by_name[n] for n in names[:3])
    for person, result in ((ann, "achieved"), (bob, "not_achieved")):
        await _goal_result(await add_conversation(cid, enrollment=person), primary, result, 50)
    await set_enrollments(Enrollment.id.in_([ann["id"], bob["id"]]), status="finished", substatus="no_response")
    await set_enrollments(Enrollment.id == cara["id"], status="replied", substatus=None)
    return cid, {"ann": ann, "bob": bob, "cara": cara, **{n: by_name[n] for n in names[3:]}}


async def _audience(channel_id: str) -> set[str]:
    async with session_scope() as s:
        return set((await s.execute(select(ChannelAudience.enrollment_id)
                                    .where(ChannelAudience.channel_id == channel_id))).scalars())


async def test_a_remarketing_channel_starts_ready_for_the_finished_contacts_that_missed_the_goal(client, admin):
    cid, who = await _campaign(client, admin)
    r = await client.post(f"/v1/campaigns/{cid}/channels", headers=admin, json={
        "kind": "sms", "audience": {"statuses": ["finished"], "goal_results": ["not_achieved", "unknown"]}})
    assert r.status_code == 201, r.text
    channel = r.json()
    assert (channel["kind"], channel["status"], channel["contacts"], channel["position"]) == ("sms", "ready", 1, 1)
    assert "audience" not in channel["config"]
    assert await _audience(channel["id"]) == {who["bob"]["id"]}
    campaign = (await client.get(f"/v1/campaigns/{cid}", headers=admin)).json()
    assert [(c["kind"], c["status"]) for c in campaign["channels"]][-1] == ("sms", "ready")
    assert campaign["status"] == "active"
    events = (await client.get(f"/v1/campaigns/{cid}/activity", headers=admin,
                               params={"kind": "channel.remarketing"})).json()["items"]
    assert events[0]["payload"]["contacts"] == 1 and events[0]["payload"]["channel_id"] == channel["id"]


async def test_audience_by_contact_ids_and_by_status_alone(client, admin):
    cid, who = await _campaign(client, admin)
    ids = [who["ann"]["contact"]["id"], who["cara"]["contact"]["id"]]
    r = await client.post(f"/v1/campaigns/{cid}/channels", headers=admin,
                          json={"kind": "email", "audience": {"contact_ids": ids}})
    assert r.status_code == 201 and r.json()["contacts"] == 2
    assert await _audience(r.json()["id"]) == {who["ann"]["id"], who["cara"]["id"]}
    r = await client.post(f"/v1/campaigns/{cid}/channels", headers=admin,
                          json={"kind": "email", "audience": {"statuses": ["not_started"]}})
    assert r.status_code == 201 and r.json()["contacts"] == 2 and r.json()["position"] == 2


async def test_goal_result_unknown_means_never_evaluated(client, admin):
    cid, who = await _campaign(client, admin)
    r = await client.post(f"/v1/campaigns/{cid}/channels", headers=admin,
                          json={"kind": "email", "audience": {"goal_results": ["unknown"]}})
    assert r.status_code == 201, r.text
    assert await _audience(r.json()["id"]) == {who[n]["id"] for n in who if n not in ("ann", "bob")}


async def test_refusals_name_their_code(client, admin):
    cid, who = await _campaign(client, admin)
    url = f"/v1/campaigns/{cid}/channels"
    assert_problem(await client.post(url, headers=admin, json={"kind": "email", "audience": {}}), 422,
                   "validation_error")
    assert_problem(await client.post(url, headers=admin, json={"kind": "email", "audience": {"statuses": ["removed"]}}),
                   422, "empty_audience")
    r = await client.post(url, headers=admin, json={"kind": "email", "audience": {"contact_ids": ["ct_nobody"]}})
    assert_problem(r, 422, "unknown_contacts")
    assert r.json()["errors"][0]["loc"] == ["body", "audience", "contact_ids"]
    r = await client.post(url, headers=admin, json={"kind": "fax", "audience": {"statuses": ["finished"]}})
    assert r.status_code == 422
    draft = (await client.post("/v1/campaigns", json={"name": "Draft"}, headers=admin)).json()["id"]
    assert_problem(await client.post(f"/v1/campaigns/{draft}/channels", headers=admin,
                                     json={"kind": "email", "audience": {"statuses": ["not_started"]}}),
                   409, "campaign_not_live")
    assert (await client.post(f"/v1/campaigns/{cid}/cancel", headers=admin)).status_code == 200
    assert_problem(await client.post(url, headers=admin, json={"kind": "email", "audience": {"statuses": ["finished"]}}),
                   409, "campaign_final")


async def test_only_admins_of_the_workspace_add_channels(client, admin):
    cid, _ = await _campaign(client, admin)
    body = {"kind": "email", "audience": {"statuses": ["finished"]}}
    approver = bearer(await make_key(Role.approver))
    assert_problem(await client.post(f"/v1/campaigns/{cid}/channels", headers=approver, json=body), 403, "forbidden")
    stranger = bearer(await make_key(Role.admin, workspace="globex"))
    assert_problem(await client.post(f"/v1/campaigns/{cid}/channels", headers=stranger, json=body), 404, "not_found")


async def test_planning_offers_a_contact_only_the_channels_whose_audience_has_them(client, admin):
    cid, who = await _campaign(client, admin)
    r = await client.post(f"/v1/campaigns/{cid}/channels", headers=admin,
                          json={"kind": "sms", "audience": {"statuses": ["finished"]}})
    sms = r.json()["id"]
    async with session_scope() as s:
        channels = list((await s.execute(select(Channel).where(Channel.campaign_id == cid)
                                          .order_by(Channel.position))).scalars())
        ann = [c.kind for c in await remarketing.channels_for(s, who["ann"]["id"], channels)]
        cara = [c.kind for c in await remarketing.channels_for(s, who["cara"]["id"], channels)]
    assert ann == ["email", "sms"] and cara == ["email"]
    assert sms in {c.id for c in channels}


async def test_the_planners_context_holds_a_remarketing_channel_only_for_its_audience(client, admin):
    """What the planner is offered (``planner.service.load_context``), not only the helper: a contact
    outside the audience never has the new channel to be drafted on."""
    from planner.service import load_context

    cid, who = await _campaign(client, admin)
    r = await client.post(f"/v1/campaigns/{cid}/channels", headers=admin,
                          json={"kind": "sms", "audience": {"statuses": ["finished"]}})
    assert r.status_code == 201, r.text
    async with session_scope() as s:
        kinds = {}
        for name in ("ann", "cara"):
            version = (await s.get(Enrollment, who[name]["id"])).version
            kinds[name] = [c.kind for c in (await load_context(s, who[name]["id"], version, None)).channels]
    assert kinds == {"ann": ["email", "sms"], "cara": ["email"]}
