"""The task list over HTTP: filtered by status, paged oldest first, readable by every role,
completed once by approvers and admins, and never seen from another workspace."""

from __future__ import annotations

import pytest

from agent.channels.tasks import TASKS
from agent.states import Role
from tests.builders import enrollments_of, key_id, make_key, outreach_row, task_message
from tests.conftest import bearer, drain_queue
from tests.flows import assert_problem, by_name, events, live_campaign, people, queue_with_drafts, zone_at_noon

TASK_CHANNEL = {"kind": "task", "provider": "tasks"}


async def _tasks(client, admin, n: int) -> tuple[str, list[str]]:
    """A campaign of ``n`` contacts with one task each, in contact order; the campaign and task ids."""
    cid = await live_campaign(client, admin, channels=(TASK_CHANNEL,), contacts=people(n))
    ids = []
    for enrollment in await enrollments_of(cid):
        ids.append((await TASKS.send(await task_message(enrollment))).provider_message_id)
    return cid, ids


async def _list(client, headers, **params) -> dict:
    r = await client.get("/v1/tasks", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def _complete(client, headers, task_id: str, body: dict | None = None):
    return await client.post(f"/v1/tasks/{task_id}/complete", json={"outcome": "booked"} if body is None else body, headers=headers)


async def test_a_task_lists_with_its_contact_and_campaign(client, admin) -> None:
    cid, [tid] = await _tasks(client, admin, 1)
    [item] = (await _list(client, admin))["items"]
    assert item["id"] == tid and item["status"] == "pending" and item["title"] == "Call about the webinar"
    assert item["contact"] == {"id": item["contact"]["id"], "name": "Ann Lee", "email": "ann@example.com",
                               "phone": None}
    assert item["campaign"] == {"id": cid, "name": "Spring webinar"}
    assert item["outcome"] is None and item["completed_at"] is None and item["created_at"]


async def test_the_status_filter_splits_pending_from_completed(client, admin) -> None:
    _, ids = await _tasks(client, admin, 3)
    assert (await _complete(client, admin, ids[1])).status_code == 200
    assert [i["id"] for i in (await _list(client, admin, status="pending"))["items"]] == [ids[0], ids[2]]
    assert [i["id"] for i in (await _list(client, admin, status="completed"))["items"]] == [ids[1]]
    assert [i["id"] for i in (await _list(client, admin))["items"]] == ids
    assert [i["id"] for i in (await _list(client, admin, status="pending,completed"))["items"]] == ids
    assert_problem(await client.get("/v1/tasks", params={"status": "done"}, headers=admin), 422, "validation_error")


async def test_pages_follow_the_cursor_oldest_first_without_overlap(client, admin) -> None:
    _, ids = await _tasks(client, admin, 5)
    first = await _list(client, admin, limit=2)
    second = await _list(client, admin, limit=2, cursor=first["next_cursor"])
    third = await _list(client, admin, limit=2, cursor=second["next_cursor"])
    assert [i["id"] for p in (first, second, third) for i in p["items"]] == ids
    assert first["next_cursor"] and second["next_cursor"] and third["next_cursor"] is None
    # The cursor holds under a filter too: completing one task moves it out of the pending pages.
    assert (await _complete(client, admin, ids[2])).status_code == 200
    after = await _list(client, admin, status="pending", limit=2, cursor=first["next_cursor"])
    assert [i["id"] for i in after["items"]] == [ids[3], ids[4]]


async def test_completing_records_who_when_and_an_event_once(client, admin) -> None:
    cid, [tid] = await _tasks(client, admin, 1)
    r = await _complete(client, admin, tid, {"outcome": "Booked for May 4", "note": "Prefers mornings"})
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "completed" and done["outcome"] == "Booked for May 4" and done["note"] == "Prefers mornings"
    assert done["completed_by"] == await key_id(admin) and done["completed_at"]
    again = await _complete(client, admin, tid, {"outcome": "Booked twice"})
    assert_problem(again, 409, "invalid_transition")
    [stored] = (await _list(client, admin))["items"]
    assert stored["outcome"] == "Booked for May 4"  # the second call changed nothing
    [event] = (await events(client, admin, cid, {"kind": "task.completed"}))["items"]
    assert event["payload"] == {"task_id": tid, "outcome": "Booked for May 4", "note": "Prefers mornings"}
    assert event["actor"] == await key_id(admin) and event["contact_id"] == done["contact"]["id"]


@pytest.mark.parametrize("body", [{}, {"outcome": ""}, {"outcome": "x" * 201}, {"outcome": "ok", "extra": 1}])
async def test_completing_needs_an_outcome_of_1_to_200_characters(client, admin, body) -> None:
    _, [tid] = await _tasks(client, admin, 1)
    assert_problem(await _complete(client, admin, tid, body), 422, "validation_error")
    assert (await _list(client, admin, status="pending"))["items"][0]["id"] == tid


async def test_every_role_reads_and_only_approvers_and_admins_complete(client, admin) -> None:
    _, [first, second] = await _tasks(client, admin, 2)
    viewer, approver = bearer(await make_key(Role.viewer)), bearer(await make_key(Role.approver))
    assert len((await _list(client, viewer))["items"]) == 2
    assert_problem(await _complete(client, viewer, first), 403, "forbidden")
    assert (await _complete(client, approver, first)).status_code == 200
    assert (await _complete(client, admin, second)).status_code == 200
    assert (await _list(client, viewer, status="pending"))["items"] == []


async def test_another_workspace_sees_no_task_and_cannot_complete_one(client, admin) -> None:
    _, [tid] = await _tasks(client, admin, 1)
    other = bearer(await make_key(Role.admin, workspace="globex"))
    assert (await _list(client, other))["items"] == []
    assert_problem(await _complete(client, other, tid), 404, "not_found")
    assert (await _list(client, admin, status="pending"))["items"][0]["id"] == tid


async def test_the_task_list_needs_a_key(client) -> None:
    assert_problem(await client.get("/v1/tasks"), 401, "unauthorized")


async def test_an_approved_task_outreach_lands_on_the_list_once_and_is_completed(client, admin) -> None:
    cid, items = await queue_with_drafts(client, admin, 2, channels=(TASK_CHANNEL,),
                                         contacts=people(2, timezone=zone_at_noon()))
    ann = by_name(items)["Ann"]
    assert (await client.post(f"/v1/outreaches/{ann['id']}/approve", headers=admin)).status_code == 200
    assert (await client.post(f"/v1/campaigns/{cid}/execute-approved", headers=admin)).json() == {"queued": 1}
    await drain_queue()
    row = await outreach_row(ann["id"])
    assert row.status == "sent", row.error
    [task] = (await _list(client, admin, status="pending"))["items"]  # Bo's draft was not approved
    assert task["id"] == row.provider_message_id and task["outreach_id"] == row.id
    assert task["contact"]["name"] == "Ann Lee" and task["campaign"]["id"] == cid and task["body"] == row.body
    # Executing again hands nothing over, so the list still holds one task.
    assert (await client.post(f"/v1/campaigns/{cid}/execute-approved", headers=admin)).json() == {"queued": 0}
    await drain_queue()
    assert len((await _list(client, admin))["items"]) == 1
    r = await _complete(client, admin, task["id"], {"outcome": "Seat booked"})
    assert r.status_code == 200 and r.json()["status"] == "completed", r.text
    assert (await _list(client, admin, status="pending"))["items"] == []
