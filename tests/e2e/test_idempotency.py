"""Idempotency-Key on mutating POSTs: a repeat returns the first answer and does the work once."""

import datetime as dt

from sqlalchemy import func, select

from agent.db import session_scope
from agent.models import Campaign
from tests.conftest import bearer, make_key


async def _count_campaigns() -> int:
    async with session_scope() as s:
        return (await s.execute(select(func.count(Campaign.id)))).scalar_one()


async def test_repeated_post_with_same_key_creates_once_and_replays_answer(client, admin):
    headers = {**admin, "Idempotency-Key": "create-q1"}
    first = await client.post("/v1/campaigns", json={"name": "Q1"}, headers=headers)
    again = await client.post("/v1/campaigns", json={"name": "Q1"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await _count_campaigns() == 1


async def test_same_key_for_a_different_request_is_refused(client, admin):
    headers = {**admin, "Idempotency-Key": "k1"}
    assert (await client.post("/v1/campaigns", json={"name": "A"}, headers=headers)).status_code == 201
    r = await client.post("/v1/campaigns", json={"name": "B"}, headers=headers)
    assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused"
    assert await _count_campaigns() == 1


async def test_refused_action_is_replayed_not_retried(client, admin):
    cid = (await client.post("/v1/campaigns", json={"name": "A"}, headers=admin)).json()["id"]
    headers = {**admin, "Idempotency-Key": "pause-1"}
    first = await client.post(f"/v1/campaigns/{cid}/pause", headers=headers)
    assert first.status_code == 409
    again = await client.post(f"/v1/campaigns/{cid}/pause", headers=headers)
    assert again.status_code == 409 and again.json() == first.json()
    assert again.headers["content-type"] == "application/problem+json"


async def test_keys_are_scoped_to_the_workspace(client, admin):
    other = bearer(await make_key("admin", workspace="other"))
    a = await client.post("/v1/campaigns", json={"name": "A"}, headers={**admin, "Idempotency-Key": "same"})
    b = await client.post("/v1/campaigns", json={"name": "A"}, headers={**other, "Idempotency-Key": "same"})
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


async def test_unauthenticated_request_with_key_gets_401_and_stores_nothing(client, admin):
    r = await client.post("/v1/campaigns", json={"name": "A"},
                          headers={"Authorization": "Bearer ovk_nope", "Idempotency-Key": "x"})
    assert r.status_code == 401
    ok = await client.post("/v1/campaigns", json={"name": "A"}, headers={**admin, "Idempotency-Key": "x"})
    assert ok.status_code == 201


async def test_a_viewer_replaying_an_admins_key_gets_its_own_403_and_the_admin_a_real_answer(client, admin):
    viewer = bearer(await make_key("viewer"))
    first = await client.post("/v1/campaigns", json={"name": "A"}, headers={**admin, "Idempotency-Key": "k"})
    replay = await client.post("/v1/campaigns", json={"name": "A"}, headers={**viewer, "Idempotency-Key": "k"})
    assert first.status_code == 201 and replay.status_code == 403
    assert "idempotent-replayed" not in replay.headers
    refused = await client.post("/v1/campaigns", json={"name": "B"}, headers={**viewer, "Idempotency-Key": "v"})
    real = await client.post("/v1/campaigns", json={"name": "B"}, headers={**admin, "Idempotency-Key": "v"})
    assert refused.status_code == 403 and real.status_code == 201
    assert await _count_campaigns() == 2


async def test_a_key_whose_request_never_finished_frees_after_the_pending_window(client, admin, settings):
    from sqlalchemy import update

    from agent.db import utcnow
    from agent.models import IdempotencyRecord

    headers = {**admin, "Idempotency-Key": "died"}
    assert (await client.post("/v1/campaigns", json={"name": "A"}, headers=headers)).status_code == 201
    # As if the server died mid-request: the record has no answer yet.
    async with session_scope() as s:
        await s.execute(update(IdempotencyRecord).values(status_code=None, body=None))
    again = await client.post("/v1/campaigns", json={"name": "A"}, headers=headers)
    assert again.status_code == 409 and again.json()["code"] == "idempotency_in_progress"
    async with session_scope() as s:
        await s.execute(update(IdempotencyRecord).values(
            created_at=utcnow() - dt.timedelta(seconds=settings.idempotency_pending_s + 1)))
    retried = await client.post("/v1/campaigns", json={"name": "A"}, headers=headers)
    assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers
    replay = await client.post("/v1/campaigns", json={"name": "A"}, headers=headers)
    assert replay.headers["idempotent-replayed"] == "true" and replay.json() == retried.json()


async def test_an_answer_lost_after_the_commit_is_replayed_not_redone(client, admin, settings, monkeypatch):
    """The server dies after the route's transaction commits and before the answer is stored
    afterwards (here: that later write never happens). The answer committed with the effect, so
    a repeat after the pending window replays it instead of creating the campaign again."""
    from sqlalchemy import update

    from agent.db import utcnow
    from agent.models import IdempotencyRecord
    from api import idempotency

    async def died(*_args):
        return None

    monkeypatch.setattr(idempotency, "_store_answer", died)
    headers = {**admin, "Idempotency-Key": "died-after-commit"}
    first = await client.post("/v1/campaigns", json={"name": "A"}, headers=headers)
    assert first.status_code == 201
    async with session_scope() as s:
        await s.execute(update(IdempotencyRecord).values(
            created_at=utcnow() - dt.timedelta(seconds=settings.idempotency_pending_s + 1)))
    again = await client.post("/v1/campaigns", json={"name": "A"}, headers=headers)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["content-type"] == first.headers["content-type"]
    assert await _count_campaigns() == 1


async def test_a_refusal_is_stored_after_the_response_and_rolls_back(client, admin, monkeypatch):
    """An error answer comes from the exception handlers after the route's transaction rolled
    back; it is stored by the later write, and nothing of the request committed."""
    headers = {**admin, "Idempotency-Key": "bad-body"}
    first = await client.post("/v1/campaigns", json={"name": ""}, headers=headers)
    again = await client.post("/v1/campaigns", json={"name": ""}, headers=headers)
    assert first.status_code == again.status_code == 422
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    assert await _count_campaigns() == 0
