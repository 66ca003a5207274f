"""Issue 14 part 4: campaign exports as background jobs, each format read back by its own reader,
formula cells neutralised, workspace and role checked, and a dead worker's export recovered."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import openpyxl
import pytest
from sqlalchemy import update

from agent import recovery
from agent.db import session_scope, utcnow
from agent.ids import new_id
from agent.models import Enrollment, Evaluation, ExportChunk, ExportJob, GoalResult
from agent.reports import export_files, exports
from agent.states import Role
from tests.builders import add_conversation, add_goals, add_outreach, count, enrollments_of, make_key, set_enrollments
from tests.conftest import bearer, drain_queue
from tests.flows import assert_problem, enrollments, live_campaign

CONTACTS = [
    {"name": "Ann Lee", "email": "ann@example.com", "phone": "+12125550100",
     "properties": {"city": "Zürich", "note": "=HYPERLINK(\"http://evil.test\",\"click\")"}},
    {"name": "Bob Stone", "email": "bob@example.com", "properties": {"city": "Lyon", "note": "-2+3"}},
    {"name": "@Cara Díaz", "email": "cara@example.com", "properties": {"note": "@SUM(A1:A9)"}},
]


async def _goal_result(conversation_id: str, goal_id: str, result: str, score: int, *, corrected: str | None = None) -> None:
    async with session_scope() as s:
        ev = Evaluation(id=new_id("evl"), conversation_id=conversation_id, status="succeeded", is_current=True)
        s.add(ev)
        await s.flush()
        s.add(GoalResult(id=new_id("gr"), evaluation_id=ev.id, conversation_id=conversation_id, goal_id=goal_id,
                         result=result, score=score, corrected_result=corrected))


async def _seeded(client, admin) -> str:
    """Ann: two calls (one achieved the primary goal at 80), an email sent, replied. Bob: a call the
    model read as not achieved but a person corrected to partially. Cara: untouched."""
    cid = await live_campaign(client, admin, channels=("email", "voice"), contacts=CONTACTS)
    secondary, primary = await add_goals(cid)
    people = await enrollments(client, admin, cid)
    ann, bob = people["Ann"], people["Bob"]
    a1 = await add_conversation(cid, enrollment=ann, started_at=dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC),
                                duration_s=60.5)
    a2 = await add_conversation(cid, enrollment=ann, started_at=dt.datetime(2026, 3, 3, 15, 0, tzinfo=dt.UTC),
                                duration_s=30.0)
    b1 = await add_conversation(cid, enrollment=bob, answer_status="machine")
    await _goal_result(a1, primary, "not_achieved", 20)
    await _goal_result(a2, primary, "achieved", 80)
    await _goal_result(a2, secondary, "partially_achieved", 50)
    await _goal_result(b1, primary, "not_achieved", 10, corrected="partially_achieved")
    await add_outreach(cid, ann["id"], status="sent", channel="email",
                       sent_at=dt.datetime(2026, 3, 4, 9, 0, tzinfo=dt.UTC))
    await set_enrollments(Enrollment.id == ann["id"], status="replied", substatus=None, attempts=3)
    await set_enrollments(Enrollment.id == bob["id"], status="finished", substatus="no_response", attempts=2)
    return cid


async def _export(client, headers, cid: str, fmt: str) -> tuple[dict, bytes, str]:
    r = await client.post(f"/v1/campaigns/{cid}/exports", json={"format": fmt}, headers=headers)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "queued"
    await drain_queue()
    job = (await client.get(f"/v1/exports/{r.json()['id']}", headers=headers)).json()
    assert job["status"] == "succeeded", job
    d = await client.get(job["download_url"], headers=headers)
    assert d.status_code == 200, d.text
    assert "attachment" in d.headers["content-disposition"]
    assert int(d.headers["content-length"]) == len(d.content) == job["size_bytes"]
    return job, d.content, d.headers["content-type"]


def _by_first_name(rows: list[dict]) -> dict[str, dict]:
    return {r["first_name"]: r for r in rows}


async def test_csv_export_reads_back_with_every_metric_and_neutralised_formulas(client, admin):
    cid = await _seeded(client, admin)
    job, data, media = await _export(client, admin, cid, "csv")
    assert job["rows"] == 3 and media.startswith("text/csv")
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM
    rows = _by_first_name(list(csv.DictReader(io.StringIO(data.decode("utf-8-sig")))))
    ann, bob, cara = rows["Ann"], rows["Bob"], rows["'@Cara"]
    assert (ann["status"], ann["attempts"], ann["conversations"], ann["conversation_duration_s"]) == (
        "replied", "3", "2", "90.5")
    assert ann["Appointment booked (result)"] == "achieved" and ann["Appointment booked (score)"] == "80"
    assert ann["Secondary: details confirmed (result)"] == "partially_achieved"
    assert ann["last_contacted_at"] == "2026-03-04T09:00:00Z" and ann["outreaches_sent"] == "1"
    assert ann["property: city"] == "Zürich"
    # a person's correction wins over the model's answer
    assert bob["Appointment booked (result)"] == "partially_achieved" and bob["substatus"] == "no_response"
    assert cara["Appointment booked (result)"] == "unknown" and cara["Appointment booked (score)"] == ""
    # formulas, leading +/-/@ and tabs are text, never run: a quote goes first
    assert ann["phone"] == "'+12125550100"
    assert ann["property: note"].startswith("'=HYPERLINK(")
    assert bob["property: note"] == "'-2+3" and cara["property: note"] == "'@SUM(A1:A9)"


async def test_semicolon_csv_uses_decimal_commas(client, admin):
    cid = await _seeded(client, admin)
    _, data, _ = await _export(client, admin, cid, "csv_semicolon")
    assert data.startswith(b"\xef\xbb\xbf")
    rows = _by_first_name(list(csv.DictReader(io.StringIO(data.decode("utf-8-sig")), delimiter=";")))
    assert rows["Ann"]["conversation_duration_s"] == "90,5" and rows["Ann"]["status"] == "replied"
    assert rows["Bob"]["property: note"] == "'-2+3"


async def test_excel_export_reads_back_in_openpyxl_with_text_not_formulas(client, admin):
    cid = await _seeded(client, admin)
    _, data, media = await _export(client, admin, cid, "xlsx")
    assert media == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    header, *body = [list(r) for r in sheet.iter_rows(values_only=True)]
    rows = _by_first_name([dict(zip(header, r)) for r in body])
    assert len(rows) == 3
    ann = rows["Ann"]
    assert ann["attempts"] == 3 and ann["conversation_duration_s"] == 90.5  # numbers stay numbers
    assert ann["last_contacted_at"] == dt.datetime(2026, 3, 4, 9, 0)
    assert ann["Appointment booked (score)"] == 80 and ann["property: city"] == "Zürich"
    assert ann["property: note"].startswith("'=HYPERLINK(")
    # openpyxl reports a stored formula as data_type "f": none is
    assert not [c.coordinate for row in sheet.iter_rows() for c in row if c.data_type == "f"]


async def test_json_export_keeps_values_and_nests_goals_and_properties(client, admin):
    cid = await _seeded(client, admin)
    _, data, media = await _export(client, admin, cid, "json")
    assert media == "application/json" and not data.startswith(b"\xef\xbb\xbf")
    rows = _by_first_name(json.loads(data))
    ann = rows["Ann"]
    assert ann["phone"] == "+12125550100" and ann["properties"]["note"].startswith("=HYPERLINK(")
    assert {g["name"]: (g["result"], g["score"]) for g in ann["goals"]} == {
        "Appointment booked": ("achieved", 80), "Secondary: details confirmed": ("partially_achieved", 50)}
    assert ann["conversations"] == 2 and ann["status"] == "replied" and ann["last_contacted_at"] == "2026-03-04T09:00:00Z"
    assert rows["@Cara"]["goals"][0]["result"] == "unknown"


async def test_the_export_agrees_with_the_contact_table(client, admin):
    # The export's goal rule is SQL, the contact table's is evaluators/rollup.py: they must agree.
    cid = await _seeded(client, admin)
    _, data, _ = await _export(client, admin, cid, "json")
    exported = {r["contact_id"]: r for r in json.loads(data)}
    table = (await client.get(f"/v1/campaigns/{cid}/contacts", headers=admin)).json()["items"]
    for item in table:
        primary = next(g for g in exported[item["contact"]["id"]]["goals"] if g["is_primary"])
        assert (primary["result"], primary["score"]) == (item["primary_goal"]["result"], item["primary_goal"]["score"])
        assert exported[item["contact"]["id"]]["status"] == item["status"]


async def test_history_lists_exports_newest_first_and_download_waits_for_success(client, admin):
    cid = await _seeded(client, admin)
    first, _, _ = await _export(client, admin, cid, "csv")
    second, _, _ = await _export(client, admin, cid, "json")
    history = (await client.get(f"/v1/campaigns/{cid}/exports", headers=admin)).json()["items"]
    assert [h["id"] for h in history] == [second["id"], first["id"]]
    assert [h["format"] for h in history] == ["json", "csv"]
    async with session_scope() as s:
        await s.execute(update(ExportJob).where(ExportJob.id == first["id"]).values(status="running"))
    r = await client.get(f"/v1/exports/{first['id']}/download", headers=admin)
    assert_problem(r, 409, "export_not_ready")


async def test_exports_are_scoped_to_the_workspace_and_need_an_approver_to_start(client, admin):
    cid = await _seeded(client, admin)
    job, _, _ = await _export(client, admin, cid, "csv")
    stranger = bearer(await make_key(Role.admin, workspace="globex"))
    for path in (f"/v1/exports/{job['id']}", f"/v1/exports/{job['id']}/download", f"/v1/campaigns/{cid}/exports"):
        assert_problem(await client.get(path, headers=stranger), 404, "not_found")
    viewer = bearer(await make_key(Role.viewer))
    assert_problem(await client.post(f"/v1/campaigns/{cid}/exports", json={"format": "csv"}, headers=viewer),
                   403, "forbidden")
    assert (await client.get(f"/v1/exports/{job['id']}/download", headers=viewer)).status_code == 200
    r = await client.post(f"/v1/campaigns/{cid}/exports", json={"format": "pdf"}, headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "format"]


def test_neutralise_quotes_every_formula_start_and_nothing_else():
    for text in ("=1+1", "+1", "-1", "@x", "\tx", "\rx"):
        assert export_files.neutralise(text) == "'" + text
    for text in ("Ann", "1-2", " =x", "", "'=x"):
        assert export_files.neutralise(text) == text


async def _dead_export(client, admin, *, attempts: int) -> str:
    """An export left as a worker killed mid-file leaves it: running, half its chunks, lease gone."""
    cid = await _seeded(client, admin)
    job, _, _ = await _export(client, admin, cid, "csv")
    async with session_scope() as s:
        await s.execute(update(ExportJob).where(ExportJob.id == job["id"]).values(
            status="running", attempts=attempts, finished_at=None, lease_until=utcnow() - dt.timedelta(seconds=1)))
    return job["id"]


async def test_recovery_restarts_an_export_whose_worker_died(client, admin):
    job_id = await _dead_export(client, admin, attempts=1)
    assert await exports.recover_exports() == (1, 0)
    await drain_queue()
    job = (await client.get(f"/v1/exports/{job_id}", headers=admin)).json()
    assert (job["status"], job["rows"]) == ("succeeded", 3)
    data = (await client.get(job["download_url"], headers=admin)).content
    assert len(list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))) == 4  # one file, not two glued together


async def test_recovery_fails_an_export_that_keeps_losing_its_worker(client, admin):
    job_id = await _dead_export(client, admin, attempts=exports.MAX_ATTEMPTS)
    assert await exports.recover_exports() == (0, 1)
    job = (await client.get(f"/v1/exports/{job_id}", headers=admin)).json()
    assert (job["status"], job["error_code"], job["download_url"]) == ("failed", recovery.WORKER_LOST, None)
    assert await count(ExportChunk, export_id=job_id) == 0
    events = (await client.get(f"/v1/campaigns/{job['campaign_id']}/activity", headers=admin,
                               params={"kind": "export.failed"})).json()["items"]
    assert events and events[0]["payload"]["error_code"] == recovery.WORKER_LOST


async def test_a_live_export_lease_is_left_alone(client, admin):
    job_id = await _dead_export(client, admin, attempts=1)
    async with session_scope() as s:
        await s.execute(update(ExportJob).where(ExportJob.id == job_id).values(
            lease_until=utcnow() + dt.timedelta(minutes=1)))
    assert await exports.recover_exports() == (0, 0)


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "json"])
async def test_an_export_spans_several_batches(client, admin, fmt, monkeypatch):
    from agent.reports import export_rows

    monkeypatch.setattr(export_rows, "BATCH", 2)  # 3 contacts: two batches, keyset across them
    cid = await _seeded(client, admin)
    job, data, _ = await _export(client, admin, cid, fmt)
    if fmt == "json":
        ids = [r["contact_id"] for r in json.loads(data)]
    elif fmt == "csv":
        ids = [r["contact_id"] for r in csv.DictReader(io.StringIO(data.decode("utf-8-sig")))]
    else:
        ids = [r[0] for r in openpyxl.load_workbook(io.BytesIO(data)).active.iter_rows(min_row=2, values_only=True)]
    assert job["rows"] == 3 and sorted(ids) == sorted(e.contact_id for e in await enrollments_of(cid))
