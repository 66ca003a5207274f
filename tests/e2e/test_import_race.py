"""An import that races another writer adding the same contact dedups again instead of failing."""

from __future__ import annotations

from sqlalchemy import func, select

from agent import bulk
from agent.db import session_scope, utcnow
from agent.ids import new_id
from agent.models import Contact, Enrollment
from tests.conftest import drain_queue


async def test_import_retries_when_another_writer_adds_the_same_contact(client, admin, monkeypatch):
    cid = (await client.post("/v1/campaigns", json={"name": "Race"}, headers=admin)).json()["id"]
    real_insert = bulk.insert_rows
    raced = []

    async def insert_after_a_rival(session, table, rows):
        if table.name == "contacts" and not raced:
            raced.append(True)
            # A rival transaction commits the same phone after our dedup lookup, before our insert.
            async with session_scope() as rival:
                ws = rows[0]["workspace_id"]
                rival.add(Contact(id=new_id("con"), workspace_id=ws, first_name="Rival", phone="+12125550100",
                                  properties={}, tags=[], created_at=utcnow(), updated_at=utcnow()))
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
