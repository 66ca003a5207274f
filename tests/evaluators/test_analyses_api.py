"""A campaign's analyses over HTTP: each type's definition, the shapes refused (naming the field),
edits checked as a whole, switching off, archive and restore, roles, workspaces and activity."""

import pytest

from agent.db import session_scope
from agent.models import Analysis
from evaluators.analyses import active_analyses
from tests.builders import count, key_id
from tests.conftest import bearer, make_key
from tests.flows import act, assert_problem, create, events

BLANK = {"options": None, "scale_min": None, "scale_max": None, "data_type": None}
TYPES = {
    "yes_no": {"type": "yes_no"},
    "single_choice": {"type": "single_choice", "options": ["morning", "afternoon", "evening"]},
    "multiple_choice": {"type": "multiple_choice", "options": ["email", "sms"]},
    "open": {"type": "open"},
    "rating": {"type": "rating", "scale_min": 1, "scale_max": 5},
    "data_point": {"type": "data_point", "data_type": "email"},
}


async def add(client, headers, cid, name="Question", **fields):
    r = await client.post(f"/v1/campaigns/{cid}/analyses", json={"name": name, **fields}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def analyses_of(client, headers, cid, **params):
    r = await client.get(f"/v1/campaigns/{cid}/analyses", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def patch(client, headers, analysis, **fields):
    return await client.patch(f"/v1/analyses/{analysis['id']}", json=fields, headers=headers)


async def post(client, headers, analysis, action):
    return await client.post(f"/v1/analyses/{analysis['id']}/{action}", headers=headers)


@pytest.fixture
async def cid(client, admin):
    return (await create(client, admin))["id"]


# --- each type ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(TYPES))
async def test_each_analysis_type_is_created_and_read_back(client, admin, cid, kind):
    made = await add(client, admin, cid, " Ask ", description="What did they say?", **TYPES[kind])
    assert made["id"].startswith("ana_") and made["campaign_id"] == cid
    assert {k: made[k] for k in ("name", "description", "active", "archived_at")} == {
        "name": "Ask", "description": "What did they say?", "active": True, "archived_at": None}
    assert {k: made[k] for k in ("type", *BLANK)} == {**BLANK, **TYPES[kind]}
    assert await analyses_of(client, admin, cid) == [made]


@pytest.mark.parametrize("data_type", ["text", "number", "date", "email", "phone"])
async def test_every_data_type_is_kept(client, admin, cid, data_type):
    made = await add(client, admin, cid, type="data_point", data_type=data_type)
    assert (await analyses_of(client, admin, cid))[0]["data_type"] == made["data_type"] == data_type


async def test_options_are_stripped_and_kept_in_order(client, admin, cid):
    made = await add(client, admin, cid, type="single_choice", options=["  late ", "early"])
    assert made["options"] == ["late", "early"]


async def test_limits_are_kept(client, admin, cid):
    options = [f"option {i}" + "x" * 180 for i in range(50)]
    made = await add(client, admin, cid, "n" * 200, description="d" * 4000, type="multiple_choice", options=options)
    assert made["options"] == options and len(made["name"]) == 200
    rating = await add(client, admin, cid, "Wide", type="rating", scale_min=-1000, scale_max=1000)
    assert (rating["scale_min"], rating["scale_max"]) == (-1000, 1000)


async def test_description_defaults_to_empty_and_active_to_true(client, admin, cid):
    made = await add(client, admin, cid, type="open")
    assert (made["description"], made["active"]) == ("", True)


async def test_an_analysis_may_start_switched_off(client, admin, cid):
    assert (await add(client, admin, cid, type="open", active=False))["active"] is False


# --- refused shapes -----------------------------------------------------------------


@pytest.mark.parametrize("fields,loc", [
    ({"type": "single_choice"}, ["body", "options"]),
    ({"type": "multiple_choice"}, ["body", "options"]),
    ({"type": "single_choice", "options": ["only"]}, ["body", "options"]),
    ({"type": "single_choice", "options": []}, ["body", "options"]),
    ({"type": "multiple_choice", "options": ["Yes", "No", " yes "]}, ["body", "options", 2]),
    ({"type": "single_choice", "options": ["a", "   ", "c"]}, ["body", "options", 1]),
    ({"type": "single_choice", "options": ["a", "x" * 201]}, ["body", "options", 1]),
    ({"type": "single_choice", "options": [f"o{i}" for i in range(51)]}, ["body", "options"]),
    ({"type": "yes_no", "options": ["yes", "no"]}, ["body", "options"]),
    ({"type": "open", "options": ["a", "b"]}, ["body", "options"]),
    ({"type": "rating"}, ["body", "scale_min"]),
    ({"type": "rating", "scale_min": 1}, ["body", "scale_max"]),
    ({"type": "rating", "scale_max": 5}, ["body", "scale_min"]),
    ({"type": "rating", "scale_min": 5, "scale_max": 5}, ["body", "scale_max"]),
    ({"type": "rating", "scale_min": 5, "scale_max": 1}, ["body", "scale_max"]),
    ({"type": "rating", "scale_min": 1, "scale_max": 1001}, ["body", "scale_max"]),
    ({"type": "rating", "scale_min": -1001, "scale_max": 1}, ["body", "scale_min"]),
    ({"type": "rating", "scale_min": 1, "scale_max": 5, "options": ["a", "b"]}, ["body", "options"]),
    ({"type": "yes_no", "scale_min": 1, "scale_max": 5}, ["body", "scale_min"]),
    ({"type": "data_point"}, ["body", "data_type"]),
    ({"type": "data_point", "data_type": "colour"}, ["body", "data_type"]),
    ({"type": "open", "data_type": "text"}, ["body", "data_type"]),
    ({"type": "essay"}, ["body", "type"]),
    ({}, ["body", "type"]),
    ({"type": "open", "name": ""}, ["body", "name"]),
    ({"type": "open", "description": "x" * 4001}, ["body", "description"]),
    ({"type": "open", "weight": 2}, ["body", "weight"]),
])
async def test_invalid_definitions_are_refused_naming_the_field(client, admin, cid, fields, loc):
    r = await client.post(f"/v1/campaigns/{cid}/analyses", json={"name": "Question", **fields}, headers=admin)
    body = assert_problem(r, 422, "validation_error")
    assert body["errors"][0]["loc"] == loc
    assert await count(Analysis, campaign_id=cid) == 0


async def test_a_refusal_names_every_misfit_field(client, admin, cid):
    r = await client.post(f"/v1/campaigns/{cid}/analyses", json={
        "name": "Q", "type": "yes_no", "options": ["a", "b"], "scale_min": 1, "data_type": "text"}, headers=admin)
    locs = [e["loc"] for e in assert_problem(r, 422, "validation_error")["errors"]]
    assert locs == [["body", "options"], ["body", "scale_min"], ["body", "data_type"]]


# --- editing ------------------------------------------------------------------------


async def test_patch_toggles_active(client, admin, cid):
    made = await add(client, admin, cid, type="open")
    off = await patch(client, admin, made, active=False)
    assert off.status_code == 200 and off.json()["active"] is False, off.text
    assert (await analyses_of(client, admin, cid))[0]["active"] is False
    assert (await patch(client, admin, made, active=True)).json()["active"] is True


async def test_patch_changes_only_the_fields_it_names(client, admin, cid):
    made = await add(client, admin, cid, "Time", description="When?", **TYPES["single_choice"])
    r = await patch(client, admin, made, description="Which part of the day?")
    assert r.status_code == 200, r.text
    assert r.json() == {**made, "description": "Which part of the day?", "updated_at": r.json()["updated_at"]}
    assert await analyses_of(client, admin, cid) == [r.json()]


async def test_changing_type_to_rating_without_a_scale_is_refused(client, admin, cid):
    made = await add(client, admin, cid, **TYPES["yes_no"])
    body = assert_problem(await patch(client, admin, made, type="rating"), 422, "validation_error")
    assert [e["loc"] for e in body["errors"]] == [["body", "scale_min"], ["body", "scale_max"]]
    assert await analyses_of(client, admin, cid) == [made]


async def test_changing_type_with_its_fields_drops_the_old_types_fields(client, admin, cid):
    made = await add(client, admin, cid, **TYPES["single_choice"])
    r = await patch(client, admin, made, type="rating", scale_min=0, scale_max=10)
    assert r.status_code == 200, r.text
    assert {k: r.json()[k] for k in ("type", *BLANK)} == {**BLANK, "type": "rating", "scale_min": 0, "scale_max": 10}
    assert (await analyses_of(client, admin, cid))[0]["options"] is None


async def test_changing_between_choice_types_keeps_the_options(client, admin, cid):
    made = await add(client, admin, cid, **TYPES["single_choice"])
    r = await patch(client, admin, made, type="multiple_choice")
    assert (r.json()["type"], r.json()["options"]) == ("multiple_choice", made["options"])


async def test_changing_type_while_naming_a_misfit_field_is_refused(client, admin, cid):
    made = await add(client, admin, cid, **TYPES["single_choice"])
    body = assert_problem(await patch(client, admin, made, type="yes_no", options=["a", "b"]), 422, "validation_error")
    assert body["errors"][0]["loc"] == ["body", "options"]
    assert await analyses_of(client, admin, cid) == [made]


@pytest.mark.parametrize("start,fields,loc", [
    ("single_choice", {"options": ["a", "A"]}, ["body", "options", 1]),
    ("single_choice", {"options": None}, ["body", "options"]),
    ("yes_no", {"options": ["a", "b"]}, ["body", "options"]),
    ("rating", {"scale_min": 9}, ["body", "scale_max"]),
    ("rating", {"scale_max": None}, ["body", "scale_max"]),
    ("data_point", {"data_type": None}, ["body", "data_type"]),
    ("data_point", {"data_type": "colour"}, ["body", "data_type"]),
    ("open", {"type": "essay"}, ["body", "type"]),
    ("open", {"type": None}, ["body", "type"]),
    ("open", {"active": None}, ["body", "active"]),
    ("open", {"name": "  "}, ["body", "name"]),
])
async def test_a_patch_leaving_a_misfit_definition_is_refused(client, admin, cid, start, fields, loc):
    made = await add(client, admin, cid, **TYPES[start])
    body = assert_problem(await patch(client, admin, made, **fields), 422, "validation_error")
    assert body["errors"][0]["loc"] == loc
    assert await analyses_of(client, admin, cid) == [made]


async def test_analyses_stay_editable_after_go_live(client, admin, cid):
    made = await add(client, admin, cid, **TYPES["open"])
    await act(client, admin, cid, "go-live")
    assert (await patch(client, admin, made, name="Reworded")).status_code == 200
    assert (await add(client, admin, cid, "Second", **TYPES["yes_no"]))["type"] == "yes_no"


async def test_unknown_analysis_is_404(client, admin):
    r = await client.patch("/v1/analyses/ana_missing", json={"active": False}, headers=admin)
    assert_problem(r, 404, "not_found")
    assert_problem(await client.post("/v1/analyses/ana_missing/restore", headers=admin), 404, "not_found")
    assert_problem(await client.get("/v1/campaigns/cmp_missing/analyses", headers=admin), 404, "not_found")


# --- archive, restore and what the judge asks ----------------------------------------


async def test_archived_analyses_leave_the_list_and_are_listed_with_archived_true(client, admin, cid):
    kept = await add(client, admin, cid, "Kept", **TYPES["open"])
    gone = await add(client, admin, cid, "Gone", **TYPES["yes_no"])
    r = await post(client, admin, gone, "archive")
    assert r.status_code == 200 and r.json()["archived_at"] is not None, r.text
    assert await analyses_of(client, admin, cid) == [kept]
    assert await analyses_of(client, admin, cid, archived="true") == [r.json()]


async def test_archiving_twice_answers_the_analysis_unchanged(client, admin, cid):
    made = await add(client, admin, cid, **TYPES["open"])
    first = await post(client, admin, made, "archive")
    again = await post(client, admin, made, "archive")
    assert again.status_code == 200 and again.json() == first.json(), again.text
    assert len((await events(client, admin, cid, {"kind": "analysis.archived"}))["items"]) == 1


async def test_restore_brings_it_back_as_it_was(client, admin, cid):
    made = await add(client, admin, cid, active=False, **TYPES["rating"])
    await post(client, admin, made, "archive")
    r = await post(client, admin, made, "restore")
    assert r.status_code == 200, r.text
    assert r.json() == {**made, "updated_at": r.json()["updated_at"]}
    assert await analyses_of(client, admin, cid) == [r.json()]
    assert await analyses_of(client, admin, cid, archived="true") == []


async def test_restoring_an_unarchived_analysis_changes_nothing(client, admin, cid):
    made = await add(client, admin, cid, **TYPES["open"])
    r = await post(client, admin, made, "restore")
    assert r.status_code == 200 and r.json() == made, r.text
    assert (await events(client, admin, cid, {"kind": "analysis.restored"}))["items"] == []


async def test_an_archived_analysis_cannot_be_edited(client, admin, cid):
    made = await add(client, admin, cid, **TYPES["open"])
    archived = (await post(client, admin, made, "archive")).json()
    assert_problem(await patch(client, admin, made, name="Back"), 409, "analysis_archived")
    assert await analyses_of(client, admin, cid, archived="true") == [archived]


async def test_the_judge_asks_only_switched_on_unarchived_analyses_in_created_order(client, admin, cid):
    first = await add(client, admin, cid, "First", **TYPES["open"])
    off = await add(client, admin, cid, "Off", **TYPES["yes_no"])
    gone = await add(client, admin, cid, "Gone", **TYPES["rating"])
    await add(client, admin, cid, "Last", **TYPES["data_point"])
    await patch(client, admin, off, active=False)
    await post(client, admin, gone, "archive")
    await patch(client, admin, first, name="First, reworded")
    async with session_scope() as s:
        assert [a.name for a in await active_analyses(s, cid)] == ["First, reworded", "Last"]


# --- who may do what ----------------------------------------------------------------


async def _write_attempts(client, headers, cid, analysis):
    return [
        await client.post(f"/v1/campaigns/{cid}/analyses", json={"name": "New", "type": "open"}, headers=headers),
        await patch(client, headers, analysis, active=False),
        await post(client, headers, analysis, "archive"),
        await post(client, headers, analysis, "restore"),
    ]


@pytest.mark.parametrize("role", ["viewer", "approver"])
async def test_non_admins_read_analyses_but_may_not_write_them(client, admin, cid, role):
    made = await add(client, admin, cid, **TYPES["open"])
    reader = bearer(await make_key(role))
    for r in await _write_attempts(client, reader, cid, made):
        assert_problem(r, 403, "forbidden")
    assert await analyses_of(client, reader, cid) == [made]
    assert await analyses_of(client, reader, cid, archived="true") == []


async def test_another_workspace_gets_404_for_analyses(client, admin, cid):
    made = await add(client, admin, cid, **TYPES["open"])
    stranger = bearer(await make_key("admin", workspace="globex"))
    assert_problem(await client.get(f"/v1/campaigns/{cid}/analyses", headers=stranger), 404, "not_found")
    for r in await _write_attempts(client, stranger, cid, made):
        assert_problem(r, 404, "not_found")
    assert await analyses_of(client, admin, cid) == [made]


async def test_an_archived_campaign_refuses_analysis_writes(client, admin, cid):
    made = await add(client, admin, cid, **TYPES["open"])
    await act(client, admin, cid, "archive")
    for r in await _write_attempts(client, admin, cid, made):
        assert_problem(r, 409, "campaign_archived")
    assert await analyses_of(client, admin, cid) == [made]


# --- activity -----------------------------------------------------------------------


async def test_analysis_writes_are_recorded_with_the_actor(client, admin, cid):
    other_admin = bearer(await make_key("admin"))
    made = await add(client, other_admin, cid, "Time", **TYPES["single_choice"])
    await patch(client, other_admin, made, active=False, name="Time of day")
    await post(client, other_admin, made, "archive")
    await post(client, other_admin, made, "restore")
    items = [e for e in (await events(client, admin, cid))["items"] if e["kind"].startswith("analysis.")]
    assert [(e["kind"], e["payload"]) for e in reversed(items)] == [
        ("analysis.created", {"analysis_id": made["id"], "name": "Time", "type": "single_choice"}),
        ("analysis.updated", {"analysis_id": made["id"], "name": "Time of day", "fields": ["active", "name"]}),
        ("analysis.archived", {"analysis_id": made["id"], "name": "Time of day"}),
        ("analysis.restored", {"analysis_id": made["id"], "name": "Time of day"}),
    ]
    actor = await key_id(other_admin)
    assert actor != await key_id(admin)
    assert all(e["actor"] == actor and e["campaign_id"] == cid for e in items)


async def test_a_refused_analysis_write_records_nothing(client, admin, cid):
    made = await add(client, admin, cid, **TYPES["yes_no"])
    before = await events(client, admin, cid)
    assert_problem(await patch(client, admin, made, type="rating"), 422, "validation_error")
    r = await client.post(f"/v1/campaigns/{cid}/analyses", json={"name": "Q", "type": "rating"}, headers=admin)
    assert_problem(r, 422, "validation_error")
    assert await events(client, admin, cid) == before
