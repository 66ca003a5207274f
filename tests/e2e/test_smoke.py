from tests.conftest import drain_queue


async def test_smoke(client, admin):
    r = await client.post("/v1/campaigns", json={"name": "Q1", "channels": [{"kind": "email"}]}, headers=admin)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    r = await client.post(f"/v1/campaigns/{cid}/contacts", json={"contacts": [{"name": "Ann Lee", "phone": "(212) 555-0100", "email": "ann@example.com"}]}, headers=admin)
    assert r.status_code == 200, r.text
    print(r.json())
    r = await client.post(f"/v1/campaigns/{cid}/contacts/import", files={"file": ("a.csv", b"name,phone\nBob Ray,415 555 2671\n")}, headers=admin)
    assert r.status_code == 202, r.text
    await drain_queue()
    r = await client.get(f"/v1/imports/{r.json()['job_id']}", headers=admin)
    print(r.json())
    r = await client.get(f"/v1/campaigns/{cid}/contacts", headers=admin)
    print(r.json())
    assert len(r.json()["items"]) == 2
