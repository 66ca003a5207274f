"""An import that races another writer adding the same contact dedups again instead of failing."""

from __future__ import annotations

from sqlalchemy import func, select

from agent import bulk
from agent.db import session_scope, utcnow
from agent.ids import new_id
from agent.contacts import imports
from agent.models import Campaign, Contact, Enrollment
from tests.conftest import drain_queue


async def test_import_retries_when_another_writer_adds_the_same_contact(client, admin, monkeypatch, settings):
    cid = (await client.post("/v1/campaigns", json={"name": "Race"}, headers=admin)).json()["id"]
    raced = []

    async def add_rival(ws: str) -> None:
        async with session_scope() as rival:
            rival.add(Contact(id=new_id("con"), workspace_id=ws, first_name="Rival", phone="+12125550100",
                              properties={}, tags=[], created_at=utcnow(), updated_at=utcnow()))

    if settings.is_sqlite:
        # SQLite: the import's write unit holds the write lock from its first statement, so a rival
        # can only commit before it (after the rows were normalised); the import dedups against it.
        real_normalize = imports.normalize_rows

        async def normalize_then_rival(*args, **kwargs):
            rows = await real_normalize(*args, **kwargs)
            async with session_scope() as s:
                ws = (await s.execute(select(Campaign.workspace_id).where(Campaign.id == cid))).scalar_one()
            raced.append(True)
            await add_rival(ws)
            return rows

        monkeypatch.setattr(imports, "normalize_rows", normalize_then_rival)
    real_insert = bulk.insert_rows

    async def insert_after_a_rival(session, table, rows):
        if table.name == "contacts" and not raced:
            raced.append(True)
            # A rival transaction commits the same phone after our dedup lookup, before our insert.
            await add_rival(rows[0]["workspace_id"])
        await real_insert(session, table, rows)

    monkeypatch.setattr(bulk, "insert_rows", insert_after_a_rival)
    r = await client.post(f"/v1/campaigns/{cid}/contacts/import", headers=admin,
                          files={"file": ("c.csv", b"name,phone\nAnn Lee,212 555 0100\nBo Chen,415 555 2671\n")})
    await drain_queue()
    job = (await client.get(f"/v1/imports/{r.json()['job_id']}", headers=admin)).json()
    assert raced and job["status"] == "succeeded", job
    # The second attempt found the rival's contact and enrolled it instead of creating a duplicate.
    assert (job["added"], job["updated"]) == (1, 1)
    async with session_scope() as s:
        assert (await s.execute(select(func.count()).select_from(Contact)
                                .where(Contact.phone == "+12125550100"))).scalar_one() == 1
        assert (await s.execute(select(func.count()).select_from(Enrollment)
                                .where(Enrollment.campaign_id == cid))).scalar_one() == 2


async def test_an_import_racing_api_adds_of_the_same_contacts_succeeds_without_duplicates(client, admin):
    """Issue 16, item 3: on SQLite 4 of 6 such runs ended ``import_crashed`` before the import took
    the write lock ahead of its dedup."""
    import asyncio

    cid = (await client.post("/v1/campaigns", json={"name": "Race"}, headers=admin)).json()["id"]
    rows = 600
    csv = "name,email\n" + "".join(f"Person {i},p{i}@example.com\n" for i in range(rows))
    r = await client.post(f"/v1/campaigns/{cid}/contacts/import", headers=admin, files={"file": ("c.csv", csv.encode())})
    job_id = r.json()["job_id"]
    api_statuses = []
    for start in range(rows - 1, -1, -20):  # from the end, so the adds land while the import normalises
        batch = [{"name": f"Person {i}", "email": f"p{i}@example.com"} for i in range(start, max(start - 20, -1), -1)]
        added = await client.post(f"/v1/campaigns/{cid}/contacts", headers=admin, json={"contacts": batch})
        api_statuses.append(added.status_code)
        await asyncio.sleep(0)
    await drain_queue()
    job = (await client.get(f"/v1/imports/{job_id}", headers=admin)).json()
    assert job["status"] == "succeeded", job
    assert set(api_statuses) <= {200, 409}, api_statuses
    async with session_scope() as s:
        emails = (await s.execute(select(func.count(Contact.id), func.count(func.distinct(Contact.email)))
                                  .where(Contact.email.like("p%@example.com")))).one()
        assert tuple(emails) == (rows, rows)
        assert (await s.execute(select(func.count()).select_from(Enrollment)
                                .where(Enrollment.campaign_id == cid))).scalar_one() == rows
