"""A channel completes by itself once every contact is done with it, and the campaign follows."""

from agent.models import Enrollment
from planner import scheduler
from tests.builders import add_outreach, set_enrollments
from tests.conftest import drain_queue
from tests.flows import enrollments, events, fetch, live_campaign, people


async def _ids(client, admin, cid):
    return {name: e for name, e in (await enrollments(client, admin, cid)).items()}


async def _finish(enrollment_id: str) -> None:
    """A worker's end for the contact: every step ran without a reply."""
    await set_enrollments(Enrollment.id == enrollment_id, status="finished", substatus="no_response")


async def test_the_last_contact_done_completes_the_channel_and_the_campaign(client, admin):
    cid = await live_campaign(client, admin, contacts=people(2))
    first, second = (await _ids(client, admin, cid)).values()
    await _finish(first["id"])
    await scheduler.tick()
    # The tick may have handed the live contact to the in-process planner: let it finish, or the
    # removal below can meet its move half-way and answer 409 ``stale`` (as the API says it may).
    await drain_queue()
    assert [c["status"] for c in (await fetch(client, admin, cid))["channels"]] == ["running"]  # one still live

    r = await client.delete(f"/v1/campaigns/{cid}/contacts/{second['contact']['id']}", headers=admin)
    assert r.status_code == 204
    await scheduler.tick()
    campaign = await fetch(client, admin, cid)
    assert campaign["status"] == "completed"
    assert [c["status"] for c in campaign["channels"]] == ["completed"]
    kinds = [(e["kind"], e["actor"]) for e in (await events(client, admin, cid))["items"]]
    assert ("channel.finish", "system") in kinds and ("campaign.status_followed", "system") in kinds
    # Completed takes no new contacts, as the campaign's rules say.
    r = await client.post(f"/v1/campaigns/{cid}/contacts", json={"contacts": people(3)[2:]}, headers=admin)
    assert r.status_code == 409


async def test_an_outreach_still_upcoming_keeps_the_channel_running(client, admin):
    cid = await live_campaign(client, admin, contacts=people(1))
    (only,) = (await _ids(client, admin, cid)).values()
    campaign = await fetch(client, admin, cid)
    await add_outreach(cid, only["id"], status="awaiting_execution", channel="email",
                       channel_id=campaign["channels"][0]["id"])
    await _finish(only["id"])
    await scheduler.tick()
    assert (await fetch(client, admin, cid))["status"] == "active"


async def test_a_campaign_run_by_hand_stays_active_and_idle(client, admin):
    cid = await live_campaign(client, admin, contacts=people(1), execution_mode="manual")
    (only,) = (await _ids(client, admin, cid)).values()
    await _finish(only["id"])
    await scheduler.tick()
    campaign = await fetch(client, admin, cid)
    assert campaign["status"] == "active" and campaign["channels"][0]["status"] == "running"


async def test_a_contact_in_error_is_not_done_and_an_empty_campaign_does_not_complete(client, admin):
    empty = await live_campaign(client, admin)
    cid = await live_campaign(client, admin, contacts=people(2))
    first, second = (await _ids(client, admin, cid)).values()
    await _finish(first["id"])
    await set_enrollments(Enrollment.id == second["id"], status="error", substatus="missing_email")
    await scheduler.tick()
    assert (await fetch(client, admin, cid))["status"] == "active"
    assert (await fetch(client, admin, empty))["status"] == "active"


async def test_a_paused_channel_is_left_to_the_person_who_paused_it(client, admin):
    cid = await live_campaign(client, admin, contacts=people(1), channels=("email", "sms"))
    campaign = await fetch(client, admin, cid)
    sms = campaign["channels"][1]["id"]
    assert (await client.post(f"/v1/campaigns/{cid}/channels/{sms}/pause", headers=admin)).status_code == 200
    (only,) = (await _ids(client, admin, cid)).values()
    await _finish(only["id"])
    await scheduler.tick()
    campaign = await fetch(client, admin, cid)
    assert [c["status"] for c in campaign["channels"]] == ["completed", "paused"]
    assert campaign["status"] == "paused"  # none running, one paused: the campaign follows its channels
