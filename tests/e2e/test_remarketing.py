"""Issue 14 part 5 (seed 002): remarketing, a new ``ready`` channel on a live or completed campaign for
a chosen set of its contacts, by status, primary goal result or contact ids; starting it reopens them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from agent.campaigns import remarketing
from agent.db import session_scope
from agent.models import Channel, ChannelAudience, Enrollment
from agent.states import Role
from tests.builders import add_conversation, add_goals, add_outreach, make_key, outreaches, set_enrollments
from tests.conftest import bearer
from tests.e2e.test_exports import _goal_result
from tests.flows import assert_problem, enrollments, live_campaign, people, run_plan


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


# --- starting a remarketing channel reopens its audience (the ``remarket`` move) ---------------


async def _start(client, admin, cid: str, channel_id: str):
    return await client.post(f"/v1/campaigns/{cid}/channels/{channel_id}/start", headers=admin)


async def _remarket(client, admin, cid: str, audience: dict, kind: str = "email") -> str:
    r = await client.post(f"/v1/campaigns/{cid}/channels", headers=admin, json={"kind": kind, "audience": audience})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _rows(who: dict[str, dict]) -> dict[str, tuple]:
    """Each named enrollment's (status, substatus, attempts, version), read from the table."""
    async with session_scope() as s:
        rows = {e.id: e for e in (await s.execute(select(Enrollment).where(
            Enrollment.id.in_([w["id"] for w in who.values()])))).scalars()}
    return {n: (rows[w["id"]].status, rows[w["id"]].substatus, rows[w["id"]].attempts, rows[w["id"]].version)
            for n, w in who.items()}


async def _start_event(client, admin, cid: str) -> dict:
    [event] = (await client.get(f"/v1/campaigns/{cid}/activity", headers=admin,
                                params={"kind": "channel.start"})).json()["items"]
    return event["payload"]


async def test_starting_reopens_the_finished_and_replied_with_a_fresh_count_and_counts_who_is_excluded(client, admin):
    cid, who = await _campaign(client, admin)
    await set_enrollments(Enrollment.id.in_([who["ann"]["id"], who["bob"]["id"]]), attempts=3)
    di, ed = (who[n] for n in sorted(who) if n not in ("ann", "bob", "cara"))
    await set_enrollments(Enrollment.id == di["id"], status="finished", substatus="opted_out")
    await set_enrollments(Enrollment.id == ed["id"], status="finished", substatus="bounced")
    r = await client.post("/v1/suppressions", headers=admin, json={"email": who["cara"]["contact"]["email"],
                                                                   "reason": "do_not_contact"})
    assert r.status_code == 201, r.text
    channel = await _remarket(client, admin, cid, {"statuses": ["finished", "replied"]})
    before = await _rows(who)
    r = await _start(client, admin, cid, channel)
    assert r.status_code == 200, r.text
    after = await _rows(who)
    for name in ("ann", "bob"):
        assert after[name][:3] == ("waiting", None, 0) and after[name][3] == before[name][3] + 1, name
    assert after["cara"] == before["cara"]  # replied, but suppressed
    assert [after[n] for n in who if n not in ("ann", "bob")] == [before[n] for n in who if n not in ("ann", "bob")]
    audience = (await _start_event(client, admin, cid))["audience"]
    assert audience == {"contacts": 5, "reopen": 2, "unchanged": 0,
                        "excluded": {"blocked": 0, "bounced": 1, "opted_out": 1, "suppressed": 1,
                                     "outreach_pending": 0}}
    moved = (await client.get(f"/v1/campaigns/{cid}/activity", headers=admin,
                              params={"kind": "enrollment.moved"})).json()["items"]
    remarketed = [e for e in moved if e["payload"]["action"] == "remarket"]
    assert sorted(e["enrollment_id"] for e in remarketed) == sorted([who["ann"]["id"], who["bob"]["id"]])
    assert {e["payload"]["from"] for e in remarketed} == {"finished"}


async def test_starting_reopens_by_goal_result_and_by_ids_only_the_audience(client, admin):
    cid, who = await _campaign(client, admin)
    by_goal = await _remarket(client, admin, cid, {"goal_results": ["not_achieved"]})
    assert (await _start(client, admin, cid, by_goal)).status_code == 200
    rows = await _rows(who)
    assert rows["bob"][0] == "waiting" and rows["ann"][:2] == ("finished", "no_response")
    assert rows["cara"][0] == "replied"
    by_ids = await _remarket(client, admin, cid, {"contact_ids": [who["ann"]["contact"]["id"],
                                                                   who["cara"]["contact"]["id"]]}, kind="task")
    assert (await _start(client, admin, cid, by_ids)).status_code == 200
    rows = await _rows(who)
    assert (rows["ann"][0], rows["cara"][0]) == ("waiting", "waiting")
    assert (await _start_event_of(client, admin, cid, by_ids))["audience"]["reopen"] == 2


async def _start_event_of(client, admin, cid: str, channel_id: str) -> dict:
    items = (await client.get(f"/v1/campaigns/{cid}/activity", headers=admin,
                              params={"kind": "channel.start"})).json()["items"]
    return next(e["payload"] for e in items if e["payload"]["channel_id"] == channel_id)


async def test_a_contact_with_a_draft_in_review_is_not_reopened_under_it(client, admin):
    """A waiting contact whose outreach is still upcoming keeps it: a fresh plan would race it."""
    cid, who = await _campaign(client, admin)
    await set_enrollments(Enrollment.id == who["bob"]["id"], status="waiting", substatus="scheduled")
    await add_outreach(cid, who["bob"]["id"], status="awaiting_approval", channel="email")
    channel = await _remarket(client, admin, cid, {"statuses": ["finished", "waiting"]})
    assert (await _start(client, admin, cid, channel)).status_code == 200
    rows = await _rows(who)
    assert rows["bob"][:2] == ("waiting", "scheduled") and rows["ann"][0] == "waiting"
    assert (await _start_event(client, admin, cid))["audience"]["excluded"]["outreach_pending"] == 1


async def test_a_completed_campaign_takes_a_remarketing_channel_and_starting_it_reactivates_it_once(client, admin):
    cid, who = await _campaign(client, admin)
    assert (await client.post(f"/v1/campaigns/{cid}/complete", headers=admin)).status_code == 200
    channel = await _remarket(client, admin, cid, {"statuses": ["finished"]}, kind="sms")
    campaign = (await client.get(f"/v1/campaigns/{cid}", headers=admin)).json()
    assert campaign["status"] == "completed"  # adding changes nothing until it starts
    r = await _start(client, admin, cid, channel)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active"
    assert [(c["kind"], c["status"]) for c in r.json()["channels"]] == [("email", "completed"), ("sms", "running")]
    reactivated = (await client.get(f"/v1/campaigns/{cid}/activity", headers=admin,
                                    params={"kind": "campaign.remarket"})).json()["items"]
    assert [(e["payload"]["from"], e["payload"]["to"]) for e in reactivated] == [("completed", "active")]
    rows = await _rows(who)
    # The second start changes nothing: the channel is running, the audience stays as it was left.
    assert_problem(await _start(client, admin, cid, channel), 409, "invalid_transition")
    assert await _rows(who) == rows
    starts = (await client.get(f"/v1/campaigns/{cid}/activity", headers=admin,
                               params={"kind": "channel.start"})).json()["items"]
    assert len(starts) == 1
    # Nobody asks for the campaign's remarket move by name.
    assert (await client.post(f"/v1/campaigns/{cid}/remarket", headers=admin)).status_code in (404, 405)


async def test_an_archived_campaign_still_refuses_a_remarketing_channel(client, admin):
    cid, _ = await _campaign(client, admin)
    assert (await client.post(f"/v1/campaigns/{cid}/complete", headers=admin)).status_code == 200
    assert (await client.post(f"/v1/campaigns/{cid}/archive", headers=admin)).status_code == 200
    assert_problem(await client.post(f"/v1/campaigns/{cid}/channels", headers=admin,
                                     json={"kind": "email", "audience": {"statuses": ["finished"]}}),
                   409, "campaign_final")


async def test_the_planner_plans_the_reopened_contacts_on_the_new_channel_only(client, admin):
    """The original email channel still runs: Di and Ed (never started) are planned on it, Bob
    (reopened) on the remarketing channel alone; Ann reopened too, but her goal was achieved."""
    cid, who = await _campaign(client, admin)
    old = (await client.get(f"/v1/campaigns/{cid}", headers=admin)).json()["channels"][0]["id"]
    new = await _remarket(client, admin, cid, {"statuses": ["finished"]})
    assert (await _start(client, admin, cid, new)).status_code == 200
    await run_plan(client, admin, cid)
    by_enrollment = {o.enrollment_id: o.channel_id for o in await outreaches(cid)}
    rest = [who[n]["id"] for n in who if n not in ("ann", "bob", "cara")]
    assert by_enrollment == {who["bob"]["id"]: new, **{e: old for e in rest}}
    rows = await _rows(who)
    assert (rows["ann"][0], rows["bob"][0], rows["cara"][0]) == ("completed", "awaiting_approval", "replied")


async def test_viewers_and_approvers_neither_add_nor_start_a_remarketing_channel(client, admin):
    cid, who = await _campaign(client, admin)
    channel = await _remarket(client, admin, cid, {"statuses": ["finished"]})
    for role in (Role.viewer, Role.approver):
        other = bearer(await make_key(role))
        assert_problem(await client.post(f"/v1/campaigns/{cid}/channels", headers=other,
                                         json={"kind": "email", "audience": {"statuses": ["finished"]}}),
                       403, "forbidden")
        assert_problem(await _start(client, admin=other, cid=cid, channel_id=channel), 403, "forbidden")
    assert (await _rows(who))["bob"][0] == "finished"


async def test_the_campaigns_remarket_move_is_never_asked_for_by_name(client, admin):
    """Only a remarketing channel's start applies it; the lifecycle refuses it from any caller
    (the web's action form goes through the same function)."""
    from agent.errors import InvalidTransition
    from agent.lifecycle.campaigns import campaign_action
    from agent.models import Campaign
    from agent.states import CampaignAction

    cid, _ = await _campaign(client, admin)
    assert (await client.post(f"/v1/campaigns/{cid}/complete", headers=admin)).status_code == 200
    async with session_scope() as s:
        campaign = await s.get(Campaign, cid)
        with pytest.raises(InvalidTransition):
            await campaign_action(s, campaign, CampaignAction.remarket, "key_test")
    assert (await client.get(f"/v1/campaigns/{cid}", headers=admin)).json()["status"] == "completed"


async def test_a_one_time_campaigns_reopened_contact_gets_its_one_touch_on_the_new_channel(client, admin):
    """Bob's one touch went out on the old channel; remarketed, the touch counted is the new
    channel's (none yet), so he is drafted again instead of finished at once."""
    cid = await live_campaign(client, admin, type="one_time", contacts=people(2))
    old = (await client.get(f"/v1/campaigns/{cid}", headers=admin)).json()["channels"][0]["id"]
    bob = (await enrollments(client, admin, cid))["Bo"]
    await add_outreach(cid, bob["id"], status="sent", channel="email", channel_id=old)
    await set_enrollments(Enrollment.id == bob["id"], status="finished", substatus="no_response", attempts=1)
    new = await _remarket(client, admin, cid, {"statuses": ["finished"]})
    assert (await _start(client, admin, cid, new)).status_code == 200
    await run_plan(client, admin, cid)
    drafted = [o for o in await outreaches(cid) if o.enrollment_id == bob["id"] and o.status == "awaiting_approval"]
    assert [o.channel_id for o in drafted] == [new]
