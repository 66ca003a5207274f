"""Fix and move on, over HTTP: edit a contact and the error it fixes plans again; disable, enable and
retry one contact of a campaign."""

from __future__ import annotations

from sqlalchemy import select

from agent.db import session_scope
from agent.models import Enrollment
from tests.builders import set_enrollments
from tests.conftest import bearer, drain_queue, make_key
from tests.flows import assert_problem, enrollments, live_campaign, run_plan, zone_at_noon


def ann(**extra) -> dict:
    return {"name": "Ann Lee", "phone": "+1 212 555 0100", "timezone": zone_at_noon(), **extra}


async def patch(client, headers, contact_id: str, body: dict, status: int = 200) -> dict:
    r = await client.patch(f"/v1/contacts/{contact_id}", json=body, headers=headers)
    assert r.status_code == status, r.text
    return r.json()


async def act(client, headers, cid: str, contact_id: str, action: str, status: int = 200) -> dict:
    r = await client.post(f"/v1/campaigns/{cid}/contacts/{contact_id}/{action}", headers=headers)
    assert r.status_code == status, r.text
    return r.json()


async def in_missing_email(client, admin, **contact) -> tuple[str, dict]:
    """An email campaign whose only contact has no email: planning leaves it in error/missing_email."""
    cid = await live_campaign(client, admin, contacts=[ann(**contact)])
    run = await run_plan(client, admin, cid)
    assert run["failed"] == 1, run
    enrollment = (await enrollments(client, admin, cid))["Ann"]
    assert (enrollment["status"], enrollment["substatus"]) == ("error", "missing_email")
    return cid, enrollment


async def drafts(client, headers, cid: str) -> list[dict]:
    r = await client.get("/v1/outreaches", params={"campaign_id": cid,
                                                   "status": "awaiting_approval,awaiting_execution,cancelled"},
                         headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


# --- PATCH /v1/contacts/{id} ------------------------------------------------------------------

async def test_adding_the_missing_email_plans_the_contact_again(client, admin):
    cid, enrollment = await in_missing_email(client, admin)
    contact = await patch(client, admin, enrollment["contact"]["id"], {"email": " Ann.Lee@Example.com "})
    assert contact["email"] == "Ann.Lee@example.com"
    await drain_queue()
    after = (await enrollments(client, admin, cid))["Ann"]
    assert after["status"] == "awaiting_approval", after
    [draft] = await drafts(client, admin, cid)
    assert draft["channel"] == "email" and draft["contact"]["email"] == "Ann.Lee@example.com"
    r = await client.get(f"/v1/campaigns/{cid}/activity", params={"contact_id": enrollment["contact"]["id"]},
                         headers=admin)
    [fixed] = [e for e in r.json()["items"] if (e["payload"] or {}).get("action") == "fix"]
    assert fixed["payload"]["fixed"] == ["email"] and fixed["payload"]["from_substatus"] == "missing_email"


async def test_an_edit_of_another_field_leaves_the_error_alone(client, admin):
    cid, enrollment = await in_missing_email(client, admin)
    contact = await patch(client, admin, enrollment["contact"]["id"],
                          {"first_name": "Annie", "tags": [" vip ", "VIP", "", "spring"], "priority": "high",
                           "properties": {"clinic": "Loop"}})
    assert (contact["first_name"], contact["tags"], contact["priority"]) == ("Annie", ["vip", "spring"], "high")
    assert contact["properties"] == {"clinic": "Loop"}
    contact = await patch(client, admin, contact["id"], {"properties": {"clinic": None, "floor": "2"}})
    assert contact["properties"] == {"floor": "2"}
    await drain_queue()
    after = (await enrollments(client, admin, cid))["Annie"]
    assert (after["status"], after["substatus"]) == ("error", "missing_email")


async def test_an_edit_is_validated_like_an_added_contact(client, admin):
    _, enrollment = await in_missing_email(client, admin)
    contact_id = enrollment["contact"]["id"]
    body = assert_problem(await client.patch(f"/v1/contacts/{contact_id}", json={"email": "not-an-email"},
                                             headers=admin), 422, "validation_error")
    assert body["errors"][0]["loc"] == ["body", "email"] and body["errors"][0]["code"] == "invalid_email"
    body = assert_problem(await client.patch(f"/v1/contacts/{contact_id}", json={"phone": "12"}, headers=admin),
                          422, "validation_error")
    assert body["errors"][0]["loc"] == ["body"] and body["errors"][0]["code"] == "invalid_phone_or_email"
    body = assert_problem(await client.patch(f"/v1/contacts/{contact_id}", json={"phone": None}, headers=admin),
                          422, "validation_error")
    assert body["errors"][0]["code"] == "missing_phone_or_email"
    body = assert_problem(await client.patch(f"/v1/contacts/{contact_id}", json={"timezone": "Mars/Olympus"},
                                             headers=admin), 422, "validation_error")
    assert body["errors"][0]["loc"] == ["body", "timezone"]
    assert_problem(await client.patch(f"/v1/contacts/{contact_id}", json={"priority": "urgent"}, headers=admin),
                   422, "validation_error")
    assert_problem(await client.patch(f"/v1/contacts/{contact_id}", json={"colour": "red"}, headers=admin),
                   422, "validation_error")
    # the contact is unchanged by the refused edits
    contact = await patch(client, admin, contact_id, {})
    assert (contact["phone"], contact["email"], contact["priority"]) == ("+12125550100", None, "normal")


async def test_an_email_or_phone_of_another_contact_is_a_conflict(client, admin):
    cid = await live_campaign(client, admin, contacts=[ann(), {"name": "Bo Chen", "email": "bo@example.com",
                                                               "phone": "+1 312 555 0101"}])
    people = await enrollments(client, admin, cid)
    ann_id, bo_id = people["Ann"]["contact"]["id"], people["Bo"]["contact"]["id"]
    body = assert_problem(await client.patch(f"/v1/contacts/{ann_id}", json={"email": "BO@example.com"},
                                             headers=admin), 409, "duplicate_contact")
    assert body["errors"][0]["loc"] == ["body", "email"] and body["contact_id"] == bo_id
    body = assert_problem(await client.patch(f"/v1/contacts/{ann_id}", json={"phone": "(312) 555-0101"},
                                             headers=admin), 409, "duplicate_contact")
    assert body["errors"][0]["loc"] == ["body", "phone"]
    # its own values again are no conflict
    assert (await patch(client, admin, bo_id, {"email": "Bo@Example.com", "phone": "312 555 0101"}))["phone"] \
        == "+13125550101"


async def test_contact_edit_needs_an_admin_of_its_workspace(client, admin):
    _, enrollment = await in_missing_email(client, admin)
    contact_id = enrollment["contact"]["id"]
    for role in ("viewer", "approver"):
        assert_problem(await client.patch(f"/v1/contacts/{contact_id}", json={"first_name": "X"},
                                          headers=bearer(await make_key(role))), 403, "forbidden")
    other = bearer(await make_key("admin", workspace="globex"))
    assert_problem(await client.patch(f"/v1/contacts/{contact_id}", json={"first_name": "X"}, headers=other),
                   404, "not_found")
    assert_problem(await client.patch("/v1/contacts/con_nope", json={"first_name": "X"}, headers=admin),
                   404, "not_found")


# --- disable, enable, retry ---------------------------------------------------------------------

async def test_disabled_contact_loses_its_draft_and_is_not_planned_until_enabled(client, admin):
    cid = await live_campaign(client, admin, contacts=[ann(email="ann@example.com")])
    await run_plan(client, admin, cid)
    contact_id = (await enrollments(client, admin, cid))["Ann"]["contact"]["id"]
    out = await act(client, admin, cid, contact_id, "disable")
    assert out["status"] == "disabled" and out["substatus"] is None
    [draft] = await drafts(client, admin, cid)
    assert draft["status"] == "cancelled"
    run = await run_plan(client, admin, cid)
    assert run["total"] == 0, run
    assert_problem(await client.post(f"/v1/campaigns/{cid}/contacts/{contact_id}/disable", headers=admin),
                   409, "invalid_transition")
    out = await act(client, admin, cid, contact_id, "enable")
    assert out["status"] == "not_started"  # nothing was attempted yet: planned with the others
    run = await run_plan(client, admin, cid)
    assert run["planned"] == 1, run
    assert (await enrollments(client, admin, cid))["Ann"]["status"] == "awaiting_approval"
    assert_problem(await client.post(f"/v1/campaigns/{cid}/contacts/{contact_id}/enable", headers=admin),
                   409, "invalid_transition")


async def test_enabling_a_contact_with_attempts_waits_for_its_next_one(client, admin):
    cid = await live_campaign(client, admin, contacts=[ann(email="ann@example.com")])
    contact_id = (await enrollments(client, admin, cid))["Ann"]["contact"]["id"]
    await set_enrollments(Enrollment.campaign_id == cid, status="disabled", attempts=1)
    out = await act(client, admin, cid, contact_id, "enable")
    assert (out["status"], out["attempts"]) == ("waiting", 1)
    await drain_queue()  # planned again at once
    assert (await enrollments(client, admin, cid))["Ann"]["status"] == "awaiting_approval"


async def test_a_contact_being_sent_to_cannot_be_disabled(client, admin):
    cid = await live_campaign(client, admin, contacts=[ann(email="ann@example.com")])
    contact_id = (await enrollments(client, admin, cid))["Ann"]["contact"]["id"]
    await set_enrollments(Enrollment.campaign_id == cid, status="executing")
    assert_problem(await client.post(f"/v1/campaigns/{cid}/contacts/{contact_id}/disable", headers=admin),
                   409, "invalid_transition")


async def test_retry_plans_a_contact_in_error_again(client, admin):
    cid, enrollment = await in_missing_email(client, admin, email="")
    # The data is still missing: the retry plans, and the planner finds the same error again.
    out = await act(client, admin, cid, enrollment["contact"]["id"], "retry")
    assert (out["status"], out["substatus"]) == ("waiting", None)
    await drain_queue()
    after = (await enrollments(client, admin, cid))["Ann"]
    assert (after["status"], after["substatus"]) == ("error", "missing_email")


async def test_retry_of_a_finished_contact_grants_one_more_attempt(client, admin):
    cid = await live_campaign(client, admin, contacts=[ann(email="ann@example.com")])
    contact_id = (await enrollments(client, admin, cid))["Ann"]["contact"]["id"]
    await set_enrollments(Enrollment.campaign_id == cid, status="finished", substatus="max_attempts", attempts=3)
    out = await act(client, admin, cid, contact_id, "retry")
    assert (out["status"], out["attempts"]) == ("waiting", 2)
    await drain_queue()
    assert (await enrollments(client, admin, cid))["Ann"]["status"] == "awaiting_approval"


async def test_retry_never_reopens_an_opt_out_or_a_bounce_or_skips_a_queued_wait(client, admin):
    cid = await live_campaign(client, admin, contacts=[ann(email="ann@example.com")])
    contact_id = (await enrollments(client, admin, cid))["Ann"]["contact"]["id"]
    for status, substatus in (("finished", "opted_out"), ("finished", "bounced"), ("waiting", "identity_limits"),
                              ("replied", None), ("awaiting_approval", None)):
        await set_enrollments(Enrollment.campaign_id == cid, status=status, substatus=substatus)
        assert_problem(await client.post(f"/v1/campaigns/{cid}/contacts/{contact_id}/retry", headers=admin),
                       409, "invalid_transition")
    async with session_scope() as s:
        row = (await s.execute(select(Enrollment).where(Enrollment.campaign_id == cid))).scalar_one()
    assert (row.status, row.substatus) == ("awaiting_approval", None)


async def test_contact_actions_need_an_admin_and_a_known_action(client, admin):
    cid = await live_campaign(client, admin, contacts=[ann(email="ann@example.com")])
    contact_id = (await enrollments(client, admin, cid))["Ann"]["contact"]["id"]
    viewer = bearer(await make_key("viewer"))
    assert_problem(await client.post(f"/v1/campaigns/{cid}/contacts/{contact_id}/disable", headers=viewer),
                   403, "forbidden")
    assert_problem(await client.post(f"/v1/campaigns/{cid}/contacts/{contact_id}/explode", headers=admin),
                   422, "validation_error")
    other = bearer(await make_key("admin", workspace="globex"))
    assert_problem(await client.post(f"/v1/campaigns/{cid}/contacts/{contact_id}/disable", headers=other),
                   404, "not_found")
    assert_problem(await client.post(f"/v1/campaigns/{cid}/contacts/con_nope/disable", headers=admin),
                   404, "not_found")
