"""The served OpenAPI schema lists the contract of API.md and documents its errors."""

import pytest

from api.guard import SIGNED_PATHS

EXPECTED = {
    ("post", "/v1/campaigns"), ("get", "/v1/campaigns"), ("get", "/v1/campaigns/{campaign_id}"),
    ("patch", "/v1/campaigns/{campaign_id}"), ("delete", "/v1/campaigns/{campaign_id}"),
    *{("post", f"/v1/campaigns/{{campaign_id}}/{a}")
      for a in ("go-live", "pause", "resume", "complete", "cancel", "archive", "duplicate")},
    *{("post", f"/v1/campaigns/{{campaign_id}}/channels/{{channel_id}}/{a}")
      for a in ("start", "pause", "resume", "stop")},
    ("post", "/v1/campaigns/{campaign_id}/contacts"), ("get", "/v1/campaigns/{campaign_id}/contacts"),
    ("post", "/v1/campaigns/{campaign_id}/contacts/import"), ("get", "/v1/imports/{job_id}"),
    ("get", "/v1/campaigns/{campaign_id}/contacts/{contact_id}"),
    ("delete", "/v1/campaigns/{campaign_id}/contacts/{contact_id}"),
    ("get", "/v1/campaigns/{campaign_id}/activity"), ("get", "/healthz"), ("get", "/readyz"),
    ("post", "/v1/campaigns/{campaign_id}/planning-runs"), ("get", "/v1/planning-runs/{run_id}"),
    ("get", "/v1/planning-runs/{run_id}/events"), ("post", "/v1/campaigns/{campaign_id}/start-outreaches"),
    ("get", "/v1/outreaches"), ("get", "/v1/outreaches/{outreach_id}"), ("patch", "/v1/outreaches/{outreach_id}"),
    ("post", "/v1/outreaches/{outreach_id}/approve"), ("post", "/v1/outreaches/approve"),
    ("post", "/v1/outreaches/{outreach_id}/reject"), ("post", "/v1/campaigns/{campaign_id}/execute-approved"),
    ("post", "/v1/voice/chat/completions"), ("post", "/v1/voice/events"),
    ("get", "/v1/conversations/{conversation_id}"), ("post", "/v1/conversations/{conversation_id}/evaluate"),
    ("get", "/v1/campaigns/{campaign_id}/goals"), ("post", "/v1/campaigns/{campaign_id}/goals"),
    ("patch", "/v1/goals/{goal_id}"), ("post", "/v1/goals/{goal_id}/archive"), ("post", "/v1/goals/{goal_id}/restore"),
    ("get", "/v1/campaigns/{campaign_id}/analyses"), ("post", "/v1/campaigns/{campaign_id}/analyses"),
    ("patch", "/v1/analyses/{analysis_id}"), ("post", "/v1/analyses/{analysis_id}/archive"),
    ("post", "/v1/analyses/{analysis_id}/restore"), ("get", "/v1/campaigns/{campaign_id}/evaluation-quality"),
}


@pytest.fixture
async def schema(client):
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


async def test_every_contract_operation_is_in_the_schema(schema):
    present = {(m, p) for p, ops in schema["paths"].items() for m in ops}
    assert EXPECTED <= present, sorted(EXPECTED - present)


async def test_every_v1_operation_documents_problem_errors(schema):
    for path, ops in schema["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, op in ops.items():
            for status in ("401", "403", "404", "422"):
                assert status in op["responses"], f"{method} {path} lacks {status}"
                content = op["responses"][status]["content"]
                assert "application/problem+json" in content, f"{method} {path} {status}"


async def test_a_real_error_matches_the_documented_problem_shape(client, admin, schema):
    problem = schema["components"]["schemas"]["Problem"]
    r = await client.post("/v1/campaigns", json={"name": "", "settings": {"spam_threshold": 12}}, headers=admin)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert set(problem["required"]) <= set(body)
    assert body["code"] == "validation_error"
    locs = [e["loc"] for e in body["errors"]]
    assert ["body", "name"] in locs and ["body", "settings", "spam_threshold"] in locs


async def test_settings_ranges_and_choices_are_in_the_schema(schema):
    settings = schema["components"]["schemas"]["CampaignSettings"]["properties"]
    assert (settings["max_retry_attempts"]["minimum"], settings["max_retry_attempts"]["maximum"]) == (0, 10)
    assert settings["max_retry_attempts"]["default"] == 2
    assert (settings["spam_threshold"]["minimum"], settings["spam_threshold"]["maximum"]) == (1, 9)
    assert settings["max_calls_per_number_per_day"]["maximum"] == 1000
    assert "1min" in settings["call_interval"]["enum"] and "15s" not in settings["call_interval"]["enum"]
    assert settings["ring_timeout"]["enum"] == ["10s", "15s", "20s", "25s", "30s", "45s", "60s"]


def _operations(schema):
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            yield method, path, op


def _has_example(schema, media) -> bool:
    if "example" in media or "examples" in media:
        return True
    ref = media.get("schema", {}).get("$ref", "")
    component = schema["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
    return bool(component.get("examples") or component.get("example"))


async def test_every_operation_is_described_and_every_request_body_has_an_example(schema):
    undescribed = [(m, p) for m, p, op in _operations(schema) if not op.get("description", "").strip()]
    assert not undescribed, undescribed
    no_example = [(m, p, ct) for m, p, op in _operations(schema)
                  for ct, media in op.get("requestBody", {}).get("content", {}).items() if not _has_example(schema, media)]
    assert not no_example, no_example


async def test_every_authenticated_operation_names_the_bearer_scheme(schema, client):
    assert schema["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": schema["components"]["securitySchemes"]["bearer"]["description"]}
    for method, path, op in _operations(schema):
        if path.startswith("/v1/") and path not in SIGNED_PATHS:
            assert op.get("security") == [{"bearer": []}], f"{method} {path}"
        else:
            assert "security" not in op, f"{method} {path} is open but claims a key"
    # The claim is true: an operation marked with the scheme refuses a request without a key.
    marked = [(m, p) for m, p, op in _operations(schema) if op.get("security") and m == "get" and "{" not in p]
    for method, path in marked:
        assert (await client.request(method, path)).status_code == 401, path


async def test_the_keys_and_metrics_operations_are_documented(schema):
    present = {(m, p) for m, p, _ in _operations(schema)}
    assert {("get", "/v1/keys"), ("post", "/v1/keys"), ("delete", "/v1/keys/{key_id}"), ("get", "/metrics")} <= present


async def test_docs_are_served_with_local_assets_only(client):
    import re

    page = await client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)=["\']([^"\']+)', page.text) + re.findall(r"url: ?'([^']+)'", page.text)
    assert assets and all(a.startswith("/") for a in assets), assets
    for asset in assets:
        assert (await client.get(asset)).status_code == 200, asset
