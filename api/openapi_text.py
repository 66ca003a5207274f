"""Descriptions and request-body examples for operations whose route carries none of its own.

Kept in one table rather than spread as docstrings over every route module, so it can be added
without touching routes other work is changing; a route's own docstring or model example wins
(``api.docs`` only fills gaps). ``tests/e2e/test_openapi.py`` fails on any operation left without.
"""

from __future__ import annotations

from typing import Any

DESCRIPTIONS: dict[tuple[str, str], str] = {
    ("get", "/healthz"): "Liveness: 200 while the process answers (no database or broker check; see /readyz).",
    ("get", "/readyz"): "Readiness: 200 when the database and the broker answer and the model layer is warm (litellm "
                         "imported, its streaming path loaded), 503 naming the check that is not ok.",
    ("post", "/v1/campaigns"): "Create a campaign in draft with its channels; it plans and sends nothing until it "
                               "goes live.",
    ("get", "/v1/campaigns"): "The workspace's campaigns, newest first by default, archived ones only when "
                              "?status=archived is named; keyset-paginated with next_cursor.",
    ("get", "/v1/campaigns/{campaign_id}"): "One campaign with its channels and contact count (404 for another "
                                            "workspace's).",
    ("patch", "/v1/campaigns/{campaign_id}"): "Change a campaign's fields; only the fields sent change. An archived "
                                              "campaign is read-only (409).",
    ("delete", "/v1/campaigns/{campaign_id}"): "Delete a campaign with its channels and enrollments; needs "
                                               "?confirm=true (428 without it). Archive instead to keep history.",
    ("post", "/v1/campaigns/{campaign_id}/duplicate"): "A new draft campaign with the same settings, channels, goals "
                                                       "and analyses, and no contacts.",
    ("post", "/v1/campaigns/{campaign_id}/contacts"): "Add contacts (up to 1,000 a request): each is normalised, "
                                                      "deduplicated within the workspace and enrolled; per-row errors "
                                                      "come back in errors without failing the others.",
    ("get", "/v1/campaigns/{campaign_id}/contacts"): "The campaign's enrollments with their contacts, filterable by "
                                                     "?status=, keyset-paginated.",
    ("post", "/v1/campaigns/{campaign_id}/contacts/import"): "Upload a CSV (any common delimiter and encoding) to "
                                                             "import in the background; answers 202 with the job to "
                                                             "poll at /v1/imports/{job_id}.",
    ("get", "/v1/imports/{job_id}"): "An import job's progress and result: rows added, updated, duplicated, and "
                                     "each refused row with its code.",
    ("get", "/v1/campaigns/{campaign_id}/contacts/{contact_id}"): "One contact's enrollment in the campaign: status, "
                                                                  "substatus, attempts and next attempt.",
    ("delete", "/v1/campaigns/{campaign_id}/contacts/{contact_id}"): "Remove a contact from the campaign; its pending "
                                                                     "drafts are cancelled, the contact stays in the "
                                                                     "workspace.",
    ("get", "/v1/campaigns/{campaign_id}/activity"): "The campaign's activity log (who did what, when), newest first, "
                                                     "filterable by kind, contact and time.",
    ("post", "/v1/campaigns/{campaign_id}/planning-runs"): "Plan the campaign's plannable contacts (or the given "
                                                           "ones) now; answers 202 with the run to follow.",
    ("get", "/v1/planning-runs/{run_id}"): "A planning run's counts: planned, skipped, failed, remaining.",
    ("get", "/v1/planning-runs/{run_id}/events"): "The run's progress as server-sent events until it finishes.",
    ("get", "/v1/outreaches"): "Outreaches (drafts, queued, sent...) across the workspace, filterable by status, "
                               "campaign and channel: the review queue's source.",
    ("get", "/v1/outreaches/{outreach_id}"): "One outreach with its message, schedule, status and send result.",
    ("patch", "/v1/outreaches/{outreach_id}"): "Edit a draft's subject, body or send time before approval; send the "
                                               "version you read to refuse a concurrent edit (409).",
    ("post", "/v1/outreaches/approve"): "Approve several drafts at once; each id answers its own result, so one "
                                        "stale draft does not block the others.",
    ("post", "/v1/outreaches/{outreach_id}/approve"): "Approve a draft: it waits for its send time (or for "
                                                      "execute-approved in manual campaigns).",
    ("post", "/v1/outreaches/{outreach_id}/reject"): "Reject a draft, optionally asking the planner to draft again "
                                                     "with an instruction.",
    ("post", "/v1/campaigns/{campaign_id}/execute-approved"): "Queue every approved outreach of the campaign for "
                                                              "sending now; answers how many were queued.",
    ("get", "/v1/conversations/{conversation_id}"): "A call's conversation: transcript, outcome and its evaluation.",
    ("post", "/v1/analyses/{analysis_id}/archive"): "Archive an analysis: new calls are no longer evaluated on it; "
                                                    "past answers stay.",
    ("post", "/v1/analyses/{analysis_id}/restore"): "Bring an archived analysis back into evaluation.",
    ("get", "/v1/conversations/{conversation_id}/evaluations"): "Every evaluation of the conversation, the judge's "
                                                                "and people's corrections.",
    ("get", "/v1/campaigns/{campaign_id}/evaluation-quality"): "How often people corrected the judge, per goal and "
                                                               "analysis: the evaluation's measured accuracy.",
    ("delete", "/v1/campaigns/{campaign_id}/phone-numbers/{number_id}"): "Remove a caller number from the "
                                                                         "campaign's rotation.",
    ("delete", "/v1/suppressions/{suppression_id}"): "Remove a suppression: sends to the address may resume at the "
                                                     "next plan.",
}

EXAMPLES: dict[tuple[str, str], Any] = {
    ("post", "/v1/campaigns"): {"name": "Spring check-ups", "brief": "Invite patients due for a check-up to book.",
                                "timezone": "America/New_York", "manual_review": True,
                                "channels": [{"kind": "email"}, {"kind": "sms"}]},
    ("patch", "/v1/campaigns/{campaign_id}"): {"notes": "Paused over the holidays", "manual_review": False},
    ("post", "/v1/campaigns/{campaign_id}/contacts"): {"contacts": [
        {"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com", "phone": "+12125550100",
         "timezone": "America/New_York"}]},
    ("post", "/v1/campaigns/{campaign_id}/contacts/import"): {"file": "people.csv",
                                                              "mapping": '{"Mobile": "phone"}'},
    ("post", "/v1/campaigns/{campaign_id}/planning-runs"): {"contact_ids": ["con_01j0000000000000000000000"]},
    ("patch", "/v1/outreaches/{outreach_id}"): {"subject": "Time for your check-up, Ann",
                                                "body": "Hi Ann, you are due for a check-up...", "version": 3},
    ("post", "/v1/outreaches/approve"): {"ids": ["out_01j0000000000000000000000"],
                                         "versions": {"out_01j0000000000000000000000": 3}},
    ("post", "/v1/outreaches/{outreach_id}/reject"): {"regenerate": True, "instruction": "Shorter, and mention "
                                                                                         "the Saturday hours"},
    ("post", "/v1/outreaches/{outreach_id}/settle"): {"sent": True, "note": "The provider's log shows it delivered"},
    ("post", "/v1/voice/chat/completions"): {"model": "overture", "stream": True,
                                             "messages": [{"role": "user", "content": "Hello?"}],
                                             "call": {"id": "call_123"}},
    ("post", "/v1/voice/events"): {"call_id": "call_123", "from": "+12125550199", "to": "+12125550100",
                                   "duration_s": 84.5, "ended_reason": "customer-ended-call", "answer_status": "human",
                                   "transcript": [{"role": "assistant", "content": "Hi, this is the clinic."},
                                                  {"role": "user", "content": "Hi!"}]},
    ("post", "/v1/campaigns/{campaign_id}/goals"): {"name": "Appointment booked", "is_primary": True,
                                                    "description": "The patient agreed to a date and time."},
    ("patch", "/v1/goals/{goal_id}"): {"description": "The patient agreed to a date and time for a check-up."},
    ("post", "/v1/campaigns/{campaign_id}/analyses"): {"type": "single_choice", "name": "Preferred clinic",
                                                       "options": ["Midtown", "Loop", "Mission"]},
    ("patch", "/v1/analyses/{analysis_id}"): {"active": False},
    ("put", "/v1/conversations/{conversation_id}/goal-results/{goal_id}"): {"result": "achieved"},
    ("put", "/v1/conversations/{conversation_id}/analysis-answers/{analysis_id}"): {"value": "Midtown"},
    ("post", "/v1/campaigns/{campaign_id}/phone-numbers"): {"number": "+12125550199", "friendly_name": "Front desk",
                                                            "weight": 2},
    ("patch", "/v1/campaigns/{campaign_id}/phone-numbers/{number_id}"): {"status": "disabled"},
    ("post", "/v1/suppressions"): {"email": "ann@example.com", "channel": "email", "reason": "opted_out",
                                   "source": "old CRM"},
    ("post", "/v1/tasks/{task_id}/complete"): {"outcome": "reached", "note": "Booked for Tuesday"},
}
