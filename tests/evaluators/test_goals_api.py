"""A campaign's goals over HTTP: one primary among the active ones, names unique, archive and
restore, roles, workspaces, archived campaigns and the activity log."""

import datetime as dt

import pytest

from agent.db import session_scope
from agent.models import Goal
from evaluators.goals import active_goals
from tests.builders import count, key_id
from tests.conftest import bearer, make_key
from tests.flows import act, assert_problem, create, events


def at(stamp):
    return dt.datetime.fromisoformat(stamp)


async def add_goal(client, headers, cid, name, **fields):
    r = await client.post(f"/v1/campaigns/{cid}/goals", json={"name": name, **fields}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def goals_of(client, headers, cid, **params):
    r = await client.get(f"/v1/campaigns/{cid}/goals", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def primaries(client, headers, cid):
    return [g["name"] for g in await goals_of(client, headers, cid) if g["is_primary"]]


async def patch(client, headers, goal, **fields):
    return await client.patch(f"/v1/goals/{goal['id']}", json=fields, headers=headers)


async def post(client, headers, goal, action):
    return await client.post(f"/v1/goals/{goal['id']}/{action}", headers=headers)


@pytest.fixture
async def cid(client, admin):
    return (await create(client, admin))["id"]


# --- create, read, edit ------------------------------------------------------------


async def test_created_goal_is_read_back_with_its_fields(client, admin, cid):
    goal = await add_goal(client, admin, cid, "  Appointment booked  ", description="A date and time agreed.")
    assert goal["id"].startswith("goal_") and goal["campaign_id"] == cid
    assert (goal["name"], goal["description"], goal["archived_at"]) == ("Appointment booked", "A date and time agreed.",
                                                                        None)
    assert goal["created_at"] and goal["updated_at"]
    assert await goals_of(client, admin, cid) == [goal]


async def test_description_defaults_to_empty(client, admin, cid):
    assert (await add_goal(client, admin, cid, "Booked"))["description"] == ""


async def test_first_goal_is_primary_automatically(client, admin, cid):
    assert (await add_goal(client, admin, cid, "Booked", is_primary=False))["is_primary"] is True


async def test_later_goals_are_secondary_and_unlimited(client, admin, cid):
    await add_goal(client, admin, cid, "Booked")
    later = [await add_goal(client, admin, cid, f"Secondary {i}") for i in range(12)]
    assert not any(g["is_primary"] for g in later)
    assert [g["name"] for g in await goals_of(client, admin, cid)] == ["Booked"] + [f"Secondary {i}" for i in range(12)]


async def test_list_puts_the_primary_first_then_created_order(client, admin, cid):
    await add_goal(client, admin, cid, "A")
    await add_goal(client, admin, cid, "B")
    c = await add_goal(client, admin, cid, "C")
    await patch(client, admin, c, is_primary=True)
    assert [g["name"] for g in await goals_of(client, admin, cid)] == ["C", "A", "B"]


async def test_creating_a_primary_goal_demotes_the_old_one(client, admin, cid):
    old = await add_goal(client, admin, cid, "Old")
    new = await add_goal(client, admin, cid, "New", is_primary=True)
    assert new["is_primary"] is True
    assert await primaries(client, admin, cid) == ["New"]
    assert next(g for g in await goals_of(client, admin, cid) if g["id"] == old["id"])["is_primary"] is False


async def test_making_a_goal_primary_demotes_the_old_one(client, admin, cid):
    await add_goal(client, admin, cid, "Old")
    other = await add_goal(client, admin, cid, "Other")
    r = await patch(client, admin, other, is_primary=True)
    assert r.status_code == 200, r.text
    assert r.json()["is_primary"] is True
    assert await primaries(client, admin, cid) == ["Other"]


async def test_unsetting_the_primary_goal_is_refused(client, admin, cid):
    primary = await add_goal(client, admin, cid, "Booked")
    await add_goal(client, admin, cid, "Other")
    body = assert_problem(await patch(client, admin, primary, is_primary=False, name="Renamed"),
                          409, "primary_goal_required")
    assert body["errors"][0]["loc"] == ["body", "is_primary"]
    assert [(g["name"], g["is_primary"]) for g in await goals_of(client, admin, cid)] == [("Booked", True),
                                                                                        ("Other", False)]


async def test_unsetting_primary_on_a_secondary_goal_keeps_it_secondary(client, admin, cid):
    await add_goal(client, admin, cid, "Booked")
    other = await add_goal(client, admin, cid, "Other")
    r = await patch(client, admin, other, is_primary=False)
    assert r.status_code == 200 and r.json()["is_primary"] is False, r.text
    assert await primaries(client, admin, cid) == ["Booked"]


async def test_patch_changes_only_the_fields_it_names(client, admin, cid):
    goal = await add_goal(client, admin, cid, "Booked", description="Agreed a slot.")
    r = await patch(client, admin, goal, name=" Confirmed ")
    assert r.status_code == 200, r.text
    after = r.json()
    assert (after["name"], after["description"], after["is_primary"]) == ("Confirmed", "Agreed a slot.", True)
    assert after["created_at"] == goal["created_at"] and at(after["updated_at"]) > at(goal["updated_at"])
    r = await patch(client, admin, goal, description="")
    assert (r.json()["name"], r.json()["description"]) == ("Confirmed", "")
    assert await goals_of(client, admin, cid) == [r.json()]


async def test_goals_stay_editable_after_go_live(client, admin, cid):
    goal = await add_goal(client, admin, cid, "Booked")
    await act(client, admin, cid, "go-live")
    assert (await patch(client, admin, goal, name="Rebooked")).status_code == 200
    assert (await add_goal(client, admin, cid, "Second", is_primary=True))["is_primary"] is True
    assert (await post(client, admin, goal, "archive")).status_code == 200
    assert await primaries(client, admin, cid) == ["Second"]


# --- names and fields -------------------------------------------------------------


async def test_two_active_goals_may_not_share_a_name(client, admin, cid):
    await add_goal(client, admin, cid, "Booked")
    r = await client.post(f"/v1/campaigns/{cid}/goals", json={"name": " booked "}, headers=admin)
    assert assert_problem(r, 409, "conflict")["errors"][0]["loc"] == ["body", "name"]
    assert await count(Goal, campaign_id=cid) == 1


async def test_renaming_to_another_goals_name_is_refused(client, admin, cid):
    await add_goal(client, admin, cid, "Booked")
    other = await add_goal(client, admin, cid, "Other")
    body = assert_problem(await patch(client, admin, other, name="BOOKED"), 409, "conflict")
    assert body["errors"][0]["loc"] == ["body", "name"]
    assert [g["name"] for g in await goals_of(client, admin, cid)] == ["Booked", "Other"]


async def test_renaming_a_goal_to_its_own_name_is_allowed(client, admin, cid):
    goal = await add_goal(client, admin, cid, "Booked")
    r = await patch(client, admin, goal, name="booked")
    assert r.status_code == 200 and r.json()["name"] == "booked", r.text


async def test_the_same_name_may_be_used_in_another_campaign(client, admin, cid):
    other = (await create(client, admin, name="Other"))["id"]
    await add_goal(client, admin, cid, "Booked")
    assert (await add_goal(client, admin, other, "Booked"))["is_primary"] is True


async def test_an_archived_goals_name_is_free_but_it_cannot_come_back_beside_its_namesake(client, admin, cid):
    old = await add_goal(client, admin, cid, "Booked")
    assert (await post(client, admin, old, "archive")).status_code == 200
    await add_goal(client, admin, cid, "Booked")
    assert_problem(await post(client, admin, old, "restore"), 409, "conflict")
    assert [g["id"] for g in await goals_of(client, admin, cid, archived="true")] == [old["id"]]


@pytest.mark.parametrize("body,loc", [
    ({}, ["body", "name"]),
    ({"name": ""}, ["body", "name"]),
    ({"name": "   "}, ["body", "name"]),
    ({"name": "x" * 201}, ["body", "name"]),
    ({"name": "ok", "description": "x" * 4001}, ["body", "description"]),
    ({"name": "ok", "is_primary": "sometimes"}, ["body", "is_primary"]),
    ({"name": "ok", "weight": 3}, ["body", "weight"]),
])
async def test_invalid_goal_fields_are_refused_naming_the_field(client, admin, cid, body, loc):
    r = await client.post(f"/v1/campaigns/{cid}/goals", json=body, headers=admin)
    assert assert_problem(r, 422, "validation_error")["errors"][0]["loc"] == loc
    assert await count(Goal, campaign_id=cid) == 0


async def test_names_at_their_limits_are_kept(client, admin, cid):
    goal = await add_goal(client, admin, cid, "x" * 200, description="d" * 4000)
    assert (len(goal["name"]), len(goal["description"])) == (200, 4000)


@pytest.mark.parametrize("field", ["name", "description", "is_primary"])
async def test_patch_may_not_null_a_field(client, admin, cid, field):
    goal = await add_goal(client, admin, cid, "Booked")
    body = assert_problem(await patch(client, admin, goal, **{field: None}), 422, "validation_error")
    assert body["errors"][0]["loc"] == ["body", field]
    assert await goals_of(client, admin, cid) == [goal]


async def test_unknown_goal_is_404(client, admin):
    assert_problem(await client.patch("/v1/goals/goal_missing", json={"name": "x"}, headers=admin), 404, "not_found")
    assert_problem(await client.post("/v1/goals/goal_missing/archive", headers=admin), 404, "not_found")
    assert_problem(await client.get("/v1/campaigns/cmp_missing/goals", headers=admin), 404, "not_found")


# --- archive and restore ----------------------------------------------------------


async def test_archived_goals_leave_the_list_and_are_listed_with_archived_true(client, admin, cid):
    await add_goal(client, admin, cid, "Booked")
    second = await add_goal(client, admin, cid, "Second")
    r = await post(client, admin, second, "archive")
    assert r.status_code == 200, r.text
    assert r.json()["archived_at"] is not None
    assert [g["name"] for g in await goals_of(client, admin, cid)] == ["Booked"]
    assert await goals_of(client, admin, cid, archived="true") == [r.json()]


async def test_archiving_the_primary_promotes_the_oldest_remaining_goal(client, admin, cid):
    await add_goal(client, admin, cid, "Oldest")
    middle = await add_goal(client, admin, cid, "Middle")
    newest = await add_goal(client, admin, cid, "Newest")
    await patch(client, admin, middle, is_primary=True)
    await patch(client, admin, newest, is_primary=True)  # Middle, demoted last, is not the heir
    archived = (await post(client, admin, newest, "archive")).json()
    assert archived["is_primary"] is False
    assert [(g["name"], g["is_primary"]) for g in await goals_of(client, admin, cid)] == [("Oldest", True),
                                                                                        ("Middle", False)]


async def test_archiving_the_last_goal_leaves_none_primary(client, admin, cid):
    goal = await add_goal(client, admin, cid, "Booked")
    assert (await post(client, admin, goal, "archive")).json()["is_primary"] is False
    assert await goals_of(client, admin, cid) == []


async def test_archiving_twice_answers_the_goal_unchanged(client, admin, cid):
    goal = await add_goal(client, admin, cid, "Booked")
    first = await post(client, admin, goal, "archive")
    again = await post(client, admin, goal, "archive")
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    archived = (await events(client, admin, cid, {"kind": "goal.archived"}))["items"]
    assert len(archived) == 1


async def test_restored_goal_becomes_primary_when_no_goal_is(client, admin, cid):
    goal = await add_goal(client, admin, cid, "Booked")
    await post(client, admin, goal, "archive")
    r = await post(client, admin, goal, "restore")
    assert r.status_code == 200, r.text
    assert (r.json()["archived_at"], r.json()["is_primary"]) == (None, True)
    assert await goals_of(client, admin, cid) == [r.json()]


async def test_restored_goal_stays_secondary_beside_a_primary(client, admin, cid):
    first = await add_goal(client, admin, cid, "First")
    await add_goal(client, admin, cid, "Second")
    await post(client, admin, first, "archive")  # Second is promoted
    r = await post(client, admin, first, "restore")
    assert (r.json()["archived_at"], r.json()["is_primary"]) == (None, False)
    assert await primaries(client, admin, cid) == ["Second"]
    assert await goals_of(client, admin, cid, archived="true") == []


async def test_restoring_an_active_goal_changes_nothing(client, admin, cid):
    goal = await add_goal(client, admin, cid, "Booked")
    r = await post(client, admin, goal, "restore")
    assert r.status_code == 200 and r.json() == goal, r.text
    assert (await events(client, admin, cid, {"kind": "goal.restored"}))["items"] == []


async def test_an_archived_goal_cannot_be_edited(client, admin, cid):
    await add_goal(client, admin, cid, "Booked")
    second = await add_goal(client, admin, cid, "Second")
    await post(client, admin, second, "archive")
    assert_problem(await patch(client, admin, second, is_primary=True), 409, "goal_archived")
    assert await primaries(client, admin, cid) == ["Booked"]


async def test_active_goals_gives_the_judge_the_primary_first(client, admin, cid):
    await add_goal(client, admin, cid, "A")
    b = await add_goal(client, admin, cid, "B")
    c = await add_goal(client, admin, cid, "C")
    await add_goal(client, admin, cid, "D")
    await patch(client, admin, c, is_primary=True)
    await post(client, admin, b, "archive")
    async with session_scope() as s:
        assert [g.name for g in await active_goals(s, cid)] == ["C", "A", "D"]


# --- who may do what ----------------------------------------------------------------


async def _write_attempts(client, headers, cid, goal):
    return [
        await client.post(f"/v1/campaigns/{cid}/goals", json={"name": "New"}, headers=headers),
        await patch(client, headers, goal, name="Renamed"),
        await post(client, headers, goal, "archive"),
        await post(client, headers, goal, "restore"),
    ]


@pytest.mark.parametrize("role", ["viewer", "approver"])
async def test_non_admins_read_goals_but_may_not_write_them(client, admin, cid, role):
    goal = await add_goal(client, admin, cid, "Booked")
    reader = bearer(await make_key(role))
    for r in await _write_attempts(client, reader, cid, goal):
        assert_problem(r, 403, "forbidden")
    assert await goals_of(client, reader, cid) == [goal]
    assert await goals_of(client, reader, cid, archived="true") == []


async def test_another_workspace_gets_404_for_goals(client, admin, cid):
    goal = await add_goal(client, admin, cid, "Booked")
    stranger = bearer(await make_key("admin", workspace="globex"))
    assert_problem(await client.get(f"/v1/campaigns/{cid}/goals", headers=stranger), 404, "not_found")
    for r in await _write_attempts(client, stranger, cid, goal):
        assert_problem(r, 404, "not_found")
    assert await goals_of(client, admin, cid) == [goal]


async def test_an_archived_campaign_refuses_goal_writes(client, admin, cid):
    goal = await add_goal(client, admin, cid, "Booked")
    await act(client, admin, cid, "archive")
    for r in await _write_attempts(client, admin, cid, goal):
        assert_problem(r, 409, "campaign_archived")
    assert await goals_of(client, admin, cid) == [goal]


# --- activity -----------------------------------------------------------------------


async def test_goal_writes_are_recorded_with_the_actor(client, admin, cid):
    other_admin = bearer(await make_key("admin"))
    first = await add_goal(client, other_admin, cid, "First")
    second = await add_goal(client, other_admin, cid, "Second", is_primary=True)
    await patch(client, other_admin, first, description="Changed")
    await post(client, other_admin, second, "archive")
    await post(client, other_admin, second, "restore")
    items = [e for e in (await events(client, admin, cid))["items"] if e["kind"].startswith("goal.")]
    assert [(e["kind"], e["payload"]) for e in reversed(items)] == [
        ("goal.created", {"goal_id": first["id"], "name": "First", "is_primary": True, "demoted_goal_id": None}),
        ("goal.created", {"goal_id": second["id"], "name": "Second", "is_primary": True,
                          "demoted_goal_id": first["id"]}),
        ("goal.updated", {"goal_id": first["id"], "name": "First", "fields": ["description"],
                          "demoted_goal_id": None}),
        ("goal.archived", {"goal_id": second["id"], "name": "Second", "promoted_goal_id": first["id"]}),
        ("goal.restored", {"goal_id": second["id"], "name": "Second", "is_primary": False}),
    ]
    actor = await key_id(other_admin)
    assert actor != await key_id(admin)
    assert all(e["actor"] == actor and e["campaign_id"] == cid for e in items)


async def test_a_refused_goal_write_records_nothing(client, admin, cid):
    goal = await add_goal(client, admin, cid, "Booked")
    before = await events(client, admin, cid)
    assert_problem(await patch(client, admin, goal, is_primary=False), 409, "primary_goal_required")
    assert_problem(await client.post(f"/v1/campaigns/{cid}/goals", json={"name": "booked"}, headers=admin),
                   409, "conflict")
    assert await events(client, admin, cid) == before
