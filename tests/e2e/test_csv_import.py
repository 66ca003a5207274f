"""CSV imports over HTTP: encodings, delimiters, mapping, row problems, file-level refusals and the job."""

from __future__ import annotations

import datetime as dt
import json

import anyio
import pytest
from sqlalchemy import func, select, update

from agent.contacts import imports
from agent.contacts.csvfile import MAX_BYTES, MAX_ROWS
from agent.db import session_scope, utcnow
from agent.models import Contact, Enrollment, ImportJob
from tests.conftest import bearer, drain_queue, make_key


async def new_campaign(client, headers) -> str:
    r = await client.post("/v1/campaigns", json={"name": "Import", "channels": [{"kind": "sms"}]}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def upload(client, headers, cid: str, data: bytes, mapping: dict | None = None, status: int = 202) -> dict:
    form = {"mapping": json.dumps(mapping)} if mapping is not None else None
    r = await client.post(f"/v1/campaigns/{cid}/contacts/import", files={"file": ("contacts.csv", data, "text/csv")},
                          data=form, headers=headers)
    assert r.status_code == status, r.text
    return r.json()


async def imported(client, headers, cid: str, data: bytes, mapping: dict | None = None) -> dict:
    """Upload, let the worker run, and answer the finished job (which must have succeeded)."""
    queued = await upload(client, headers, cid, data, mapping)
    assert queued["status"] == "queued" and queued["job_id"].startswith("imp_")
    await drain_queue()
    r = await client.get(f"/v1/imports/{queued['job_id']}", headers=headers)
    job = r.json()
    assert job["status"] == "succeeded", job
    assert job["processed"] == job["total"] == queued["total"]
    return job


async def contacts(client, headers, cid: str) -> dict[str, dict]:
    r = await client.get(f"/v1/campaigns/{cid}/contacts", params={"limit": 500}, headers=headers)
    return {i["contact"]["name"]: i["contact"] for i in r.json()["items"]}


async def counts() -> tuple[int, int, int]:
    async with session_scope() as s:
        return tuple([(await s.execute(select(func.count()).select_from(m))).scalar_one()
                      for m in (ImportJob, Contact, Enrollment)])


async def refused(client, headers, cid: str, data: bytes, status: int, code: str, mapping: dict | None = None) -> dict:
    problem = await upload(client, headers, cid, data, mapping, status=status)
    assert problem["code"] == code, problem
    await drain_queue()
    assert await counts() == (0, 0, 0)  # no job row, no contacts, no enrollments
    return problem


def rows(items: list[dict]) -> list[tuple[int, str]]:
    return [(e["row"], e["code"]) for e in items]


# --- what gets imported ----------------------------------------------------------------------

async def test_utf8_bom_does_not_hide_the_first_header(client, admin):
    cid = await new_campaign(client, admin)
    data = "Email,Name\nann@example.com,Ann Lee\nzoe@example.com,Zoë Ödegaard\n".encode("utf-8-sig")
    job = await imported(client, admin, cid, data)
    assert (job["total"], job["added"], job["errors"]) == (2, 2, [])
    people = await contacts(client, admin, cid)
    assert people["Zoë Ödegaard"]["email"] == "zoe@example.com"
    assert people["Ann Lee"]["properties"] == {}  # no "\ufeffemail" property


async def test_mixed_phone_formats_and_repeats_are_deduplicated(client, admin):
    cid = await new_campaign(client, admin)
    data = (b"Name,Phone,Email\n"
            b"Ann Lee,(212) 555-0100,ann@example.com\n"
            b"Ann Lee,212.555.0100,\n"
            b"Bob Ray,+1 415 555 2671,bob@example.com\n"
            b"Bobby Ray,,BOB@EXAMPLE.COM\n"
            b"Cy Twombly,4155550123,\n")
    job = await imported(client, admin, cid, data)
    assert (job["added"], job["duplicates"], job["errors"]) == (3, 2, [])
    assert [(w["row"], w["code"], w["message"]) for w in job["warnings"]] == [
        (3, "duplicate_row", "same contact as row 2"), (5, "duplicate_row", "same contact as row 4")]
    people = await contacts(client, admin, cid)
    assert {n: c["phone"] for n, c in people.items()} == {
        "Ann Lee": "+12125550100", "Bob Ray": "+14155552671", "Cy Twombly": "+14155550123"}
    assert await counts() == (1, 3, 3)


async def test_bad_rows_are_reported_with_their_csv_row_number(client, admin):
    cid = await new_campaign(client, admin)
    data = (b"Name,Phone,Email\n"
            b"Ann Lee,(212) 555-0100,ann@example.com\n"
            b",212 555 0101,nobody@example.com\n"
            b"Bob Ray,,\n"
            b"Cy Twombly,12,not-an-email\n"
            b"\n"
            b"Dee Dee,,dee@example.com\n"
            b"Eve Adams,999,eve@example.com\n")
    job = await imported(client, admin, cid, data)
    assert rows(job["errors"]) == [(3, "missing_name"), (4, "missing_phone_or_email"), (5, "invalid_phone_or_email")]
    assert job["errors"][0]["loc"] == ["name"]
    assert rows(job["warnings"]) == [(8, "invalid_phone")]  # kept, the phone dropped
    assert (job["total"], job["added"]) == (6, 3)
    people = await contacts(client, admin, cid)
    assert sorted(people) == ["Ann Lee", "Dee Dee", "Eve Adams"]
    assert people["Eve Adams"]["phone"] is None


async def test_semicolon_latin1_file_is_imported(client, admin):
    cid = await new_campaign(client, admin)
    text = ("First Name;Last Name;Phone;City;Budget\r\n"
            "José;Müller;+1 212 555 0100;Zürich;5 000 €\r\n"
            "Renée;Straße;312-555-0100;Köln;\r\n")
    job = await imported(client, admin, cid, text.encode("cp1252"))
    assert (job["added"], job["errors"]) == (2, [])
    people = await contacts(client, admin, cid)
    assert people["José Müller"]["properties"] == {"city": "Zürich", "budget": "5 000 €"}
    assert people["José Müller"]["phone"] == "+12125550100"
    assert people["Renée Straße"]["timezone"] == "America/Chicago"


async def test_tab_delimited_file_is_imported(client, admin):
    cid = await new_campaign(client, admin)
    data = b"Full Name\tMobile\tE-mail\tCompany, Inc\nAnn Lee\t212 555 0100\tann@example.com\tAcme, Ltd\n"
    job = await imported(client, admin, cid, data)
    assert job["added"] == 1
    ann = (await contacts(client, admin, cid))["Ann Lee"]
    assert (ann["phone"], ann["email"], ann["properties"]) == ("+12125550100", "ann@example.com",
                                                               {"company_inc": "Acme, Ltd"})


async def test_quoted_newline_stays_inside_the_notes_property(client, admin):
    cid = await new_campaign(client, admin)
    data = (b'name,email,notes\n'
            b'Ann Lee,ann@example.com,"line one\nline two, with a comma"\n'
            b'Bob Ray,,"no contact point"\n')
    job = await imported(client, admin, cid, data)
    assert job["total"] == 2 and rows(job["errors"]) == [(3, "missing_phone_or_email")]
    assert (await contacts(client, admin, cid))["Ann Lee"]["properties"] == {"notes": "line one\nline two, with a comma"}


async def test_custom_columns_land_in_contact_properties(client, admin):
    cid = await new_campaign(client, admin)
    data = b"First,Last,Email,Company,Deal Size ($),Time Zone,\nAnn,Lee,ann@example.com,Acme,12000,Europe/Paris,\n"
    await imported(client, admin, cid, data)
    ann = (await contacts(client, admin, cid))["Ann Lee"]
    assert ann["properties"] == {"company": "Acme", "deal_size": "12000"}
    assert ann["timezone"] == "Europe/Paris"


async def test_explicit_mapping_names_the_columns(client, admin):
    cid = await new_campaign(client, admin)
    data = "Cliente,Mobile,Ciudad,Tel\nJosé Pérez,212 555 0100,Madrid,999\n".encode()
    await refused(client, admin, cid, data, 422, "csv_unmappable_columns")  # no name column without a mapping
    mapping = {"Mobile": "phone", "Cliente": "name", "Ciudad": "properties.city"}
    job = await imported(client, admin, cid, data, mapping)
    assert (job["added"], job["errors"]) == (1, [])
    jose = (await contacts(client, admin, cid))["José Pérez"]
    assert (jose["first_name"], jose["last_name"]) == ("José", "Pérez")
    assert (jose["phone"], jose["properties"]) == ("+12125550100", {"city": "Madrid", "tel": "999"})


async def test_blank_cells_do_not_erase_what_a_known_contact_has(client, admin):
    first, second = await new_campaign(client, admin), await new_campaign(client, admin)
    r = await client.post(f"/v1/campaigns/{first}/contacts", headers=admin, json={"contacts": [
        {"name": "Ann Lee", "phone": "212 555 0100", "properties": {"company": "Acme", "city": "NYC"}}]})
    assert r.json()["added"] == 1
    job = await imported(client, admin, second, b"Name,Phone,Email,Company,City,Title\n"
                                                b"Ann Lee,212-555-0100,ann@example.com,,Boston,CEO\n")
    assert (job["added"], job["updated"]) == (0, 1)
    ann = (await contacts(client, admin, first))["Ann Lee"]
    assert ann["email"] == "ann@example.com"
    assert ann["properties"] == {"company": "Acme", "city": "Boston", "title": "CEO"}


async def test_nul_bytes_in_cells_are_dropped(client, admin):
    cid = await new_campaign(client, admin)
    job = await imported(client, admin, cid, b"Name,Phone,Company\nAnn\x00 Lee,212 555 0100,Ac\x00me\n")
    assert (job["added"], job["errors"]) == (1, [])
    assert (await contacts(client, admin, cid))["Ann Lee"]["properties"] == {"company": "Acme"}


# --- refused as a whole: nothing is imported -------------------------------------------------

async def test_mapping_naming_a_missing_column_is_refused(client, admin):
    cid = await new_campaign(client, admin)
    data = b"Name,Mobile\nAnn Lee,212 555 0100\n"
    problem = await refused(client, admin, cid, data, 422, "csv_unmappable_columns", {"Movil": "phone"})
    assert problem["errors"][0]["loc"] == ["mapping", "Movil"]
    problem = await refused(client, admin, cid, data, 422, "csv_unmappable_columns", {"Mobile": "fax"})
    assert problem["errors"][0]["loc"] == ["mapping", "Mobile"]
    r = await client.post(f"/v1/campaigns/{cid}/contacts/import", files={"file": ("a.csv", data)},
                          data={"mapping": "[1, 2]"}, headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "mapping"]
    assert await counts() == (0, 0, 0)


@pytest.mark.parametrize("data", [b"Ann Lee,ann@example.com,212 555 0100\nBob Ray,bob@example.com,415 555 2671\n",
                                  b"Ann Lee,(212) 555-0100\n", b"", b"\n\n"])
async def test_file_without_a_header_row_is_refused(client, admin, data):
    cid = await new_campaign(client, admin)
    await refused(client, admin, cid, data, 422, "csv_no_header")


def _people(n: int) -> bytes:
    return ("Name,Phone\n" + "".join(f"Person {i},212-555-{i:04d}\n" for i in range(n))).encode()


async def test_more_than_10000_rows_is_refused(client, admin):
    cid = await new_campaign(client, admin)
    problem = await refused(client, admin, cid, _people(MAX_ROWS + 1), 422, "csv_too_many_rows")
    assert "10001" in problem["detail"]


@pytest.mark.slow
async def test_exactly_10000_rows_are_imported(client, admin):
    cid = await new_campaign(client, admin)
    job = await imported(client, admin, cid, _people(MAX_ROWS))
    assert (job["total"], job["added"], job["errors"]) == (10_000, 10_000, [])
    assert await counts() == (1, 10_000, 10_000)


def _sized(size: int) -> bytes:
    """A valid file of exactly ``size`` bytes (cells stay under the csv module's 128 KiB field limit)."""
    out, i = [b"Name,Email,Notes\n"], 0
    total = len(out[0])
    while total < size - 2000:
        out.append(b"P %d,p%d@example.com,%s\n" % (i, i, b"x" * 600))
        total, i = total + len(out[-1]), i + 1
    head = b"Last Row,last@example.com,"
    out.append(head + b"x" * (size - total - len(head) - 1) + b"\n")
    data = b"".join(out)
    assert len(data) == size
    return data


async def test_file_over_5_mb_is_refused(client, admin):
    cid = await new_campaign(client, admin)
    problem = await refused(client, admin, cid, _sized(MAX_BYTES + 1), 413, "csv_too_large")
    assert problem["status"] == 413
    job = await imported(client, admin, cid, _sized(MAX_BYTES))  # the limit itself is fine
    assert job["added"] == job["total"] > 8000


@pytest.mark.parametrize("actions", [["cancel"], ["archive"]])
async def test_closed_campaign_refuses_an_upload(client, admin, actions):
    cid = await new_campaign(client, admin)
    for action in actions:
        assert (await client.post(f"/v1/campaigns/{cid}/{action}", headers=admin)).status_code == 200
    await refused(client, admin, cid, b"Name,Phone\nAnn Lee,212 555 0100\n", 409, "campaign_closed")


async def test_only_admins_may_import(client, admin):
    cid = await new_campaign(client, admin)
    for role in ("viewer", "approver"):
        await refused(client, bearer(await make_key(role)), cid, b"Name,Phone\nAnn,212 555 0100\n", 403, "forbidden")


# --- the job ---------------------------------------------------------------------------------

async def test_import_of_another_workspace_is_not_found(client, admin):
    cid = await new_campaign(client, admin)
    queued = await upload(client, admin, cid, b"Name,Phone\nAnn Lee,212 555 0100\n")
    await drain_queue()
    other = bearer(await make_key("admin", workspace="globex"))
    r = await client.get(f"/v1/imports/{queued['job_id']}", headers=other)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    await upload(client, other, cid, b"Name,Phone\nBob Ray,415 555 2671\n", status=404)  # nor its campaign
    assert await counts() == (1, 1, 1)
    r = await client.get(f"/v1/imports/{queued['job_id']}", headers=bearer(await make_key("viewer")))
    assert r.status_code == 200 and r.json()["added"] == 1


@pytest.fixture
def held(monkeypatch) -> list[str]:
    """Import jobs queued by an upload but not handed to the worker (as if it had not run yet)."""
    jobs: list[str] = []
    monkeypatch.setattr(imports, "enqueue", lambda session, name, job_id: jobs.append(job_id))
    return jobs


async def test_campaign_cancelled_before_the_worker_runs_fails_the_job(client, admin, held):
    cid = await new_campaign(client, admin)
    queued = await upload(client, admin, cid, b"Name,Phone\nAnn Lee,212 555 0100\nBob Ray,415 555 2671\n")
    assert held == [queued["job_id"]]
    assert (await client.post(f"/v1/campaigns/{cid}/cancel", headers=admin)).status_code == 200
    await imports.run_job(queued["job_id"])
    job = (await client.get(f"/v1/imports/{queued['job_id']}", headers=admin)).json()
    assert (job["status"], job["error_code"], job["added"]) == ("failed", "campaign_closed", 0)
    assert job["finished_at"] is not None
    assert await counts() == (1, 0, 0)


async def test_running_a_job_twice_imports_once(client, admin, held):
    cid = await new_campaign(client, admin)
    queued = await upload(client, admin, cid, b"Name,Phone\nAnn Lee,212 555 0100\nBob Ray,415 555 2671\n")
    job_id = queued["job_id"]
    assert (await client.get(f"/v1/imports/{job_id}", headers=admin)).json()["status"] == "queued"
    async with anyio.create_task_group() as tg:  # two workers racing for the same message
        tg.start_soon(imports.run_job, job_id)
        tg.start_soon(imports.run_job, job_id)
    await imports.run_job(job_id)  # a redelivery after it finished
    job = (await client.get(f"/v1/imports/{job_id}", headers=admin)).json()
    assert (job["status"], job["added"], job["processed"]) == ("succeeded", 2, 2)
    assert await counts() == (1, 2, 2)
    async with session_scope() as s:
        assert (await s.get(ImportJob, job_id)).content is None  # the upload is dropped once done


async def test_a_stale_running_job_is_taken_over_and_a_fresh_one_is_not(client, admin, held):
    cid = await new_campaign(client, admin)
    stale = (await upload(client, admin, cid, b"Name,Phone\nAnn Lee,212 555 0100\n"))["job_id"]
    fresh = (await upload(client, admin, cid, b"Name,Phone\nBob Ray,415 555 2671\n"))["job_id"]
    now = utcnow()
    async with session_scope() as s:
        for job_id, until in ((stale, now - dt.timedelta(minutes=1)), (fresh, now + imports.lease())):
            await s.execute(update(ImportJob).where(ImportJob.id == job_id).values(status="running", lease_until=until))
    await imports.run_job(stale)  # its worker died: the lease ran out
    await imports.run_job(fresh)  # its worker is still on it
    assert (await client.get(f"/v1/imports/{stale}", headers=admin)).json()["status"] == "succeeded"
    assert (await client.get(f"/v1/imports/{fresh}", headers=admin)).json()["status"] == "running"
    assert await counts() == (2, 1, 1)

async def test_import_that_crashes_ends_failed_not_running(client, admin, monkeypatch):
    async def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(imports, "enroll", broken)
    cid = await new_campaign(client, admin)
    queued = await upload(client, admin, cid, b"Name,Phone\nAnn Lee,212 555 0100\n")
    await drain_queue()
    job = (await client.get(f"/v1/imports/{queued['job_id']}", headers=admin)).json()
    assert (job["status"], job["error_code"], job["added"]) == ("failed", "import_crashed", 0)
    assert "database went away" not in json.dumps(job)  # no internals leak to the caller
    assert await counts() == (1, 0, 0)


async def test_an_import_is_one_batch_event_not_one_per_contact(client, admin):
    cid = await new_campaign(client, admin)
    rows = "".join(f"Person {i},+1 212 555 {i:04d}\r\n" for i in range(120))
    job = await imported(client, admin, cid, ("Name,Phone\r\n" + rows).encode())
    assert job["added"] == 120
    r = await client.get(f"/v1/campaigns/{cid}/activity", params={"limit": 200}, headers=admin)
    assert r.status_code == 200, r.text
    events = r.json()["items"]
    kinds = [e["kind"] for e in events]
    assert "contact.enrolled" not in kinds and kinds.count("contacts.added") == 1, kinds
    [added] = [e for e in events if e["kind"] == "contacts.added"]
    assert added["payload"] == {"source": "csv", "added": 120, "updated": 0, "duplicates": 0, "errors": 0,
                                "job_id": job["id"]}
    assert [e["payload"]["job_id"] for e in events if e["kind"] == "import.succeeded"] == [job["id"]]
    # Contacts added through the API still get their event each.
    r = await client.post(f"/v1/campaigns/{cid}/contacts", json={"contacts": [{"name": "Ann Lee", "phone": "+1 312 555 0100"}]},
                          headers=admin)
    assert r.status_code == 200, r.text
    r = await client.get(f"/v1/campaigns/{cid}/activity", params={"kind": "contact.enrolled"}, headers=admin)
    assert [e["payload"] for e in r.json()["items"]] == [{"source": "api"}]
