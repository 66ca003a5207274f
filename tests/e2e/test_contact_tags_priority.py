"""Tags and priority over HTTP: set on add, CSV import and edit, filtered in the contact list, and
high-priority contacts planned and handed to the executor first."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select, update

from agent.db import session_scope, utcnow
from agent.models import Enrollment, Outreach, PlanningRunItem
from planner import scheduler
from tests.builders import outreaches
from tests.conftest import drain_queue
from tests.flows import assert_problem, enrollments, live_campaign, zone_at_noon


async def new_campaign(client, headers) -> str:
    r = await client.post("/v1/campaigns", json={"name": "Tags", "channels": [{"kind": "email"}]}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def names(client, headers, cid: str, **params) -> list[str]:
    r = await client.get(f"/v1/campaigns/{cid}/contacts", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return sorted(i["contact"]["first_name"] for i in r.json()["items"])


async def test_tags_and_priority_on_add_and_the_list_filters_by_them(client, admin):
    cid = await new_campaign(client, admin)
    r = await client.post(f"/v1/campaigns/{cid}/contacts", headers=admin, json={"contacts": [
        {"name": "Ann Lee", "email": "ann@example.com", "tags": [" vip", "spring ", "VIP"], "priority": "high"},
        {"name": "Bo Chen", "email": "bo@example.com", "tags": ["spring"]},
        {"name": "Cy Diaz", "email": "cy@example.com", "priority": "low"}]})
    assert r.status_code == 200 and r.json()["added"] == 3, r.text
    people = await enrollments(client, admin, cid)
    assert (people["Ann"]["contact"]["tags"], people["Ann"]["contact"]["priority"]) == (["vip", "spring"], "high")
    assert (people["Bo"]["contact"]["tags"], people["Bo"]["contact"]["priority"]) == (["spring"], "normal")
    assert await names(client, admin, cid, tag="spring") == ["Ann", "Bo"]
    assert await names(client, admin, cid, tag="vip") == ["Ann"]
    assert await names(client, admin, cid, tag="vi") == []  # a whole tag, not a substring
    assert await names(client, admin, cid, priority="high,low") == ["Ann", "Cy"]
    assert await names(client, admin, cid, priority="normal", tag="spring") == ["Bo"]
    body = assert_problem(await client.get(f"/v1/campaigns/{cid}/contacts", params={"priority": "urgent"},
                                           headers=admin), 422, "validation_error")
    assert body["errors"][0]["loc"] == ["query", "priority"]
    assert_problem(await client.post(f"/v1/campaigns/{cid}/contacts", headers=admin, json={"contacts": [
        {"name": "Di Eng", "email": "di@example.com", "priority": "urgent"}]}), 422, "validation_error")
    # An edit replaces the tags; the filter follows.
    r = await client.patch(f"/v1/contacts/{people['Bo']['contact']['id']}", json={"tags": ["vip"]}, headers=admin)
    assert r.status_code == 200, r.text
    assert await names(client, admin, cid, tag="vip") == ["Ann", "Bo"]


async def test_a_known_contact_added_again_gains_the_new_tags_and_a_stated_priority(client, admin):
    first, second = await new_campaign(client, admin), await new_campaign(client, admin)
    await client.post(f"/v1/campaigns/{first}/contacts", headers=admin, json={"contacts": [
        {"name": "Ann Lee", "email": "ann@example.com", "tags": ["vip"], "priority": "high"}]})
    r = await client.post(f"/v1/campaigns/{second}/contacts", headers=admin, json={"contacts": [
        {"name": "Ann Lee", "email": "ann@example.com", "tags": ["spring", "Vip"]}]})
    assert r.json()["updated"] == 1, r.text
    ann = (await enrollments(client, admin, second))["Ann"]["contact"]
    assert (ann["tags"], ann["priority"]) == (["vip", "spring"], "high")  # no priority stated: kept
    await client.post(f"/v1/campaigns/{await new_campaign(client, admin)}/contacts", headers=admin,
                      json={"contacts": [{"name": "Ann Lee", "email": "ann@example.com", "priority": "low"}]})
    assert (await enrollments(client, admin, second))["Ann"]["contact"]["priority"] == "low"


async def test_csv_columns_map_to_tags_and_priority(client, admin):
    cid = await new_campaign(client, admin)
    data = ("Name,Email,Tags,Priority\n"
            "Ann Lee,ann@example.com,\"vip, spring\",High\n"
            "Bo Chen,bo@example.com,spring;webinar,\n"
            "Cy Diaz,cy@example.com,,urgent\n").encode()
    r = await client.post(f"/v1/campaigns/{cid}/contacts/import", files={"file": ("c.csv", data, "text/csv")},
                          headers=admin)
    assert r.status_code == 202, r.text
    await drain_queue()
    job = (await client.get(f"/v1/imports/{r.json()['job_id']}", headers=admin)).json()
    assert job["status"] == "succeeded" and job["added"] == 3, job
    assert [(w["row"], w["code"]) for w in job["warnings"]] == [(4, "invalid_priority")]
    people = await enrollments(client, admin, cid)
    assert [(people[n]["contact"]["tags"], people[n]["contact"]["priority"]) for n in ("Ann", "Bo", "Cy")] == [
        (["vip", "spring"], "high"), (["spring", "webinar"], "normal"), ([], "normal")]
    # An explicit mapping names them too.
    cid = await new_campaign(client, admin)
    r = await client.post(f"/v1/campaigns/{cid}/contacts/import", headers=admin,
                          files={"file": ("c.csv", b"Who,Mail,Labels X,P\nDi Eng,di@example.com,a|b,low\n", "text/csv")},
                          data={"mapping": json.dumps({"Who": "name", "Mail": "email", "Labels X": "tags",
                                                       "P": "priority"})})
    assert r.status_code == 202, r.text
    await drain_queue()
    di = (await enrollments(client, admin, cid))["Di"]["contact"]
    assert (di["tags"], di["priority"]) == (["a", "b"], "low")


async def test_high_priority_contacts_are_planned_first(client, admin):
    cid = await live_campaign(client, admin, contacts=[
        {"name": "Lo Wu", "email": "lo@example.com", "priority": "low"},
        {"name": "Ned Ok", "email": "ned@example.com"},
        {"name": "Hi Ma", "email": "hi@example.com", "priority": "high"}])
    r = await client.post(f"/v1/campaigns/{cid}/planning-runs", headers=admin)
    assert r.status_code == 202, r.text
    async with session_scope() as s:
        order = (await s.execute(select(Enrollment.contact_id).join(
            PlanningRunItem, PlanningRunItem.enrollment_id == Enrollment.id)
            .where(PlanningRunItem.run_id == r.json()["id"]).order_by(PlanningRunItem.id))).scalars().all()
    people = await enrollments(client, admin, cid)
    assert order == [people[n]["contact"]["id"] for n in ("Hi", "Ned", "Lo")]
    await drain_queue()


async def test_high_priority_sends_are_handed_over_first(client, admin):
    zone = zone_at_noon()
    cid = await live_campaign(client, admin, manual_review=False, schedule=None, contacts=[
        {"name": "Lo Wu", "email": "lo@example.com", "priority": "low", "timezone": zone},
        {"name": "Hi Ma", "email": "hi@example.com", "priority": "high", "timezone": zone}])
    r = await client.post(f"/v1/campaigns/{cid}/planning-runs", headers=admin)
    assert r.status_code == 202
    await drain_queue()
    people = await enrollments(client, admin, cid)
    async with session_scope() as s:
        now = utcnow()
        # The low-priority send is due earlier; the high one still goes first.
        for name, ago in (("Lo", 10), ("Hi", 1)):
            await s.execute(update(Outreach).where(Outreach.enrollment_id == people[name]["id"])
                            .values(scheduled_at=now - dt.timedelta(minutes=ago)))
    assert await scheduler.dispatch_due(limit=1) == 1
    await drain_queue()
    status = {o.enrollment_id: o.status for o in await outreaches(cid)}
    assert (status[people["Hi"]["id"]], status[people["Lo"]["id"]]) == ("sent", "awaiting_execution")
