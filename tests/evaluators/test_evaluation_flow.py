"""Evaluations over time: queued by the scheduler after the completion timeout, re-run with history
kept, rolled up per contact over several conversations, corrected by people, and the agreement
between the model and those corrections."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from agent.db import session_scope, utcnow
from agent.models import ActivityEvent, Conversation, Enrollment
from evaluators import service
from planner import scheduler
from tests.builders import enrollment_row as enrollment, evaluations_of, set_enrollments
from tests.conftest import bearer, drain_queue, make_key
from tests.flows import evaluate, evaluation_campaign, finished_call
from tests.llm_server import json as answer

pytestmark = pytest.mark.model_server(model="openai/judge-model")

YES_NO = [{"name": "Interested", "description": "Was the patient interested?", "type": "yes_no"},
          {"name": "Concerns", "description": "Concerns raised", "type": "multiple_choice",
           "options": ["Price", "Pain", "Time"]}]


def verdict(primary: tuple[str, int], secondary: tuple[str, int] = ("unknown", 0), interested: bool | None = True,
            concerns: list[str] | None = None) -> dict:
    goal = lambda r, s: {"result": r, "score": s, "reason": f"{r} in this call.", "evidence": None}  # noqa: E731
    return {"goal_1": goal(*primary), "goal_2": goal(*secondary),
            "question_1": {"value": interested, "reason": "Said so.", "evidence": None},
            "question_2": {"value": concerns if concerns is not None else ["Price"], "reason": "Raised.",
                           "evidence": None}}


async def contact_row(client, headers, setup, name: str = "Maria") -> dict:
    items = (await client.get(f"/v1/campaigns/{setup.campaign_id}/contacts", headers=headers)).json()["items"]
    return next(i for i in items if i["contact"]["first_name"] == name)


async def test_the_contact_table_shows_the_best_result_and_the_highest_score_over_conversations(client, admin,
                                                                                                 model_server):
    setup = await evaluation_campaign(client, admin, questions=YES_NO, people=("Maria", "James"))
    before = await contact_row(client, admin, setup)
    assert before["primary_goal"] | {"goal_id": None} == {"goal_id": None, "name": "Appointment booked",
                                                           "result": "unknown", "score": None}
    calls = [verdict(("not_achieved", 10), ("achieved", 80)), verdict(("partially_achieved", 60)),
             verdict(("not_achieved", 70), ("not_achieved", 20))]
    for v in calls:
        model_server.script(answer(v))
        await evaluate(client, admin, await finished_call(setup))
    row = await contact_row(client, admin, setup)
    # Best result (partially) and highest score (70, from a call that did not reach the goal).
    assert (row["primary_goal"]["result"], row["primary_goal"]["score"]) == ("partially_achieved", 70)
    assert (await contact_row(client, admin, setup, "James"))["primary_goal"]["result"] == "unknown"
    detail = (await client.get(f"/v1/campaigns/{setup.campaign_id}/contacts/{setup.enrollments['Maria'][1]}",
                               headers=admin)).json()
    goals = {g["goal_id"]: g for g in detail["goals"]}
    assert goals[setup.goal_ids[1]] == {"goal_id": setup.goal_ids[1], "result": "achieved", "score": 80,
                                             "conversations": 3}
    assert detail["primary_goal"]["result"] == "partially_achieved"


async def test_a_correction_is_kept_beside_the_models_answer_and_counts_in_the_roll_up(client, admin, model_server):
    setup = await evaluation_campaign(client, admin, questions=YES_NO)
    model_server.script(answer(verdict(("not_achieved", 15))))
    conv = await finished_call(setup)
    await evaluate(client, admin, conv)
    approver = bearer(await make_key("approver"))
    r = await client.put(f"/v1/conversations/{conv}/goal-results/{setup.goal_ids[0]}", headers=approver,
                         json={"result": "achieved", "score": 100})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["result"], body["score"], body["model_result"], body["model_score"], body["corrected"]) == \
        ("achieved", 100, "not_achieved", 15, True)
    row = await contact_row(client, admin, setup)
    assert (row["primary_goal"]["result"], row["primary_goal"]["score"]) == ("achieved", 100)
    r = await client.put(f"/v1/conversations/{conv}/analysis-answers/{setup.question_ids[1]}", headers=approver,
                         json={"value": ["Pain", "Time"]})
    assert r.status_code == 200 and (r.json()["value"], r.json()["model_value"]) == (["Pain", "Time"], ["Price"])
    conversation = (await client.get(f"/v1/conversations/{conv}", headers=admin)).json()
    assert conversation["goal_results"][0]["corrected_by"] and conversation["analysis_answers"][1]["corrected"]
    async with session_scope() as s:
        kinds = [e.payload for e in (await s.execute(select(ActivityEvent).where(
            ActivityEvent.kind == "evaluation.corrected"))).scalars()]
    assert [k.get("goal_id") or k.get("analysis_id") for k in kinds] == [setup.goal_ids[0], setup.question_ids[1]]
    assert kinds[0]["before"]["result"] == "not_achieved" and kinds[0]["after"]["result"] == "achieved"


@pytest.mark.parametrize(("value", "loc"), [("yes", ["body", "value"]), (["Price", "Money"], ["body", "value", 1])])
async def test_a_correction_must_be_a_valid_answer_for_its_question(client, admin, model_server, value, loc):
    setup = await evaluation_campaign(client, admin, questions=YES_NO)
    model_server.script(answer(verdict(("achieved", 90))))
    conv = await finished_call(setup)
    await evaluate(client, admin, conv)
    question = setup.question_ids[0] if value == "yes" else setup.question_ids[1]
    r = await client.put(f"/v1/conversations/{conv}/analysis-answers/{question}", headers=admin, json={"value": value})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == loc, r.text
    answers = (await client.get(f"/v1/conversations/{conv}", headers=admin)).json()["analysis_answers"]
    assert not any(a["corrected"] for a in answers)


async def test_viewers_cannot_correct_and_other_workspaces_see_nothing(client, admin, model_server):
    setup = await evaluation_campaign(client, admin, questions=YES_NO)
    model_server.script(answer(verdict(("achieved", 90))))
    conv = await finished_call(setup)
    await evaluate(client, admin, conv)
    url = f"/v1/conversations/{conv}/goal-results/{setup.goal_ids[0]}"
    viewer = bearer(await make_key("viewer"))
    assert (await client.put(url, headers=viewer, json={"result": "unknown"})).status_code == 403
    assert (await client.post(f"/v1/conversations/{conv}/evaluate", headers=viewer)).status_code == 403
    stranger = bearer(await make_key("admin", workspace="other"))
    assert (await client.put(url, headers=stranger, json={"result": "unknown"})).status_code == 404
    assert (await client.get(f"/v1/conversations/{conv}/evaluations", headers=stranger)).status_code == 404
    assert (await client.get(f"/v1/campaigns/{setup.campaign_id}/evaluation-quality",
                             headers=stranger)).status_code == 404
    assert (await client.get(f"/v1/conversations/{conv}", headers=admin)).json()["goal_results"][0]["corrected"] is False


async def test_agreement_with_corrections_per_goal_and_question(client, admin, model_server):
    setup = await evaluation_campaign(client, admin, questions=YES_NO)
    convs = []
    for primary, concerns in [(("achieved", 90), ["Price", "Time"]), (("not_achieved", 10), ["Pain"]),
                              (("partially_achieved", 50), ["Price"]), (("achieved", 95), ["Time"])]:
        model_server.script(answer(verdict(primary, concerns=concerns)))
        convs.append(await finished_call(setup))
        await evaluate(client, admin, convs[-1])
    goal, concerns_q = setup.goal_ids[0], setup.question_ids[1]
    # People confirm two primary results and overturn one; one set answer confirmed in another order.
    for conv, result in zip(convs[:3], ["achieved", "not_achieved", "achieved"]):
        assert (await client.put(f"/v1/conversations/{conv}/goal-results/{goal}", headers=admin,
                                 json={"result": result})).status_code == 200
    assert (await client.put(f"/v1/conversations/{convs[0]}/analysis-answers/{concerns_q}", headers=admin,
                             json={"value": ["Time", "Price"]})).status_code == 200
    assert (await client.put(f"/v1/conversations/{convs[1]}/analysis-answers/{concerns_q}", headers=admin,
                             json={"value": []})).status_code == 200
    q = (await client.get(f"/v1/campaigns/{setup.campaign_id}/evaluation-quality", headers=admin)).json()
    goals = {g["id"]: g for g in q["goals"]}
    assert goals[goal] == {"id": goal, "name": "Appointment booked", "kind": "goal", "evaluated": 4,
                                "corrected": 3, "agreed": 2, "agreement": 0.6667}
    assert goals[setup.goal_ids[1]]["corrected"] == 0 and goals[setup.goal_ids[1]]["agreement"] is None
    answers = {a["id"]: a for a in q["analyses"]}
    assert (answers[concerns_q]["corrected"], answers[concerns_q]["agreed"], answers[concerns_q]["agreement"]) == \
        (2, 1, 0.5)
    assert answers[setup.question_ids[0]]["evaluated"] == 4 and answers[setup.question_ids[0]]["corrected"] == 0


async def test_re_evaluation_replaces_the_answers_keeps_history_and_carries_corrections(client, admin, model_server):
    setup = await evaluation_campaign(client, admin, questions=YES_NO)
    conv = await finished_call(setup)
    model_server.script(answer(verdict(("not_achieved", 20), interested=False)))
    await evaluate(client, admin, conv)
    await client.put(f"/v1/conversations/{conv}/goal-results/{setup.goal_ids[1]}", headers=admin,
                     json={"result": "achieved", "score": 70})
    model_server.script(answer(verdict(("achieved", 88), interested=True)))
    body = await evaluate(client, admin, conv)
    primary, secondary = body["goal_results"]
    assert (primary["result"], primary["score"]) == ("achieved", 88)
    assert (secondary["result"], secondary["model_result"], secondary["corrected"]) == ("achieved", "unknown", True)
    assert body["analysis_answers"][0]["value"] is True
    history = (await client.get(f"/v1/conversations/{conv}/evaluations", headers=admin)).json()
    assert [(h["status"], h["is_current"]) for h in history] == [("succeeded", True), ("succeeded", False)]
    assert history[1]["goal_results"][0]["result"] == "not_achieved"
    assert len(await evaluations_of(conv)) == 2 and len(model_server.requests) == 2


async def test_an_open_conversation_is_not_evaluated(client, admin):
    setup = await evaluation_campaign(client, admin, questions=YES_NO)
    conv = await finished_call(setup)
    async with session_scope() as s:
        await s.execute(update(Conversation).where(Conversation.id == conv).values(status="open"))
    r = await client.post(f"/v1/conversations/{conv}/evaluate", headers=admin)
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition"
    assert await evaluations_of(conv) == []


async def test_the_scheduler_queues_conversations_once_their_completion_timeout_has_passed(client, admin,
                                                                                           model_server):
    setup = await evaluation_campaign(client, admin, questions=YES_NO)
    due = await finished_call(setup, evaluate_after=utcnow() - dt.timedelta(seconds=1))
    later = await finished_call(setup, evaluate_after=utcnow() + dt.timedelta(minutes=30))
    await scheduler.tick(duties=(service.dispatch_due,))
    await drain_queue()
    assert [e.status for e in await evaluations_of(due)] == ["succeeded"]
    assert await evaluations_of(later) == []
    # Evaluated once: later ticks queue nothing more for it, and the later one only once due.
    assert await service.dispatch_due() == 0
    assert await service.dispatch_due(utcnow() + dt.timedelta(minutes=31)) == 1
    await drain_queue()
    assert len(model_server.requests) == 2 and len(await evaluations_of(later)) == 1


async def test_a_lost_evaluation_is_failed_after_its_lease_and_asked_for_again(client, admin, model_server):
    setup = await evaluation_campaign(client, admin, questions=YES_NO)
    conv = await finished_call(setup, evaluate_after=utcnow() - dt.timedelta(minutes=1))
    async with session_scope() as s:
        row = (await s.execute(select(Conversation).where(Conversation.id == conv))).scalar_one()
        await service.request(s, row, actor="system", reason="test")
        s.sync_session.info.clear()  # its message is lost: never sent
    assert await service.dispatch_due() == 0  # within the lease: left alone
    assert await service.dispatch_due(utcnow() + service.LEASE + dt.timedelta(seconds=5)) == 1
    await drain_queue()
    first, second = await evaluations_of(conv)
    assert (first.status, first.error) == ("failed", service.LOST) and second.status == "succeeded"
    # The lost one can no longer be taken by a late message.
    assert await service.run(first.id) is None


async def test_a_contact_waiting_on_the_call_is_completed_when_the_primary_goal_is_achieved(client, admin,
                                                                                            model_server):
    setup = await evaluation_campaign(client, admin, questions=YES_NO, people=("Maria", "James"))
    maria, james = setup.enrollments["Maria"][0], setup.enrollments["James"][0]
    await set_enrollments(Enrollment.id.in_([maria, james]), status="waiting", substatus=None)
    model_server.script(answer(verdict(("achieved", 92))))
    await evaluate(client, admin, await finished_call(setup, who="Maria"))
    model_server.script(answer(verdict(("partially_achieved", 40))))
    await evaluate(client, admin, await finished_call(setup, who="James"))
    assert ((await enrollment(maria)).status, (await enrollment(james)).status) == ("completed", "waiting")
