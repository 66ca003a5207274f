"""The campaign page's Exports tab in Chromium: start an export from the form, watch its status
change without reloading, click Download and read the file the browser saved (CSV with its BOM,
Excel through openpyxl); the tab at 1440 and 390 px. Screenshots go to $OVERTURE_TEST_SHOTS."""

from __future__ import annotations

import csv
import io
import re

import openpyxl
from playwright.sync_api import Page, expect
from sqlalchemy import update

from agent.db import session_scope, utcnow
from agent.ids import new_id
from agent.models import Campaign, ExportChunk, ExportJob
from agent.states import JobStatus, Role
from tests.browser.conftest import LiveServer, run_async
from tests.browser.test_campaigns_browser import LONG_EMAIL, seed, shot, sign_in


def _export_from_the_tab(page: Page, fmt: str) -> bytes:
    page.select_option("#export-format", fmt)
    page.click("#start-export")
    expect(page.locator("#notice")).to_contain_text("Export queued")
    row = page.locator("#export-table tbody tr").first
    expect(row.locator(".export-status")).to_have_text("succeeded", timeout=30_000)  # polled, not reloaded
    expect(row).to_contain_text("4")  # rows
    with page.expect_download() as info:
        row.get_by_role("link", name="Download").click()
    download = info.value
    assert download.failure() is None
    assert download.suggested_filename.startswith("spring-clinic-reminders-")
    with open(download.path(), "rb") as f:
        return f.read()


def test_csv_export_from_the_tab_downloads_with_its_bom(page: Page, live: LiveServer):
    key = live.key(Role.admin)
    ids = seed(live, key)
    sign_in(page, key)
    page.goto(f"/inbox/campaigns/{ids['live']}")
    page.click("#tab-exports")
    expect(page).to_have_url(re.compile(r"tab=exports$"))
    expect(page.locator("#export-history")).to_contain_text("No exports yet")
    data = _export_from_the_tab(page, "csv")
    assert data.startswith(b"\xef\xbb\xbf")
    rows = {r["email"]: r for r in csv.DictReader(io.StringIO(data.decode("utf-8-sig")))}
    assert len(rows) == 4
    assert rows[LONG_EMAIL]["first_name"] == "Maxi" and rows[LONG_EMAIL]["last_name"] == "Oberhausen"
    assert rows[LONG_EMAIL]["phone"] == "'+14155550123"  # a leading + is neutralised
    expect(page.locator("#export-table tbody tr").first).to_contain_text("csv")
    shot(page, "exports_1440")
    page.set_viewport_size({"width": 390, "height": 844})
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways: {width}px wide"
    tops = {page.locator(f"#tab-{t}").bounding_box()["y"] for t in ("dashboard", "contacts", "activity", "settings",
                                                                    "exports")}
    assert len(tops) == 1, f"the tabs wrap at 390 px: {tops}"
    link = page.locator("#export-table .export-download").first.bounding_box()
    assert link and link["x"] + link["width"] <= 390, link  # Download is on screen without scrolling the table
    shot(page, "exports_390")


def test_xlsx_export_from_the_tab_reads_back_in_openpyxl(page: Page, live: LiveServer):
    key = live.key(Role.approver)  # approvers may export, like the API
    ids = seed(live, live.key(Role.admin))
    sign_in(page, key)
    page.goto(f"/inbox/campaigns/{ids['live']}?tab=exports")
    data = _export_from_the_tab(page, "xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    header, *body = [list(r) for r in sheet.iter_rows(values_only=True)]
    rows = {r["email"]: r for r in (dict(zip(header, b)) for b in body)}
    assert len(rows) == 4 and rows[LONG_EMAIL]["first_name"] == "Maxi"
    assert rows[LONG_EMAIL]["status"]


def test_the_status_updates_without_a_reload_while_a_job_runs(page: Page, live: LiveServer):
    """A job no worker has picked up: the tab polls, and shows it succeeded (with its link) once it has,
    without the page being loaded again."""
    key = live.key(Role.viewer)
    ids = seed(live, live.key(Role.admin))
    job_id = new_id("exp")

    async def queued() -> None:
        async with session_scope() as s:
            workspace = (await s.get(Campaign, ids["live"])).workspace_id
            s.add(ExportJob(id=job_id, workspace_id=workspace, campaign_id=ids["live"], format="json",
                            status=JobStatus.running, total=4, processed=1))

    async def finished() -> None:
        async with session_scope() as s:
            s.add(ExportChunk(id=new_id("exc"), export_id=job_id, seq=0, data=b"[]"))
            await s.execute(update(ExportJob).where(ExportJob.id == job_id).values(
                status=JobStatus.succeeded, processed=4, size_bytes=2, finished_at=utcnow()))

    run_async(queued)
    sign_in(page, key)
    page.goto(f"/inbox/campaigns/{ids['live']}?tab=exports")
    expect(page.locator("#start-export")).to_have_count(0)  # a viewer downloads but does not start
    row = page.locator(f"#export-{job_id}")
    expect(row.locator(".export-status")).to_have_text("running")
    expect(row).to_contain_text("1 of 4")
    page.evaluate("window.notReloaded = true")
    run_async(finished)
    expect(row.locator(".export-status")).to_have_text("succeeded", timeout=10_000)
    assert page.evaluate("window.notReloaded") is True
    expect(page.locator("#export-history")).not_to_have_attribute("data-poll", re.compile("."))
    with page.expect_download() as info:
        row.get_by_role("link", name="Download").click()
    with open(info.value.path(), "rb") as f:
        assert f.read() == b"[]"
