"""Every campaign and channel move over HTTP: allowed ones land, refused ones change nothing."""

import pytest
from sqlalchemy import select

from agent.lifecycle import campaigns as lifecycle
from agent.campaigns import service as campaigns
from agent.db import session_scope
from agent.models import Campaign
from agent.states import (
    CAMPAIGN_CHANNEL_EFFECT,
    CAMPAIGN_TRANSITIONS,
    CHANNEL_ACTION_CAMPAIGN_STATES,
    CHANNEL_TRANSITIONS,
    SYSTEM_CAMPAIGN_ACTIONS,
    CampaignAction,
    CampaignStatus,
    ChannelAction,
    ChannelStatus,
    campaign_status_from_channels,
)
from tests.flows import act, assert_problem, create, fetch

# A way to each campaign status through the API, from a draft with two ready channels.
REACH = {
    "draft": [], "active": ["go-live"], "paused": ["go-live", "pause"], "completed": ["go-live", "complete"],
    "cancelled": ["go-live", "cancel"], "archived": ["go-live", "archive"],
}
USER_CHANNEL_ACTIONS = ["start", "pause", "resume", "stop"]


async def post_channel(client, headers, campaign, index, action):
    chid = campaign["channels"][index]["id"]
    return await client.post(f"/v1/campaigns/{campaign['id']}/channels/{chid}/{action}", headers=headers)


async def channel(client, headers, campaign, index, action):
    r = await post_channel(client, headers, campaign, index, action)
    assert r.status_code == 200, r.text
    return r.json()


async def finish_channel(campaign_id, channel_id):
    """The workers' move: a channel went through its whole contact list."""
    async with session_scope() as s:
        campaign = (await s.execute(select(Campaign).where(Campaign.id == campaign_id))).scalar_one()
        ch = await campaigns.get_channel(s, campaign, channel_id)
        await lifecycle.channel_action(s, campaign, ch, ChannelAction.finish, "system")


def statuses(campaign):
    return [c["status"] for c in campaign["channels"]]


async def refused(client, headers, r, before):
    body = assert_problem(r, 409, "invalid_transition")
    assert await fetch(client, headers, before["id"]) == before
    return body


# --- campaign actions -------------------------------------------------------------


@pytest.mark.parametrize("action", [a.value for a in CampaignAction if a not in SYSTEM_CAMPAIGN_ACTIONS])
@pytest.mark.parametrize("status", list(REACH))
async def test_campaign_action_from_every_status(client, admin, status, action):
    cid = (await create(client, admin))["id"]
    for step in REACH[status]:
        await act(client, admin, cid, step)
    before = await fetch(client, admin, cid)
    assert before["status"] == status
    r = await client.post(f"/v1/campaigns/{cid}/{action}", headers=admin)
    allowed, to = CAMPAIGN_TRANSITIONS[CampaignAction(action)]
    if CampaignStatus(status) not in allowed:
        body = await refused(client, admin, r, before)
        assert body["current_status"] == status
        return
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["status"] == to
    ch_allowed, ch_to = CHANNEL_TRANSITIONS[CAMPAIGN_CHANNEL_EFFECT[CampaignAction(action)]]
    assert statuses(after) == [ch_to if s in ch_allowed else s for s in statuses(before)]
    assert [c["id"] for c in after["channels"]] == [c["id"] for c in before["channels"]]
    assert (after["went_live_at"] is None) == (before["went_live_at"] is None and action != "go-live")
    assert await fetch(client, admin, cid) == after


async def test_campaign_without_channels_cannot_go_live(client, admin):
    before = await create(client, admin, channels=[])
    body = await refused(client, admin, await client.post(f"/v1/campaigns/{before['id']}/go-live", headers=admin),
                         before)
    assert body["errors"][0]["loc"] == ["channels"]


async def test_campaign_whose_channels_are_all_stopped_cannot_go_live(client, admin):
    draft = await create(client, admin)
    await channel(client, admin, draft, 0, "stop")
    await channel(client, admin, draft, 1, "stop")
    before = await fetch(client, admin, draft["id"])
    assert before["status"] == "draft" and statuses(before) == ["stopped", "stopped"]
    body = await refused(client, admin, await client.post(f"/v1/campaigns/{draft['id']}/go-live", headers=admin),
                         before)
    assert body["errors"][0]["loc"] == ["channels"]


async def test_going_live_is_one_way(client, admin):
    cid = (await create(client, admin))["id"]
    live = await act(client, admin, cid, "go-live")
    went_live_at = live["went_live_at"]
    assert went_live_at is not None
    for step in ("pause", "resume", "pause", "complete"):
        assert (await act(client, admin, cid, step))["went_live_at"] == went_live_at
    before = await fetch(client, admin, cid)
    await refused(client, admin, await client.post(f"/v1/campaigns/{cid}/go-live", headers=admin), before)
    r = await client.patch(f"/v1/campaigns/{cid}", json={"status": "draft"}, headers=admin)
    assert_problem(r, 422, "validation_error")
    assert await fetch(client, admin, cid) == before


async def test_campaign_pause_and_resume_reach_only_the_channels_they_apply_to(client, admin):
    draft = await create(client, admin, channels=[{"kind": "email"}, {"kind": "sms"}, {"kind": "voice"}])
    await channel(client, admin, draft, 0, "start")
    await channel(client, admin, draft, 2, "start")
    await channel(client, admin, draft, 2, "stop")
    paused = await act(client, admin, draft["id"], "pause")
    assert paused["status"] == "paused" and statuses(paused) == ["paused", "ready", "stopped"]
    resumed = await act(client, admin, draft["id"], "resume")
    assert resumed["status"] == "active" and statuses(resumed) == ["running", "ready", "stopped"]


@pytest.mark.parametrize("action", ["cancel", "archive"])
async def test_cancel_and_archive_stop_every_channel(client, admin, action):
    draft = await create(client, admin, channels=[{"kind": "email"}, {"kind": "sms"}, {"kind": "voice"}])
    await channel(client, admin, draft, 0, "start")
    await channel(client, admin, draft, 1, "start")
    await channel(client, admin, draft, 1, "pause")
    assert statuses(await fetch(client, admin, draft["id"])) == ["running", "paused", "ready"]
    after = await act(client, admin, draft["id"], action)
    assert statuses(after) == ["stopped"] * 3


async def test_complete_finishes_running_and_paused_channels_and_stops_unstarted_ones(client, admin):
    draft = await create(client, admin, channels=[{"kind": "email"}, {"kind": "sms"}, {"kind": "voice"}])
    await channel(client, admin, draft, 0, "start")
    await channel(client, admin, draft, 1, "start")
    await channel(client, admin, draft, 1, "pause")
    after = await act(client, admin, draft["id"], "complete")
    # A channel that never ran cannot be left startable under a finished campaign.
    assert after["status"] == "completed" and statuses(after) == ["completed", "completed", "stopped"]


# --- channel actions --------------------------------------------------------------

# Steps (channel index, action) that put channel 0 in a status while channel 1 keeps the campaign active.
CHANNEL_REACH = {
    "ready": [(1, "start")],
    "running": [(0, "start"), (1, "start")],
    "paused": [(0, "start"), (1, "start"), (0, "pause")],
    "stopped": [(0, "start"), (1, "start"), (0, "stop")],
    "completed": [(0, "start"), (1, "start"), (0, "finish")],
}


@pytest.mark.parametrize("action", USER_CHANNEL_ACTIONS)
@pytest.mark.parametrize("status", list(CHANNEL_REACH))
async def test_channel_action_from_every_channel_status(client, admin, status, action):
    draft = await create(client, admin)
    for index, step in CHANNEL_REACH[status]:
        if step == "finish":
            await finish_channel(draft["id"], draft["channels"][index]["id"])
        else:
            await channel(client, admin, draft, index, step)
    before = await fetch(client, admin, draft["id"])
    assert (before["status"], statuses(before)) == ("active", [status, "running"])
    r = await post_channel(client, admin, draft, 0, action)
    allowed, to = CHANNEL_TRANSITIONS[ChannelAction(action)]
    if ChannelStatus(status) not in allowed:
        body = await refused(client, admin, r, before)
        assert body["errors"][0]["loc"] == ["status"] and body["current_status"] == status
        return
    assert r.status_code == 200, r.text
    assert (r.json()["status"], statuses(r.json())) == ("active", [to, "running"])
    assert await fetch(client, admin, draft["id"]) == r.json()


# Steps (channel index or "campaign", action) to a campaign status, with channel 0 left as it ends up.
CAMPAIGN_REACH = {
    "draft": [],
    "paused": [(1, "start"), ("campaign", "pause")],
    "completed": [(1, "start"), ("campaign", "complete")],
    "cancelled": [(1, "start"), ("campaign", "cancel")],
    "archived": [(1, "start"), ("campaign", "archive")],
}


@pytest.mark.parametrize("action", USER_CHANNEL_ACTIONS)
@pytest.mark.parametrize("campaign_status", list(CAMPAIGN_REACH))
async def test_channel_action_needs_a_campaign_status_that_allows_it(client, admin, campaign_status, action):
    draft = await create(client, admin)
    for who, step in CAMPAIGN_REACH[campaign_status]:
        if who == "campaign":
            await act(client, admin, draft["id"], step)
        else:
            await channel(client, admin, draft, who, step)
    before = await fetch(client, admin, draft["id"])
    assert before["status"] == campaign_status
    r = await post_channel(client, admin, draft, 0, action)
    allowed, to = CHANNEL_TRANSITIONS[ChannelAction(action)]
    if CampaignStatus(campaign_status) not in CHANNEL_ACTION_CAMPAIGN_STATES[ChannelAction(action)]:
        body = await refused(client, admin, r, before)
        assert body["errors"][0]["loc"] == ["campaign", "status"]
    elif ChannelStatus(statuses(before)[0]) not in allowed:
        await refused(client, admin, r, before)
    else:
        assert r.status_code == 200, r.text
        after = [to.value, statuses(before)[1]]
        expected = campaign_status_from_channels(CampaignStatus(campaign_status), [ChannelStatus(s) for s in after])
        assert (r.json()["status"], statuses(r.json())) == (expected, after)


async def test_completed_campaign_refuses_to_start_its_never_started_channel(client, admin):
    draft = await create(client, admin)
    await channel(client, admin, draft, 1, "start")
    before = await act(client, admin, draft["id"], "complete")
    assert statuses(before) == ["stopped", "completed"]
    body = await refused(client, admin, await post_channel(client, admin, draft, 0, "start"), before)
    assert "completed" in body["detail"]


async def test_stopped_channel_cannot_resume_or_start_again(client, admin):
    draft = await create(client, admin)
    await channel(client, admin, draft, 0, "start")
    await channel(client, admin, draft, 1, "start")
    await channel(client, admin, draft, 0, "pause")
    await channel(client, admin, draft, 0, "stop")
    before = await fetch(client, admin, draft["id"])
    assert statuses(before) == ["stopped", "running"]
    for action in USER_CHANNEL_ACTIONS:
        await refused(client, admin, await post_channel(client, admin, draft, 0, action), before)


async def test_starting_one_channel_takes_a_draft_live(client, admin):
    draft = await create(client, admin)
    after = await channel(client, admin, draft, 0, "start")
    assert after["status"] == "active" and after["went_live_at"] is not None
    assert statuses(after) == ["running", "ready"]


async def test_pausing_the_only_running_channel_pauses_the_campaign(client, admin):
    draft = await create(client, admin)
    await channel(client, admin, draft, 0, "start")
    after = await channel(client, admin, draft, 0, "pause")
    assert (after["status"], statuses(after)) == ("paused", ["paused", "ready"])


async def test_pausing_one_of_two_running_channels_keeps_the_campaign_active(client, admin):
    draft = await create(client, admin)
    await act(client, admin, draft["id"], "go-live")
    after = await channel(client, admin, draft, 0, "pause")
    assert (after["status"], statuses(after)) == ("active", ["paused", "running"])
    after = await channel(client, admin, draft, 1, "pause")
    assert (after["status"], statuses(after)) == ("paused", ["paused", "paused"])


async def test_resuming_a_channel_makes_a_paused_campaign_active(client, admin):
    draft = await create(client, admin)
    await act(client, admin, draft["id"], "go-live")
    await act(client, admin, draft["id"], "pause")
    after = await channel(client, admin, draft, 1, "resume")
    assert (after["status"], statuses(after)) == ("active", ["paused", "running"])


async def test_stopping_every_channel_completes_the_campaign(client, admin):
    draft = await create(client, admin)
    await act(client, admin, draft["id"], "go-live")
    await channel(client, admin, draft, 0, "pause")
    after = await channel(client, admin, draft, 1, "stop")
    assert (after["status"], statuses(after)) == ("paused", ["paused", "stopped"])
    after = await channel(client, admin, draft, 0, "stop")
    assert (after["status"], statuses(after)) == ("completed", ["stopped", "stopped"])


async def test_stopping_the_channels_of_a_draft_keeps_it_a_draft(client, admin):
    draft = await create(client, admin)
    after = await channel(client, admin, draft, 0, "stop")
    assert (after["status"], statuses(after), after["went_live_at"]) == ("draft", ["stopped", "ready"], None)


async def test_finish_is_not_a_user_action(client, admin):
    draft = await create(client, admin)
    await act(client, admin, draft["id"], "go-live")
    before = await fetch(client, admin, draft["id"])
    r = await post_channel(client, admin, draft, 0, "finish")
    assert r.status_code in (404, 405)
    assert await fetch(client, admin, draft["id"]) == before


async def test_channel_of_another_campaign_is_not_found(client, admin):
    first, second = await create(client, admin), await create(client, admin, name="Second")
    r = await client.post(f"/v1/campaigns/{first['id']}/channels/{second['channels'][0]['id']}/start", headers=admin)
    assert_problem(r, 404, "not_found")
    assert statuses(await fetch(client, admin, second["id"])) == ["ready", "ready"]
    assert (await fetch(client, admin, first["id"]))["status"] == "draft"
