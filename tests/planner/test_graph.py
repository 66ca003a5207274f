"""The compiled planner graph on its own: fake IO in the run config (no database, no model), so
every branch of load_context -> check_eligibility -> choose_timing -> draft -> validate -> route
is driven and observed directly."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from agent.channels.rules import check_message
from agent.llm import LLMOutputInvalid, LLMUnavailable
from agent.states import EnrollmentStatus as E
from agent.states import Substatus as S
from planner.graph import MAX_REDRAFTS, DraftResult, build_graph
from planner.prompt import prompt_context
from planner.schemas import OutreachDraft
from planner.state import ChannelFacts, ContactFacts, Outcome, PlanContext, PlanState

NOW = dt.datetime(2025, 3, 4, 15, 0, tzinfo=dt.UTC)  # a Tuesday, 10:00 in New York
GOOD_SMS = OutreachDraft(body="Hi Ann, seats are open for the May 4 webinar.", rationale="short")
GOOD_EMAIL = OutreachDraft(subject="The May 4 webinar", body="Hi Ann,\n\nA seat is yours.\n\nBest", rationale="r")
TOO_LONG = OutreachDraft(body="x " * 1_000, rationale="long")
NO_SUBJECT = OutreachDraft(subject=None, body="Hi Ann, a seat is yours.", rationale="r")


def channel(kind: str, position: int, status: str = "running") -> ChannelFacts:
    return ChannelFacts(id=f"chn_{kind}_{position}", kind=kind, status=status, position=position, config={})


def context(**overrides: Any) -> PlanContext:
    contact = overrides.pop("contact", None) or ContactFacts(
        id="con_1", first_name="Ann", last_name="Lee", email="ann@example.com", phone="+12125550100",
        timezone="America/New_York", properties={})
    values: dict[str, Any] = dict(
        now=NOW, enrollment_id="enr_1", enrollment_status="planning", enrollment_version=2, attempts=0,
        last_attempt_at=None, campaign_id="cmp_1", campaign_name="Spring webinar", campaign_status="active",
        campaign_timezone="America/New_York", brief="Invite customers to the May 4 webinar.", ai_variables={},
        schedule=None, settings={}, start_at=None, end_at=None, manual_review=True, goals=[],
        channels=[channel("email", 0), channel("sms", 1)], contact=contact, suppressed=False)
    values.update(overrides)
    return PlanContext(**values)


def without(field: str) -> ContactFacts:
    return dataclasses.replace(context().contact, **{field: None})


class FakeDeps:
    """The planner's IO in memory: ``drafts`` are handed out in order (an exception is raised)."""

    def __init__(self, ctx: PlanContext, drafts: list[OutreachDraft | Exception] = ()) -> None:
        self.ctx = ctx
        self.drafts = list(drafts)
        self.loaded: list[tuple[str, str | None]] = []
        self.draft_calls: list[dict[str, Any]] = []
        self.routed: list[PlanState] = []

    async def load(self, enrollment_id: str, instruction: str | None) -> PlanContext:
        self.loaded.append((enrollment_id, instruction))
        return dataclasses.replace(self.ctx, enrollment_id=enrollment_id, instruction=instruction)

    async def draft(self, ctx: PlanContext, channel: ChannelFacts, step: int, scheduled_at: Any,
                    feedback: list[str]) -> DraftResult:
        self.draft_calls.append({"ctx": ctx, "channel": channel, "step": step, "scheduled_at": scheduled_at,
                                 "feedback": list(feedback)})
        answer = self.drafts.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return DraftResult(draft=answer, model="fake/model", prompt_version="v1", input_tokens=10, output_tokens=3,
                           cost_usd=0.001)

    async def route(self, state: PlanState) -> None:
        self.routed.append(dict(state))


@pytest.fixture(scope="module")
def graph():
    return build_graph()


async def plan(graph, deps: FakeDeps, instruction: str | None = None) -> PlanState:
    state: PlanState = {"enrollment_id": "enr_1", "run_id": None, "instruction": instruction}
    final = await graph.ainvoke(state, config={"configurable": {"deps": deps}})
    # Route runs exactly once, last, and sees the state the graph ends with.
    assert len(deps.routed) == 1
    [routed] = deps.routed
    assert routed.get("outcome") == final.get("outcome") and routed.get("draft") == final.get("draft")
    return final


# -- eligibility --------------------------------------------------------------------------

@pytest.mark.parametrize("overrides, expected", [
    ({"campaign_status": "paused"}, (E.campaign_paused, None)),
    ({"campaign_status": "completed"}, (E.not_started, None)),
    ({"suppressed": True}, (E.finished, S.opted_out)),
    ({"attempts": 3}, (E.finished, S.max_attempts)),  # 1 + the default 2 retries
    ({"attempts": 1, "settings": {"max_retry_attempts": 0}}, (E.finished, S.max_attempts)),
    ({"brief": "  \n "}, (E.error, S.missing_brief)),
    ({"end_at": NOW - dt.timedelta(days=1)}, (E.finished, S.no_response)),
    ({"end_at": NOW}, (E.finished, S.no_response)),
    ({"channels": [channel("email", 0, "stopped"), channel("sms", 1, "completed")]}, (E.not_started, None)),
    ({"channels": [channel("email", 0, "paused"), channel("sms", 1, "stopped")]}, (E.campaign_paused, None)),
    ({"channels": []}, (E.not_started, None)),
    # Suppression wins over every other reason to stop.
    ({"suppressed": True, "attempts": 5, "brief": ""}, (E.finished, S.opted_out)),
], ids=["paused", "completed", "suppressed", "max-attempts", "max-attempts-custom", "no-brief", "ended",
        "ends-now", "no-running-channel", "channels-paused", "no-channels", "suppressed-first"])
async def test_ineligible_contacts_are_routed_without_a_draft(graph, overrides, expected):
    deps = FakeDeps(context(**overrides), [GOOD_EMAIL])
    final = await plan(graph, deps)
    outcome: Outcome = final["outcome"]
    assert (outcome.status, outcome.substatus) == expected and outcome.reason
    assert deps.draft_calls == [] and final.get("draft") is None


async def test_an_eligible_contact_gets_a_draft_on_the_first_channel_at_step_one(graph):
    deps = FakeDeps(context(), [GOOD_EMAIL])
    final = await plan(graph, deps)
    assert final["outcome"] is None and final["draft"] == GOOD_EMAIL
    assert (final["channel"].kind, final["step"], final["draft_attempts"]) == ("email", 1, 1)
    assert final["scheduled_at"] == NOW  # 10:00 in New York: inside the contact's hours
    assert (final["model"], final["prompt_version"], final["input_tokens"], final["output_tokens"]) == (
        "fake/model", "v1", 10, 3)
    [call] = deps.draft_calls
    assert call["feedback"] == [] and call["scheduled_at"] == NOW and call["step"] == 1


async def test_a_contact_suppressed_on_one_channel_is_reached_on_the_others(graph):
    # A STOP by text: the email channel, first at step one, still takes the draft, and at step
    # two the text channel is skipped rather than the contact finished.
    deps = FakeDeps(context(attempts=1, suppressed_channels=frozenset({"sms"})), [GOOD_EMAIL])
    final = await plan(graph, deps)
    assert final["outcome"] is None and final["channel"].kind == "email"
    deps = FakeDeps(context(suppressed_channels=frozenset({"sms", "email"})), [GOOD_EMAIL])
    final = await plan(graph, deps)
    assert (final["outcome"].status, final["outcome"].substatus) == (E.finished, S.opted_out)
    assert deps.draft_calls == []


# -- channel rotation -----------------------------------------------------------------------

@pytest.mark.parametrize("attempts, contact, expected", [
    (0, None, "email"),
    (1, None, "sms"),
    (2, None, "email"),
    (1, without("phone"), "email"),  # step 2 is SMS's turn; no phone falls through to email
    (0, without("email"), "sms"),  # step 1 is email's turn; no email falls through to SMS
])
async def test_channels_take_turns_by_step_and_a_missing_contact_point_falls_through(graph, attempts, contact,
                                                                                   expected):
    ctx = context(attempts=attempts, contact=contact, last_attempt_at=NOW - dt.timedelta(days=2))
    answer = GOOD_EMAIL if expected == "email" else GOOD_SMS
    deps = FakeDeps(ctx, [answer])
    final = await plan(graph, deps)
    assert final["outcome"] is None
    assert final["channel"].kind == expected and final["step"] == attempts + 1
    assert deps.draft_calls[0]["channel"].kind == expected


async def test_rotation_skips_paused_channels_and_follows_position_not_list_order(graph):
    channels = [channel("voice", 2), channel("email", 0, "paused"), channel("sms", 1), channel("task", 3)]
    kinds = []
    for attempts in range(3):
        deps = FakeDeps(context(channels=channels, attempts=attempts, settings={"max_retry_attempts": 5},
                                last_attempt_at=NOW - dt.timedelta(days=2)), [GOOD_SMS])
        kinds.append((await plan(graph, deps))["channel"].kind)
    assert kinds == ["sms", "voice", "task"]


@pytest.mark.parametrize("channels, contact, substatus", [
    ([channel("email", 0)], without("email"), S.missing_email),
    ([channel("sms", 0), channel("voice", 1)], without("phone"), S.missing_phone),
])
async def test_no_reachable_channel_is_an_error_naming_the_missing_point(graph, channels, contact, substatus):
    deps = FakeDeps(context(channels=channels, contact=contact), [GOOD_SMS])
    final = await plan(graph, deps)
    assert (final["outcome"].status, final["outcome"].substatus) == (E.error, substatus)
    assert deps.draft_calls == []


async def test_a_task_channel_needs_no_contact_point(graph):
    contact = dataclasses.replace(context().contact, email=None, phone=None)
    deps = FakeDeps(context(channels=[channel("email", 0), channel("task", 1)], contact=contact),
                    [OutreachDraft(body="Call Ann about the webinar.", rationale="r")])
    final = await plan(graph, deps)
    assert final["outcome"] is None and final["channel"].kind == "task"


# -- timing ---------------------------------------------------------------------------------

async def test_timing_outcomes_are_routed_without_a_draft(graph):
    # Business hours that never meet the contact's 08:00-21:00 (Tokyo on New York hours).
    tokyo = dataclasses.replace(context().contact, timezone="Asia/Tokyo")
    schedule = {"business_hours": {d: [{"start": "10:00", "end": "12:00"}] for d in ("mon", "tue", "wed", "thu")}}
    deps = FakeDeps(context(contact=tokyo, schedule=schedule), [GOOD_EMAIL])
    waiting = (await plan(graph, deps))["outcome"]
    assert (waiting.status, waiting.substatus) == (E.waiting, S.outside_working_hours)
    assert waiting.next_attempt_at is not None and waiting.next_attempt_at > NOW
    # The retry interval pushes the attempt past the end date.
    deps = FakeDeps(context(attempts=1, last_attempt_at=NOW, end_at=NOW + dt.timedelta(hours=2)), [GOOD_EMAIL])
    ended = (await plan(graph, deps))["outcome"]
    assert (ended.status, ended.substatus) == (E.finished, S.no_response)
    assert deps.draft_calls == []


async def test_the_draft_is_scheduled_at_the_next_allowed_instant(graph):
    night = NOW.replace(hour=3)  # 22:00 in New York the evening before
    deps = FakeDeps(context(now=night), [GOOD_EMAIL])
    final = await plan(graph, deps)
    assert final["scheduled_at"] == dt.datetime(2025, 3, 4, 13, 0, tzinfo=dt.UTC)  # 08:00 New York
    assert deps.draft_calls[0]["scheduled_at"] == final["scheduled_at"]


# -- validate and redraft -------------------------------------------------------------------

async def test_redrafts_are_bounded_and_the_last_failure_becomes_the_error(graph):
    deps = FakeDeps(context(channels=[channel("sms", 0)]), [TOO_LONG] * 10)
    final = await plan(graph, deps)
    assert len(deps.draft_calls) == 1 + MAX_REDRAFTS == 3
    assert (final["outcome"].status, final["outcome"].substatus) == (E.error, S.message_too_long)
    assert "1600" in final["outcome"].reason and final["draft"] is None
    # Tokens of every attempt add up, even when no draft survives.
    assert (final["input_tokens"], final["output_tokens"]) == (30, 9)
    assert deps.drafts == [TOO_LONG] * 7  # nothing asked for after the last allowed redraft


async def test_the_validation_failure_is_fed_into_the_next_draft(graph):
    too_long_email = OutreachDraft(subject="S", body="y" * 10_001, rationale="r")
    deps = FakeDeps(context(), [NO_SUBJECT, too_long_email, GOOD_EMAIL])
    final = await plan(graph, deps)
    assert final["outcome"] is None and final["draft"] == GOOD_EMAIL and final["draft_attempts"] == 3
    feedback = [c["feedback"] for c in deps.draft_calls]
    assert feedback[0] == []
    assert feedback[1] == ["subject: An email needs a subject."]
    expected = [f"{v.field}: {v.message}"
                for v in check_message("email", subject=too_long_email.subject, body=too_long_email.body)]
    assert feedback[2] == expected and "10001 characters" in feedback[2][0]
    assert final["feedback"] == []  # the surviving draft carries no failure to the route
    assert (final["input_tokens"], final["cost_usd"]) == (30, pytest.approx(0.003))


async def test_a_valid_redraft_after_one_failure_is_routed(graph):
    deps = FakeDeps(context(channels=[channel("sms", 0)]), [TOO_LONG, GOOD_SMS])
    final = await plan(graph, deps)
    assert final["outcome"] is None and final["draft"] == GOOD_SMS and len(deps.draft_calls) == 2
    assert deps.draft_calls[1]["feedback"][0].startswith("body: The sms body has 2000 characters")


@pytest.mark.parametrize("draft, substatus", [
    (OutreachDraft(body="   ", rationale="r"), S.empty_message),
    (OutreachDraft(body="Hi {{ first_name }}, seats are open.", rationale="r"), S.model_error),
    (OutreachDraft(body="Hi [First Name], seats are open.", rationale="r"), S.model_error),
])
async def test_rules_without_their_own_substatus_end_as_model_error(graph, draft, substatus):
    deps = FakeDeps(context(channels=[channel("sms", 0)]), [draft] * 3)
    final = await plan(graph, deps)
    assert (final["outcome"].status, final["outcome"].substatus) == (E.error, substatus)
    assert len(deps.draft_calls) == 3


@pytest.mark.parametrize("error", [
    LLMUnavailable("down", models=["m"], attempts=3),
    LLMOutputInvalid("bad json", raw="{", errors=[], model="m", attempts=2),
])
async def test_a_model_failure_ends_in_model_error_without_a_draft(graph, error):
    deps = FakeDeps(context(), [error])
    final = await plan(graph, deps)
    assert (final["outcome"].status, final["outcome"].substatus) == (E.error, S.model_error)
    assert "the model failed" in final["outcome"].reason and final.get("draft") is None


async def test_a_model_failure_on_a_redraft_does_not_route_the_earlier_invalid_draft(graph):
    deps = FakeDeps(context(channels=[channel("sms", 0)]), [TOO_LONG, LLMUnavailable("down", models=[], attempts=1)])
    final = await plan(graph, deps)
    assert (final["outcome"].status, final["outcome"].substatus) == (E.error, S.model_error)
    assert len(deps.draft_calls) == 2 and deps.routed[0]["outcome"] == final["outcome"]


async def test_a_bug_in_a_dep_is_not_swallowed(graph):
    deps = FakeDeps(context(), [RuntimeError("bug")])
    with pytest.raises(RuntimeError, match="bug"):
        await build_graph().ainvoke({"enrollment_id": "enr_1"}, config={"configurable": {"deps": deps}})
    assert deps.routed == []  # the service moves the enrollment to system_error


# -- the reviewer's instruction -------------------------------------------------------------

async def test_a_reviewer_instruction_reaches_the_draft_dep_and_the_prompt(graph):
    deps = FakeDeps(context(), [GOOD_EMAIL])
    await plan(graph, deps, instruction="Mention the recording for those who cannot attend.")
    assert deps.loaded == [("enr_1", "Mention the recording for those who cannot attend.")]
    [call] = deps.draft_calls
    assert call["ctx"].instruction == "Mention the recording for those who cannot attend."
    rendered = prompt_context(call["ctx"], call["channel"], call["feedback"])
    assert rendered["instruction"] == "Mention the recording for those who cannot attend."
    assert deps.routed[0]["context"].instruction == "Mention the recording for those who cannot attend."


async def test_without_an_instruction_the_draft_dep_sees_none(graph):
    deps = FakeDeps(context(), [GOOD_EMAIL])
    await plan(graph, deps)
    assert deps.draft_calls[0]["ctx"].instruction is None
