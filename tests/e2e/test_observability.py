"""Observability from the outside: /metrics in Prometheus text, X-Request-ID on every answer and
in every log line, JSON logs by setting, and no secret in any log line."""

from __future__ import annotations

import json
import logging
import socket

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from agent import logs
from tests.builders import outreach_row
from tests.conftest import drain_queue
from tests.flows import by_name, people, queue_with_drafts, zone_at_noon

PASSWORD = "s3cr3t-smtp-pw"
SENDER = {"kind": "email", "provider": "smtp", "from_address": "ann@clinic.example", "from_name": "Ann Lee",
          "postal_address": "1 Main St, Springfield, IL 62701"}


async def scrape(client) -> dict[tuple[str, tuple], float]:
    r = await client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


class Inbox:
    def __init__(self) -> None:
        self.received = 0

    async def handle_DATA(self, server, session, envelope):
        self.received += 1
        return "250 OK queued"


@pytest.fixture
def smtp_with_password(settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=port, auth_require_tls=False,
                            authenticator=lambda *_: AuthResult(success=True))
    controller.start()
    settings.smtp_url = SecretStr(f"smtp://ops:{PASSWORD}@127.0.0.1:{port}")
    settings.public_url = "https://overture.example"
    logs.remember_secrets(settings)
    yield box
    controller.stop()


async def test_metrics_move_after_a_request_and_a_send_and_no_secret_is_logged(client, admin, smtp_with_password,
                                                                             caplog):
    caplog.set_level(logging.DEBUG)
    before = await scrape(client)
    cid, items = await queue_with_drafts(client, admin, 1, channels=(SENDER,), contacts=people(1, timezone=zone_at_noon()))
    ann = by_name(items)["Ann"]
    assert (await client.post(f"/v1/outreaches/{ann['id']}/approve", headers=admin)).status_code == 200
    assert (await client.post(f"/v1/campaigns/{cid}/execute-approved", headers=admin)).json() == {"queued": 1}
    await drain_queue()
    assert (await outreach_row(ann["id"])).status == "sent" and smtp_with_password.received == 1
    assert (await client.get("/v1/campaigns/cmp_nope", headers=admin)).status_code == 404
    logging.getLogger("overture.test").warning("configured %s with key %s", smtp_with_password and
                                               f"smtp://ops:{PASSWORD}@host", admin["Authorization"])

    after = await scrape(client)
    route = "/v1/campaigns/{campaign_id}"
    assert value(after, "overture_http_requests_total", method="GET", route=route, status="404") == \
        value(before, "overture_http_requests_total", method="GET", route=route, status="404") + 1
    assert value(after, "overture_sends_total", outcome="sent") == value(before, "overture_sends_total",
                                                                         outcome="sent") + 1
    assert value(after, "overture_planning_runs_total") > value(before, "overture_planning_runs_total")
    assert value(after, "overture_plans_total", result="drafted") > value(before, "overture_plans_total",
                                                                          result="drafted")
    assert sum(v for (n, _), v in after.items() if n == "overture_model_calls_total") > 0
    assert ("overture_queue_depth", ()) in after

    text = "\n".join(r.getMessage() for r in caplog.records)
    key = admin["Authorization"].split()[1]
    assert "configured smtp://ops:***@host" in text  # the line is there, scrubbed
    assert PASSWORD not in text and key not in text


async def test_every_answer_has_a_request_id_and_log_lines_carry_it(client, admin, caplog):
    caplog.set_level(logging.DEBUG)
    mine = await client.get("/healthz", headers={"X-Request-ID": "abc-123.x_y"})
    assert mine.headers["X-Request-ID"] == "abc-123.x_y"
    anonymous = await client.get("/v1/campaigns")
    assert anonymous.status_code == 401 and len(anonymous.headers["X-Request-ID"]) == 32
    injected = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert injected.headers["X-Request-ID"] != "bad id\twith spaces" and " " not in injected.headers["X-Request-ID"]
    caplog.clear()
    r = await client.post("/v1/campaigns", json={"name": "logged"}, headers={**admin, "X-Request-ID": "trace-42"})
    assert r.status_code == 201 and r.headers["X-Request-ID"] == "trace-42"
    [line] = [rec for rec in caplog.records if rec.name == "overture.http" and "/v1/campaigns" in rec.getMessage()]
    assert line.request_id == "trace-42" and "-> 201" in line.getMessage()
    logging.getLogger("overture.test").info("inside")  # outside any request: no id
    assert caplog.records[-1].request_id == "-"


def test_json_log_format_carries_the_request_id(settings):
    record = logging.getLogger("overture.test").makeRecord("overture.test", logging.INFO, __file__, 1,
                                                           "sent with %s", ("ovk_abcdefghijklmnop",), None)
    token = logs.REQUEST_ID.set("req-7")
    try:
        record = logging.getLogRecordFactory()("overture.test", logging.INFO, __file__, 1, "sent with %s",
                                               ("ovk_abcdefghijklmnop",), None)
    finally:
        logs.REQUEST_ID.reset(token)
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["request_id"] == "req-7" and line["message"] == "sent with ovk_***" and line["level"] == "INFO"


async def test_metrics_need_the_token_when_one_is_set(client, settings):
    settings.metrics_token = SecretStr("scrape-me")
    assert (await client.get("/metrics")).status_code == 401
    assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
    assert (await client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})).status_code == 200
