"""The campaign page's Exports tab over HTTP: starting an export from the form (CSRF, the API's
roles: admins and approvers start, every role downloads), the history with its download link,
the download streamed through the cookie session with the API's bytes, and refusals as pages
(another workspace's export is a 404, one not finished a 409), never a 500."""

from __future__ import annotations

import csv
import io
import re

import httpx

from agent.db import session_scope
from agent.ids import new_id
from agent.models import Campaign, ExportJob
from agent.states import JobStatus, Role
from tests.conftest import bearer, drain_queue, make_key
from tests.flows import live_campaign, people
from tests.review.test_inbox_web import signed_in


def _download_links(html: str, cid: str) -> list[str]:
    return re.findall(rf'href="(/inbox/campaigns/{cid}/exports/[^"/]+/download)"', html)


async def _history(client, api, cid: str) -> list[dict]:
    r = await client.get(f"/v1/campaigns/{cid}/exports", headers=api)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_an_admin_starts_a_csv_export_and_downloads_the_api_bytes(client):
    key = await make_key(Role.admin)
    api, csrf = bearer(key), await signed_in(client, key)
    cid = await live_campaign(client, api, contacts=people(2))
    base = f"/inbox/campaigns/{cid}"
    empty = await client.get(base, params={"tab": "exports"})
    assert empty.status_code == 200 and 'id="tab-exports"' in empty.text and "No exports yet" in empty.text
    assert 'id="export-form"' in empty.text and 'id="start-export"' in empty.text and "data-poll" not in empty.text
    r = await client.post(f"{base}/exports", data={"csrf": csrf, "format": "csv"})
    assert r.status_code == 303 and r.headers["location"] == f"{base}?tab=exports&notice=export", r.text
    [job] = await _history(client, api, cid)
    assert job["format"] == "csv"
    await drain_queue()
    page = await client.get(r.headers["location"])
    assert "Export queued" in page.text and "data-poll" not in page.text  # nothing left running: no polling
    assert 'data-status="succeeded"' in page.text
    [link] = _download_links(page.text, cid)
    web = await client.get(link)
    assert web.status_code == 200, web.text
    direct = await client.get(f"/v1/exports/{job['id']}/download", headers=api)
    assert web.content == direct.content and web.headers["content-type"] == direct.headers["content-type"]
    assert web.headers["content-disposition"] == direct.headers["content-disposition"]
    assert web.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(web.content.decode("utf-8-sig"))))
    assert sorted((r["first_name"], r["email"]) for r in rows) == [("Ann", "ann@example.com"), ("Bo", "bo@example.com")]
    # A forged form and an unknown format are refused on the tab, nothing queued.
    stale = await client.post(f"{base}/exports", data={"csrf": "forged", "format": "csv"})
    assert stale.status_code == 403 and "CSRF" in stale.text
    odd = await client.post(f"{base}/exports", data={"csrf": csrf, "format": "pdf"})
    assert odd.status_code == 422 and "choose csv" in odd.text
    assert len(await _history(client, api, cid)) == 1


async def test_roles_follow_the_api_an_approver_starts_a_viewer_only_downloads(client):
    owner = bearer(await make_key(Role.admin))
    cid = await live_campaign(client, owner, contacts=people(1))
    base = f"/inbox/campaigns/{cid}"
    async with httpx.AsyncClient(transport=client._transport, base_url="http://overture.test") as approver:
        csrf = await signed_in(approver, await make_key(Role.approver))
        r = await approver.post(f"{base}/exports", data={"csrf": csrf, "format": "json"})
        assert r.status_code == 303, r.text
    await drain_queue()
    viewer_csrf = await signed_in(client, await make_key(Role.viewer))
    page = await client.get(base, params={"tab": "exports"})
    assert page.status_code == 200 and 'id="start-export"' not in page.text and "may download" in page.text
    refused = await client.post(f"{base}/exports", data={"csrf": viewer_csrf, "format": "csv"})
    assert refused.status_code == 403 and "may look but not start exports" in refused.text
    assert len(await _history(client, owner, cid)) == 1
    [link] = _download_links(page.text, cid)
    got = await client.get(link)
    assert got.status_code == 200 and got.headers["content-type"].startswith("application/json")
    assert got.content == (await client.get(link.replace(f"/inbox/campaigns/{cid}", "/v1"), headers=owner)).content


async def test_another_workspaces_export_is_a_404_and_an_unfinished_one_a_409(client):
    owner = bearer(await make_key(Role.admin))
    cid = await live_campaign(client, owner, contacts=people(1))
    r = await client.post(f"/v1/campaigns/{cid}/exports", json={"format": "xlsx"}, headers=owner)
    assert r.status_code == 202
    await drain_queue()
    done = f"/inbox/campaigns/{cid}/exports/{r.json()['id']}/download"
    assert (await client.get(done)).status_code == 303  # no session: to the sign-in page
    async with session_scope() as s:  # a job no worker has picked up yet
        workspace = (await s.get(Campaign, cid)).workspace_id
        waiting = ExportJob(id=new_id("exp"), workspace_id=workspace, campaign_id=cid, format="csv",
                            status=JobStatus.queued)
        s.add(waiting)
    async with httpx.AsyncClient(transport=client._transport, base_url="http://overture.test") as stranger:
        csrf = await signed_in(stranger, await make_key(Role.admin, workspace="other"))
        hidden = await stranger.get(done)
        assert hidden.status_code == 404 and "xlsx" not in hidden.headers["content-type"]
        assert (await stranger.post(f"/inbox/campaigns/{cid}/exports",
                                    data={"csrf": csrf, "format": "csv"})).status_code == 404
    await signed_in(client, await make_key(Role.viewer))
    running = await client.get(f"/inbox/campaigns/{cid}", params={"tab": "exports"})
    assert 'data-poll="2000"' in running.text  # the page polls while a job is unfinished
    early = await client.get(f"/inbox/campaigns/{cid}/exports/{waiting.id}/download")
    assert early.status_code == 409 and "download it once it has succeeded" in early.text
    assert (await client.get(done)).status_code == 200
    other = await live_campaign(client, owner, contacts=people(1))
    assert (await client.get(done.replace(cid, other))).status_code == 404  # under another campaign's address
