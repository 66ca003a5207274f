"""The evaluator through litellm's openai/ path against the local model server with scripted
answers: six question types parsed from ONE call, every invalid shape retried once and then
recorded as unknown (never guessed), evidence checked against the transcript, long transcripts
cut to fit, and a model that is down leaving nothing half-stored."""

from __future__ import annotations

import copy
import json
import re

import pytest

from tests.builders import evaluations_of
from tests.flows import QUESTIONS, TRANSCRIPT, evaluate, evaluation_campaign, finished_call, good_answer
from tests.llm_server import invalid_json, ok, status
from tests.llm_server import json as answer

pytestmark = pytest.mark.model_server(model="openai/judge-model")


def by_name(items: list[dict], key: str = "name") -> dict[str, dict]:
    return {i[key]: i for i in items}


async def test_one_call_answers_every_goal_and_all_six_question_types_typed(client, admin, model_server):
    setup = await evaluation_campaign(client, admin)
    conv = await finished_call(setup)
    model_server.script(answer(good_answer()))
    body = await evaluate(client, admin, conv)
    assert len(model_server.requests) == 1
    schema = model_server.requests[0]["response_format"]["json_schema"]["schema"]
    assert set(schema["required"]) == {"goal_1", "goal_2", *(f"question_{i}" for i in range(1, 8))}
    goals = by_name(body["goal_results"])
    assert [g["name"] for g in body["goal_results"]][0] == "Appointment booked"  # primary first
    assert {"is_primary": True, "result": "achieved", "score": 95, "evidence": "Tuesday at 9 works.",
            "supported": True}.items() <= goals["Appointment booked"].items()
    values = {a["name"]: a["value"] for a in body["analysis_answers"]}
    assert values == {"Interested": True, "Preferred time": "Morning", "Concerns": ["Price", "Time"],
                      "Summary": "The patient booked a check-up for Tuesday at 9am.", "Friendliness": 5,
                      "Email": "maria.gonzalez@example.com", "Visit date": "2027-04-14"}
    types = {a["name"]: a["type"] for a in body["analysis_answers"]}
    assert types["Friendliness"] == "rating" and types["Visit date"] == "data_point"
    [run] = await evaluations_of(conv)
    assert (run.status, run.is_current, run.error, run.model) == ("succeeded", True, None, "openai/judge-model")
    assert run.input_tokens > 0 and run.prompt_version
    # The transcript and definitions reached the model as data blocks, the contact as "contact".
    user = model_server.requests[0]["messages"][-1]["content"]
    assert '"speaker": "contact"' in user and "Mornings are best for me." in user and '"Morning"' in user


async def test_the_number_of_questions_does_not_change_the_number_of_calls(client, admin, model_server):
    many = [{"name": f"Asked {i}", "description": f"Question {i}?", "type": "yes_no"} for i in range(12)]
    setup = await evaluation_campaign(client, admin, questions=many)
    conv = await finished_call(setup)
    body = await evaluate(client, admin, conv)  # the server's default: schema-valid JSON
    assert len(model_server.requests) == 1
    assert len(body["analysis_answers"]) == 12 and len(body["goal_results"]) == 2


def _broken(field: str, change) -> dict:
    bad = good_answer()
    change(bad[field])
    return bad


INVALID = {
    "option not in the list": ("question_2", lambda a: a.update(value="Night")),
    "a chosen option twice": ("question_3", lambda a: a.update(value=["Price", "Price"])),
    "rating out of the scale": ("question_5", lambda a: a.update(value=7)),
    "a rating that is not an int": ("question_5", lambda a: a.update(value=4.5)),
    "wrong type for yes/no": ("question_1", lambda a: a.update(value="yes")),
    "not an email": ("question_6", lambda a: a.update(value="maria at example")),
    "not a date": ("question_7", lambda a: a.update(value="next Tuesday")),
    "goal score over 100": ("goal_1", lambda a: a.update(score=140)),
    "unknown result word": ("goal_1", lambda a: a.update(result="done")),
    "missing reason": ("goal_2", lambda a: a.pop("reason")),
}


@pytest.mark.parametrize("case", list(INVALID))
async def test_an_invalid_answer_is_retried_once_then_recorded_unknown_and_the_rest_kept(client, admin, model_server,
                                                                                        case):
    field, change = INVALID[case]
    setup = await evaluation_campaign(client, admin)
    conv = await finished_call(setup)
    bad = _broken(field, change)
    model_server.script(answer(bad), answer(bad))
    body = await evaluate(client, admin, conv)
    assert len(model_server.requests) == 2  # the first answer and the one repair request
    repair = model_server.requests[1]["messages"]
    assert repair[-2]["role"] == "assistant" and field in repair[-1]["content"]  # the errors went back
    goals, answers = body["goal_results"], body["analysis_answers"]
    index = int(field.split("_")[1]) - 1
    failing = goals[index] if field.startswith("goal") else answers[index]
    others = [x for x in goals + answers if x is not failing]
    if field.startswith("goal"):
        assert (failing["result"], failing["score"], failing["evidence"]) == ("unknown", 0, None)
    else:
        assert failing["value"] is None and failing["evidence"] is None
    assert "invalid" in failing["reason"]
    assert all("invalid" not in x["reason"] for x in others)
    assert by_name(answers)["Interested"]["value"] is (None if field == "question_1" else True)
    [run] = await evaluations_of(conv)
    assert run.status == "succeeded" and field in run.error


async def test_a_repair_that_validates_keeps_every_answer(client, admin, model_server):
    setup = await evaluation_campaign(client, admin)
    conv = await finished_call(setup)
    model_server.script(answer(_broken("question_5", lambda a: a.update(value=9))), answer(good_answer()))
    body = await evaluate(client, admin, conv)
    assert len(model_server.requests) == 2
    assert by_name(body["analysis_answers"])["Friendliness"]["value"] == 5
    assert (await evaluations_of(conv))[0].error is None


@pytest.mark.parametrize("reply", [invalid_json(), ok("The patient booked a visit."), ok("[1, 2]")])
async def test_output_that_is_no_json_object_twice_leaves_everything_unknown(client, admin, model_server, reply):
    setup = await evaluation_campaign(client, admin)
    conv = await finished_call(setup)
    model_server.script(reply, reply)
    body = await evaluate(client, admin, conv)
    assert len(model_server.requests) == 2
    assert {g["result"] for g in body["goal_results"]} == {"unknown"}
    assert {json.dumps(a["value"]) for a in body["analysis_answers"]} == {"null"}
    [run] = await evaluations_of(conv)
    assert run.status == "succeeded" and "failed validation" in run.error


async def test_evidence_that_is_not_in_the_transcript_is_dropped_and_marked_unsupported(client, admin, model_server):
    setup = await evaluation_campaign(client, admin)
    conv = await finished_call(setup)
    invented = good_answer()
    invented["goal_1"]["evidence"] = "I'll definitely come on Tuesday at 9."  # not what was said
    invented["question_2"]["evidence"] = "Mornings are best"  # a real part of a turn
    invented["question_3"]["evidence"] = "worried about the price ... the time it takes"  # an elided real quote
    model_server.script(answer(invented))
    body = await evaluate(client, admin, conv)
    primary = body["goal_results"][0]
    assert (primary["result"], primary["evidence"], primary["supported"]) == ("achieved", None, False)
    answers = by_name(body["analysis_answers"])
    assert answers["Preferred time"]["supported"] and answers["Preferred time"]["evidence"] == "Mornings are best"
    assert answers["Concerns"]["supported"] and answers["Concerns"]["evidence"]
    assert answers["Summary"]["evidence"] is None and answers["Summary"]["supported"]


async def test_a_long_transcript_is_cut_in_the_middle_and_the_model_is_told(client, admin, model_server):
    setup = await evaluation_campaign(client, admin, questions=QUESTIONS[:1])
    long = [("assistant" if i % 2 else "user", f"Turn {i}: " + "and so on " * 20) for i in range(1500)]
    long[-1] = ("user", "Fine, book me for Tuesday at 9. Goodbye.")
    conv = await finished_call(setup, long)
    await evaluate(client, admin, conv)
    [request] = model_server.requests
    user = request["messages"][-1]["content"]
    assert len(user) < 80_000 < sum(len(t) for _, t in long)
    assert "Turn 0: " in user and "Fine, book me for Tuesday at 9. Goodbye." in user and "Turn 700: " not in user
    omitted = int(re.search(r"Turns left out from the middle for length: ([\d,]+)", user).group(1).replace(",", ""))
    kept = user.count('"speaker": ')
    assert omitted > 1000 and omitted + kept == len(long)


async def test_a_model_that_is_down_fails_the_run_and_stores_no_answers(client, admin, model_server):
    setup = await evaluation_campaign(client, admin)
    conv = await finished_call(setup)
    model_server.script(status(503), status(503))
    body = await evaluate(client, admin, conv)
    assert body["goal_results"] == [] and body["analysis_answers"] == [] and body["evaluated_at"] is None
    [run] = await evaluations_of(conv)
    assert run.status == "failed" and "LLMUnavailable" in run.error and not run.is_current


async def test_the_offline_model_answers_only_what_it_can_detect(client, admin):
    setup = await evaluation_campaign(client, admin)
    conv = await finished_call(setup)
    body = await evaluate(client, admin, conv)
    assert {(g["result"], g["score"]) for g in body["goal_results"]} == {("unknown", 0)}
    assert "offline model" in body["goal_results"][0]["reason"]
    answers = by_name(body["analysis_answers"])
    assert answers["Email"]["value"] == "maria.gonzalez@example.com" and answers["Email"]["supported"]
    assert answers["Email"]["evidence"] == "maria.gonzalez@example.com"
    assert all(a["value"] is None for name, a in answers.items() if name != "Email")


async def test_the_offline_model_finds_a_phone_number_the_contact_said(client, admin):
    setup = await evaluation_campaign(client, admin, questions=[
        {"name": "Callback number", "description": "A number to call back", "type": "data_point",
         "data_type": "phone"}])
    turns = copy.deepcopy(TRANSCRIPT) + [("user", "Or call me back on (415) 555-0134 after five.")]
    conv = await finished_call(setup, turns)
    body = await evaluate(client, admin, conv)
    [number] = body["analysis_answers"]
    assert (number["value"], number["evidence"], number["supported"]) == ("+14155550134", "(415) 555-0134", True)
