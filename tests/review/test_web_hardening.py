"""Issue 16, item 8-9: cross-site sign-out, notices by code, and rate-limited failed sign-ins."""

from __future__ import annotations

import re

import httpx

from tests.conftest import bearer, make_key
from tests.review.test_inbox_web import signed_in


async def test_a_cross_site_signout_without_the_token_keeps_the_browser_signed_in(client):
    csrf = await signed_in(client, await make_key("approver"))
    forged = await client.post("/inbox/signout", data={})
    assert forged.status_code == 303
    assert "overture_session" not in forged.headers.get("set-cookie", "")
    assert (await client.get("/inbox")).status_code == 200  # still signed in
    real = await client.post("/inbox/signout", data={"csrf": csrf})
    assert 'overture_session=""' in real.headers.get("set-cookie", "")
    assert (await client.get("/inbox")).status_code == 303


async def test_notices_come_from_the_table_and_never_echo_the_query(client):
    await signed_in(client, await make_key("approver"))
    page = await client.get("/inbox", params={"notice": "bulk", "n": "<b>pwned</b>", "failed": "2"})
    assert "pwned" not in page.text and "Approved 0; 2 could not be approved." in page.text
    page = await client.get("/inbox", params={"notice": "Your account is closed"})
    assert "account is closed" not in page.text
    page = await client.get("/inbox", params={"notice": "executed", "n": "7"})
    assert "Queued 7 approved outreaches" in page.text


async def test_wrong_api_keys_from_one_address_get_429_with_retry_after(client, admin):
    answers = [(await client.get("/v1/campaigns", headers=bearer(f"ovk_wrong{i}"))) for i in range(40)]
    codes = [r.status_code for r in answers]
    assert codes[:20] == [401] * 20 and 429 in codes, codes
    limited = next(r for r in answers if r.status_code == 429)
    assert int(limited.headers["Retry-After"]) >= 1 and limited.json()["code"] == "rate_limited"
    # A good key is refused while the address is limited too (the guesser cannot tell which key worked).
    assert (await client.get("/v1/campaigns", headers=admin)).status_code == 429


async def test_failed_sign_ins_are_rate_limited(client):
    statuses = []
    for _ in range(25):
        form = await client.get("/inbox/signin")
        token = re.search(r'name="signin_token" value="([^"]+)"', form.text).group(1)
        r = await client.post("/inbox/signin", data={"key": "ovk_guess", "signin_token": token})
        statuses.append(r.status_code)
    assert statuses[:20] == [401] * 20 and statuses[-1] == 429, statuses
    assert "Retry-After" in r.headers


async def test_another_address_is_not_limited_by_a_guesser(app, client, admin):
    for i in range(25):
        await client.get("/v1/campaigns", headers=bearer(f"ovk_wrong{i}"))
    other = httpx.ASGITransport(app=app, client=("203.0.113.9", 4000))
    async with httpx.AsyncClient(transport=other, base_url="http://overture.test") as c:
        assert (await c.get("/v1/campaigns", headers=admin)).status_code == 200
