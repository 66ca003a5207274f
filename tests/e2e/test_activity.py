"""The campaign activity log over HTTP: one event per move, by the acting key, and its filters."""

import pytest

from tests.builders import key_id
from tests.conftest import bearer, make_key
from tests.flows import assert_problem, create, events

CONTACTS = {"contacts": [{"name": "Ann Lee", "email": "ann@example.com"}, {"name": "Bob Ray", "phone": "+14155552671"}]}


async def do(client, headers, campaign, step):
    """``go-live`` (campaign action), ``0:pause`` (action on channel 0) or ``patch:<json field>``."""
    cid = campaign["id"]
    if step.startswith("patch:"):
        field = step.removeprefix("patch:")
        body = {"name": {"name": "Renamed"}, "channels": {"channels": [{"kind": "voice"}]}}[field]
        return await client.patch(f"/v1/campaigns/{cid}", json=body, headers=headers)
    if ":" in step:
        index, action = step.split(":")
        chid = campaign["channels"][int(index)]["id"]
        return await client.post(f"/v1/campaigns/{cid}/channels/{chid}/{action}", headers=headers)
    if step == "delete":
        return await client.delete(f"/v1/campaigns/{cid}", headers=headers)
    return await client.post(f"/v1/campaigns/{cid}/{step}", headers=headers)


async def run(client, headers, campaign, steps):
    for step in steps:
        r = await do(client, headers, campaign, step)
        assert r.status_code < 300, r.text


@pytest.mark.parametrize("setup,step,kinds", [
    ([], "go-live", ["campaign.go-live"]),
    (["go-live"], "pause", ["campaign.pause"]),
    (["go-live", "pause"], "resume", ["campaign.resume"]),
    (["go-live"], "complete", ["campaign.complete"]),
    ([], "cancel", ["campaign.cancel"]),
    (["go-live", "complete"], "archive", ["campaign.archive"]),
    ([], "duplicate", ["campaign.duplicated"]),
    (["go-live"], "patch:name", ["campaign.updated"]),
    ([], "0:start", ["campaign.status_followed", "channel.start"]),
    (["go-live"], "0:pause", ["channel.pause"]),
    (["0:start"], "0:pause", ["campaign.status_followed", "channel.pause"]),
    (["go-live", "pause"], "1:resume", ["campaign.status_followed", "channel.resume"]),
    (["go-live"], "0:stop", ["channel.stop"]),
    (["go-live", "0:stop"], "1:stop", ["campaign.status_followed", "channel.stop"]),
    ([], "1:stop", ["channel.stop"]),
])
async def test_each_move_appends_its_events_by_the_acting_key(client, admin, setup, step, kinds):
    campaign = await create(client, admin)
    await run(client, admin, campaign, setup)
    before = (await events(client, admin, campaign["id"]))["items"]
    other_admin = bearer(await make_key("admin"))
    r = await do(client, other_admin, campaign, step)
    assert r.status_code < 300, r.text
    after = (await events(client, admin, campaign["id"]))["items"]
    new = after[:len(after) - len(before)]
    assert after[len(new):] == before
    assert [e["kind"] for e in new] == kinds
    actor = await key_id(other_admin)
    assert all(e["actor"] == actor and e["campaign_id"] == campaign["id"] for e in new)
    assert actor != await key_id(admin)


async def test_move_events_record_what_moved(client, admin):
    campaign = await create(client, admin)
    ch0, ch1 = (c["id"] for c in campaign["channels"])
    await run(client, admin, campaign, ["go-live", "0:pause", "1:pause"])
    latest = (await events(client, admin, campaign["id"]))["items"]
    assert [e["kind"] for e in latest] == ["campaign.status_followed", "channel.pause", "channel.pause",
                                           "campaign.go-live", "campaign.created"]
    followed, paused, _, live, created = latest
    assert followed["payload"] == {"from": "active", "to": "paused", "channel_id": ch1}
    assert paused["payload"] == {"channel_id": ch1, "kind": "sms", "from": "running", "to": "paused"}
    assert live["payload"] == {"from": "draft", "to": "active", "channels": [
        {"channel_id": ch0, "from": "ready", "to": "running"}, {"channel_id": ch1, "from": "ready", "to": "running"}]}
    assert created["payload"] == {"name": "Spring"}


async def test_duplicate_starts_the_copy_log_with_its_creation(client, admin):
    source = await create(client, admin)
    copy = (await do(client, admin, source, "duplicate")).json()
    items = (await events(client, admin, copy["id"]))["items"]
    assert [(e["kind"], e["payload"]) for e in items] == [
        ("campaign.created", {"name": "Spring (copy)", "duplicated_from_id": source["id"]})]
    assert (await events(client, admin, source["id"]))["items"][0]["payload"] == {"copy_id": copy["id"]}


@pytest.mark.parametrize("setup,step,role", [
    (["go-live"], "go-live", "admin"),
    ([], "pause", "admin"),
    ([], "complete", "admin"),
    (["archive"], "cancel", "admin"),
    ([], "0:pause", "admin"),
    (["go-live", "0:stop"], "0:resume", "admin"),
    (["go-live", "cancel"], "1:start", "admin"),
    (["go-live"], "patch:channels", "admin"),
    (["archive"], "patch:name", "admin"),
    ([], "delete", "admin"),
    ([], "go-live", "viewer"),
    ([], "0:start", "approver"),
])
async def test_refused_move_appends_nothing(client, admin, setup, step, role):
    campaign = await create(client, admin)
    await run(client, admin, campaign, setup)
    before = await events(client, admin, campaign["id"])
    r = await do(client, bearer(await make_key(role)), campaign, step)
    assert r.status_code in (403, 409, 428), r.text
    assert await events(client, admin, campaign["id"]) == before


async def test_contact_events_carry_the_contact_and_filter_by_it(client, admin):
    cid = (await create(client, admin))["id"]
    r = await client.post(f"/v1/campaigns/{cid}/contacts", json=CONTACTS, headers=admin)
    assert r.json()["added"] == 2, r.text
    enrolled = (await events(client, admin, cid, {"kind": "contact.enrolled"}))["items"]
    assert len(enrolled) == 2 and all(e["enrollment_id"] for e in enrolled)
    ann, bob = sorted(enrolled, key=lambda e: e["contact_id"])
    r = await client.delete(f"/v1/campaigns/{cid}/contacts/{ann['contact_id']}", headers=admin)
    assert r.status_code == 204, r.text

    anns = (await events(client, admin, cid, {"contact_id": ann["contact_id"]}))["items"]
    # The removal, and the enrollment's move that the lifecycle logs for every status change.
    assert [e["kind"] for e in anns] == ["contact.removed", "enrollment.moved", "contact.enrolled"]
    assert anns[0]["payload"] == {"from": "not_started"} and anns[0]["enrollment_id"] == ann["enrollment_id"]
    assert anns[1]["payload"] == {"action": "remove", "from": "not_started", "to": "removed", "substatus": None,
                                  "from_substatus": None}
    assert anns[1]["enrollment_id"] == ann["enrollment_id"]
    actor = await key_id(admin)
    assert all(e["actor"] == actor for e in anns)
    bobs = (await events(client, admin, cid, {"contact_id": bob["contact_id"]}))["items"]
    assert [e["kind"] for e in bobs] == ["contact.enrolled"]
    assert (await events(client, admin, cid, {"contact_id": "con_nobody"}))["items"] == []
    everything = [e["kind"] for e in (await events(client, admin, cid))["items"]]
    assert everything == ["contact.removed", "enrollment.moved", "contacts.added", "contact.enrolled",
                          "contact.enrolled", "campaign.created"]


async def test_kind_filter_is_repeatable_and_comma_separated(client, admin):
    campaign = await create(client, admin)
    await run(client, admin, campaign, ["go-live", "pause", "resume", "0:stop", "pause"])
    cid = campaign["id"]

    async def kinds(params):
        return [e["kind"] for e in (await events(client, admin, cid, params))["items"]]

    assert await kinds({"kind": "campaign.pause"}) == ["campaign.pause", "campaign.pause"]
    expected = ["campaign.pause", "channel.stop", "campaign.resume", "campaign.pause"]
    assert await kinds([("kind", "campaign.pause"), ("kind", "campaign.resume,channel.stop")]) == expected
    assert await kinds({"kind": "campaign.pause, campaign.resume ,channel.stop"}) == expected
    assert await kinds({"kind": "campaign.paws"}) == []


async def test_since_and_until_bound_the_events_by_time(client, admin):
    campaign = await create(client, admin)
    await run(client, admin, campaign, ["go-live"])
    await run(client, admin, campaign, ["pause"])
    paused, live, created = (await events(client, admin, campaign["id"]))["items"]
    assert created["created_at"] < live["created_at"] < paused["created_at"]

    async def kinds(**params):
        return [e["kind"] for e in (await events(client, admin, campaign["id"], params))["items"]]

    assert await kinds(since=live["created_at"]) == ["campaign.pause", "campaign.go-live"]
    assert await kinds(until=live["created_at"]) == ["campaign.created"]
    assert await kinds(since=live["created_at"], until=paused["created_at"]) == ["campaign.go-live"]
    assert await kinds(since=paused["created_at"], until=live["created_at"]) == []
    assert await kinds(since=created["created_at"].replace("Z", "+00:00")) == [
        "campaign.pause", "campaign.go-live", "campaign.created"]


@pytest.mark.parametrize("params,loc", [
    ({"since": "2030-01-01T00:00:00"}, ["query", "since"]),
    ({"until": "2030-01-01T00:00:00"}, ["query", "until"]),
    ({"since": "yesterday"}, ["query", "since"]),
    ({"limit": 0}, ["query", "limit"]),
])
async def test_bad_activity_filters_are_refused(client, admin, params, loc):
    cid = (await create(client, admin))["id"]
    r = await client.get(f"/v1/campaigns/{cid}/activity", params=params, headers=admin)
    assert assert_problem(r, 422, "validation_error")["errors"][0]["loc"] == loc


@pytest.mark.parametrize("params", [{}, {"kind": "campaign.pause,campaign.resume"}])
async def test_activity_pages_walk_every_event_once_newest_first(client, admin, params):
    campaign = await create(client, admin)
    await run(client, admin, campaign, ["go-live", "pause", "resume", "pause", "resume", "pause", "resume"])
    everything = (await events(client, admin, campaign["id"], params))["items"]
    walked, cursor = [], None
    while True:
        page = await events(client, admin, campaign["id"], {**params, "limit": 2, **({"cursor": cursor} if cursor else {})})
        assert 1 <= len(page["items"]) <= 2
        walked += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == everything and len({e["id"] for e in walked}) == len(everything) == (6 if params else 8)
    assert [e["id"] for e in walked] == sorted((e["id"] for e in walked), reverse=True)


async def test_activity_stays_with_its_campaign(client, admin):
    first, second = await create(client, admin), await create(client, admin, name="Other")
    await run(client, admin, first, ["go-live"])
    assert [e["kind"] for e in (await events(client, admin, second["id"]))["items"]] == ["campaign.created"]
    stranger = bearer(await make_key("admin", workspace="other"))
    r = await client.get(f"/v1/campaigns/{first['id']}/activity", headers=stranger)
    assert_problem(r, 404, "not_found")
