"""Contacts of a campaign over HTTP: batch add and dedup, permanent removal, listing and detail."""

from __future__ import annotations

import pytest

from agent.models import Contact, Enrollment
from tests.builders import count
from tests.conftest import bearer, drain_queue, make_key

ANN = {"first_name": "Ann", "last_name": "Lee", "phone": "(212) 555-0100", "email": "ann@example.com"}


async def new_campaign(client, headers, **fields) -> str:
    r = await client.post("/v1/campaigns", json={"name": "Q1", "channels": [{"kind": "email"}], **fields},
                          headers=headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def add(client, headers, cid: str, *contacts: dict, status: int = 200) -> dict:
    r = await client.post(f"/v1/campaigns/{cid}/contacts", json={"contacts": list(contacts)}, headers=headers)
    assert r.status_code == status, r.text
    return r.json()


async def listed(client, headers, cid: str, **params) -> list[dict]:
    r = await client.get(f"/v1/campaigns/{cid}/contacts", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def codes(result: dict) -> list[tuple[int, str]]:
    return [(e["row"], e["code"]) for e in result["errors"]]


# --- batch add -------------------------------------------------------------------------------

async def test_batch_reports_bad_rows_by_index_and_adds_the_good_ones(client, admin):
    cid = await new_campaign(client, admin)
    result = await add(client, admin, cid,
                       {"name": "Ann Lee", "phone": "212 555 0100"},
                       {"phone": "212 555 0101"},  # no name
                       {"name": "Bob Ray"},  # no phone or email
                       {"name": "Cy Twombly", "phone": "12", "email": "not-an-email"},  # neither usable
                       {"name": "Dee Dee", "email": "dee@example.com"})
    assert (result["added"], result["updated"], result["duplicates"]) == (2, 0, 0)
    assert codes(result) == [(1, "missing_name"), (2, "missing_phone_or_email"), (3, "invalid_phone_or_email")]
    assert result["errors"][0]["loc"] == ["body", "contacts", 1, "name"]
    assert result["errors"][1]["loc"] == ["body", "contacts", 2]
    assert sorted(i["contact"]["name"] for i in await listed(client, admin, cid)) == ["Ann Lee", "Dee Dee"]
    assert await count(Contact) == 2


async def test_phone_formats_of_one_number_dedup_to_one_contact(client, admin):
    cid = await new_campaign(client, admin)
    result = await add(client, admin, cid, {"name": "Ann Lee", "phone": "(212) 555-0100"},
                       {"name": "Ann Lee", "phone": "212.555.0100"}, {"name": "Ann L", "phone": "+1 212 555 0100"})
    assert (result["added"], result["duplicates"], result["errors"]) == (1, 2, [])
    assert [(w["row"], w["code"], w["message"]) for w in result["warnings"]] == [
        (1, "duplicate_row", "same contact as row 0"), (2, "duplicate_row", "same contact as row 0")]
    items = await listed(client, admin, cid)
    assert [i["contact"]["phone"] for i in items] == ["+12125550100"]
    assert await count(Contact) == 1


async def test_emails_differing_only_in_case_dedup(client, admin):
    cid = await new_campaign(client, admin)
    result = await add(client, admin, cid, {"name": "Bo Ek", "email": "bo@example.com"},
                       {"name": "Bo Ek", "email": "BO@Example.COM"}, {"name": "Bo Ek", "email": "Bo@EXAMPLE.com "})
    assert (result["added"], result["duplicates"]) == (1, 2)
    assert await count(Contact) == 1 and await count(Enrollment) == 1


async def test_dedup_matches_phone_first_then_email(client, admin):
    cid = await new_campaign(client, admin)
    result = await add(client, admin, cid, {"name": "Ann Lee", "phone": "212 555 0100", "email": "x@example.com"},
                       {"name": "Ann Lee", "phone": "212 555 0199", "email": "X@example.com"},  # row 0 by e-mail
                       {"name": "Bob Ray", "phone": "415 555 2671", "email": "y@example.com"},
                       {"name": "Bob Ray", "phone": "212-555-0100", "email": "y@example.com"})  # row 0 by phone
    assert (result["added"], result["duplicates"]) == (2, 2)
    assert [w["message"] for w in result["warnings"]] == ["same contact as row 0", "same contact as row 0"]
    # Against the workspace: the phone's contact wins over the e-mail's, and keeps its own e-mail.
    ids = {i["contact"]["email"]: i["contact"]["id"] for i in await listed(client, admin, cid)}
    other = await new_campaign(client, admin)
    result = await add(client, admin, other, {"name": "Ann Lee", "phone": "+1 212-555-0100", "email": "y@example.com"})
    assert (result["added"], result["updated"]) == (0, 1)
    [item] = await listed(client, admin, other)
    assert (item["contact"]["id"], item["contact"]["email"]) == (ids["x@example.com"], "x@example.com")
    assert await count(Contact) == 2


async def test_workspace_contact_added_to_second_campaign_counts_as_updated(client, admin):
    first, second = await new_campaign(client, admin), await new_campaign(client, admin)
    await add(client, admin, first, {"name": "Ann Lee", "phone": "212 555 0100"})
    result = await add(client, admin, second, {"name": "Ann Lee", "phone": "(212) 555-0100", "email": "ann@example.com",
                                               "properties": {"company": "Acme"}})
    assert (result["added"], result["updated"], result["duplicates"]) == (0, 1, 0)
    assert await count(Contact) == 1 and await count(Enrollment) == 2
    [item] = await listed(client, admin, second)
    assert item["contact"]["email"] == "ann@example.com"  # a blank filled
    assert item["contact"]["properties"] == {"company": "Acme"}
    # Adding it to the second campaign again is a duplicate, not a second enrollment.
    again = await add(client, admin, second, {"name": "Ann Lee", "email": "ANN@example.com"})
    assert (again["added"], again["updated"], again["duplicates"]) == (0, 0, 1)
    assert again["warnings"][0]["code"] == "already_enrolled"
    assert await count(Enrollment) == 2


async def test_rows_matching_one_known_contact_by_phone_and_by_email_enroll_it_once(client, admin):
    first, second = await new_campaign(client, admin), await new_campaign(client, admin)
    await add(client, admin, first, ANN)
    result = await add(client, admin, second, {"name": "Ann Lee", "phone": "212 555 0100"},
                       {"name": "Ann Lee", "email": "ANN@example.com"})
    assert (result["added"], result["updated"], result["duplicates"]) == (0, 1, 1)
    assert result["warnings"][0]["message"] == "same contact as row 0"
    assert await count(Enrollment, campaign_id=second) == 1 and await count(Contact) == 1


async def test_time_zone_is_inferred_from_the_phone_unless_given(client, admin):
    cid = await new_campaign(client, admin)
    await add(client, admin, cid, {"name": "New York", "phone": "212 555 0100"},
              {"name": "Given Zone", "phone": "212 555 0101", "timezone": "Europe/Paris"},
              {"name": "Toll Free", "phone": "800 555 0100"},
              {"name": "Bad Zone", "phone": "312 555 0100", "timezone": "Mars/Olympus"})
    zones = {i["contact"]["name"]: i["contact"]["timezone"] for i in await listed(client, admin, cid)}
    assert zones == {"New York": "America/New_York", "Given Zone": "Europe/Paris", "Toll Free": None,
                     "Bad Zone": "America/Chicago"}


@pytest.mark.parametrize("role", ["viewer", "approver"])
async def test_readers_may_not_add_contacts(client, admin, role):
    cid = await new_campaign(client, admin)
    r = await client.post(f"/v1/campaigns/{cid}/contacts", json={"contacts": [ANN]},
                          headers=bearer(await make_key(role)))
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert await count(Contact) == 0


@pytest.mark.parametrize("actions", [["cancel"], ["archive"], ["go-live", "complete"]])
async def test_closed_campaign_refuses_contacts(client, admin, actions):
    cid = await new_campaign(client, admin)
    for action in actions:
        assert (await client.post(f"/v1/campaigns/{cid}/{action}", headers=admin)).status_code == 200
    problem = await add(client, admin, cid, ANN, status=409)
    assert problem["code"] == "campaign_closed"
    assert await count(Contact) == 0 and await count(Enrollment) == 0


@pytest.mark.parametrize("actions", [[], ["go-live"], ["go-live", "pause"]])
async def test_draft_active_and_paused_campaigns_take_contacts(client, admin, actions):
    cid = await new_campaign(client, admin)
    for action in actions:
        assert (await client.post(f"/v1/campaigns/{cid}/{action}", headers=admin)).status_code == 200
    assert (await add(client, admin, cid, ANN))["added"] == 1


async def test_batch_is_limited_to_1000_contacts(client, admin):
    cid = await new_campaign(client, admin)
    rows = [{"name": f"P {i}", "email": f"p{i}@example.com"} for i in range(1001)]
    problem = await add(client, admin, cid, *rows, status=422)
    assert problem["code"] == "validation_error"
    assert await count(Contact) == 0
    assert (await add(client, admin, cid, *rows[:1000]))["added"] == 1000


async def test_overlong_name_is_a_row_error_not_a_crash(client, admin):
    cid = await new_campaign(client, admin)
    result = await add(client, admin, cid, {"name": "X" * 300, "email": "long@example.com"}, ANN)
    assert result["added"] == 1 and codes(result) == [(0, "name_too_long")]
    assert await count(Contact) == 1


async def test_nul_characters_are_refused_not_a_crash(client, admin):
    # The JSON API refuses them (422, the field named; tests/e2e/test_validation.py); a CSV import
    # drops them from its cells instead, since one stray byte must not fail a whole file.
    cid = await new_campaign(client, admin)
    r = await client.post(f"/v1/campaigns/{cid}/contacts", headers=admin, json={"contacts": [
        {"name": "Ann Lee", "phone": "212 555 0100", "properties": {"note": "a\u0000b"}}]})
    assert r.status_code == 422 and r.json()["code"] == "control_character", r.text
    assert r.json()["errors"][0]["loc"] == ["body", "contacts", 0, "properties", "note"]
    assert await listed(client, admin, cid) == []


# --- removal ---------------------------------------------------------------------------------

async def _added_and_removed(client, admin) -> tuple[str, str]:
    cid = await new_campaign(client, admin)
    await add(client, admin, cid, ANN, {"name": "Bob Ray", "phone": "415 555 2671"})
    [ann] = [i for i in await listed(client, admin, cid) if i["contact"]["first_name"] == "Ann"]
    r = await client.delete(f"/v1/campaigns/{cid}/contacts/{ann['contact']['id']}", headers=admin)
    assert r.status_code == 204, r.text
    return cid, ann["contact"]["id"]


async def test_removed_contact_leaves_the_list_and_shows_as_removed(client, admin):
    cid, ann = await _added_and_removed(client, admin)
    assert [i["contact"]["first_name"] for i in await listed(client, admin, cid)] == ["Bob"]
    [removed] = await listed(client, admin, cid, status="removed")
    assert (removed["contact"]["id"], removed["status"]) == (ann, "removed")
    r = await client.get(f"/v1/campaigns/{cid}/contacts/{ann}", headers=admin)
    assert r.json()["status"] == "removed"
    assert "contact.removed" in [e["kind"] for e in r.json()["activity"]]


@pytest.mark.parametrize("again", [
    {"name": "Ann Lee", "phone": "+1 212.555.0100"},
    {"name": "Ann Lee", "email": "ANN@EXAMPLE.COM"},
    {"name": "Ann Lee", "phone": "212 555 0111", "email": "Ann@Example.com"},
])
async def test_removed_contact_cannot_be_added_back_by_batch(client, admin, again):
    cid, ann = await _added_and_removed(client, admin)
    result = await add(client, admin, cid, again)
    assert (result["added"], result["updated"]) == (0, 0)
    assert codes(result) == [(0, "contact_removed")]
    assert result["errors"][0]["loc"] == ["body", "contacts", 0]
    assert await count(Enrollment, campaign_id=cid, contact_id=ann, status="removed") == 1
    assert await count(Enrollment, campaign_id=cid) == 2 and await count(Contact) == 2
    assert len(await listed(client, admin, cid)) == 1


async def test_removed_contact_cannot_be_imported_back_by_csv(client, admin):
    cid, ann = await _added_and_removed(client, admin)
    csv = b"Name,Phone,Email\nCarl Bo,312 555 0100,\nAnn Lee,212-555-0100,\nA Lee,,ANN@example.COM\n"
    r = await client.post(f"/v1/campaigns/{cid}/contacts/import", files={"file": ("a.csv", csv)}, headers=admin)
    assert r.status_code == 202, r.text
    await drain_queue()
    job = (await client.get(f"/v1/imports/{r.json()['job_id']}", headers=admin)).json()
    assert (job["status"], job["added"], job["updated"]) == ("succeeded", 1, 0)
    assert [(e["row"], e["code"]) for e in job["errors"]] == [(3, "contact_removed"), (4, "contact_removed")]
    assert await count(Enrollment, campaign_id=cid, contact_id=ann) == 1
    assert await count(Enrollment, campaign_id=cid, contact_id=ann, status="removed") == 1


async def test_removing_twice_or_an_unknown_contact_is_404(client, admin):
    cid, ann = await _added_and_removed(client, admin)
    r = await client.delete(f"/v1/campaigns/{cid}/contacts/{ann}", headers=admin)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = await client.delete(f"/v1/campaigns/{cid}/contacts/con_nope", headers=admin)
    assert r.status_code == 404
    viewer = bearer(await make_key("viewer"))
    [bob] = await listed(client, admin, cid)
    r = await client.delete(f"/v1/campaigns/{cid}/contacts/{bob['contact']['id']}", headers=viewer)
    assert r.status_code == 403 and len(await listed(client, admin, cid)) == 1


async def test_removed_contact_can_still_join_another_campaign(client, admin):
    _, ann = await _added_and_removed(client, admin)
    other = await new_campaign(client, admin)
    result = await add(client, admin, other, {"name": "Ann Lee", "phone": "212 555 0100"})
    assert (result["added"], result["updated"], result["errors"]) == (0, 1, [])
    [item] = await listed(client, admin, other)
    assert (item["contact"]["id"], item["status"]) == (ann, "not_started")


# --- listing and detail ----------------------------------------------------------------------

async def test_list_filters_by_status_and_text(client, admin):
    cid = await new_campaign(client, admin)
    await add(client, admin, cid, ANN, {"name": "Bob Ray", "phone": "415 555 2671", "email": "bob@corp.test"},
              {"name": "Cara Dune", "email": "cara@example.com"})
    names = lambda items: sorted(i["contact"]["first_name"] for i in items)  # noqa: E731
    assert names(await listed(client, admin, cid, q="ray")) == ["Bob"]
    assert names(await listed(client, admin, cid, q="example.com")) == ["Ann", "Cara"]
    assert names(await listed(client, admin, cid, q="415555")) == ["Bob"]
    assert names(await listed(client, admin, cid, status="not_started")) == ["Ann", "Bob", "Cara"]
    assert await listed(client, admin, cid, status="completed") == []
    # Wildcards in the text are literal: "_" is not "any character", "%" is not "anything".
    await add(client, admin, cid, {"name": "Di Ng", "email": "di_ng@example.com"},
              {"name": "Dx Ng", "email": "dixng@example.com"})
    assert names(await listed(client, admin, cid, q="di_ng")) == ["Di"]
    assert await listed(client, admin, cid, q="%") == []
    r = await client.get(f"/v1/campaigns/{cid}/contacts", params={"status": "not_started,bogus"}, headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["query", "status"]


async def test_list_filter_by_an_unknown_substatus_finds_nothing(client, admin):
    cid = await new_campaign(client, admin)
    await add(client, admin, cid, ANN)
    # The substatus column is typed with its enum; a word outside it is no error, just no match.
    assert await listed(client, admin, cid, substatus="bogus") == []
    assert await listed(client, admin, cid, substatus="scheduled") == []
    assert [i["contact"]["first_name"] for i in await listed(client, admin, cid)] == ["Ann"]


async def test_list_pages_through_every_contact_with_the_cursor(client, admin):
    cid = await new_campaign(client, admin)
    await add(client, admin, cid, *({"name": f"P {i}", "email": f"p{i}@example.com"} for i in range(5)))
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        r = await client.get(f"/v1/campaigns/{cid}/contacts", params=params, headers=admin)
        body = r.json()
        assert len(body["items"]) <= 2
        seen += [i["contact"]["email"] for i in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and sorted(seen) == [f"p{i}@example.com" for i in range(5)]
    r = await client.get(f"/v1/campaigns/{cid}/contacts", params={"cursor": "garbage!"}, headers=admin)
    assert r.status_code == 422


async def test_contact_detail_shows_attempts_and_history(client, admin):
    cid = await new_campaign(client, admin, settings={"max_retry_attempts": 4})
    await add(client, admin, cid, ANN)
    [item] = await listed(client, admin, cid)
    assert item["max_attempts"] == 5
    viewer = bearer(await make_key("viewer"))
    r = await client.get(f"/v1/campaigns/{cid}/contacts/{item['contact']['id']}", headers=viewer)
    assert r.status_code == 200, r.text
    detail = r.json()
    assert (detail["attempts"], detail["max_attempts"], detail["status"]) == (0, 5, "not_started")
    assert detail["next_outreach"] is None and detail["history"] == []
    assert detail["contact"]["phone"] == "+12125550100"
    assert [(e["kind"], e["payload"]) for e in detail["activity"]] == [("contact.enrolled", {"source": "api"})]
    assert (await client.get(f"/v1/campaigns/{cid}/contacts/con_nope", headers=admin)).status_code == 404


async def test_another_workspace_sees_none_of_the_contacts(client, admin):
    cid = await new_campaign(client, admin)
    await add(client, admin, cid, ANN)
    [item] = await listed(client, admin, cid)
    other = bearer(await make_key("admin", workspace="globex"))
    for r in (await client.get(f"/v1/campaigns/{cid}/contacts", headers=other),
              await client.get(f"/v1/campaigns/{cid}/contacts/{item['contact']['id']}", headers=other),
              await client.post(f"/v1/campaigns/{cid}/contacts", json={"contacts": [ANN]}, headers=other),
              await client.delete(f"/v1/campaigns/{cid}/contacts/{item['contact']['id']}", headers=other)):
        assert r.status_code == 404, r.text
    assert await count(Contact) == 1 and len(await listed(client, admin, cid)) == 1


async def test_search_by_a_formatted_phone_finds_the_stored_number(client, admin):
    cid = (await client.post("/v1/campaigns", json={"name": "Search"}, headers=admin)).json()["id"]
    await client.post(f"/v1/campaigns/{cid}/contacts", headers=admin, json={"contacts": [
        {"name": "Ann Lee", "phone": "+1 212 555 0100"}, {"name": "Bo Chen", "phone": "+1 415 555 2671"}]})
    for q in ("(212) 555-0100", "212.555.0100", "5550100"):
        found = (await client.get(f"/v1/campaigns/{cid}/contacts", params={"q": q}, headers=admin)).json()["items"]
        assert [i["contact"]["first_name"] for i in found] == ["Ann"], q
