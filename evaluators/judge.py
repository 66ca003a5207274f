"""The judge: ONE structured model call answers every active goal and question of a conversation.

``judge`` renders ``prompts/evaluators/``, asks the model for the campaign's answer schema
(``evaluators.answers``) and returns frozen verdicts; it stores nothing and keeps nothing on
itself, so one judge serves many conversations at once. An answer that fails validation is sent
back once with the errors (the model layer's repair request); whatever still fails after that is
recorded field by field as unknown / null with the reason, never guessed, while the fields that
did validate are kept. Every evidence quote is checked against the transcript: one that is not
there is dropped and its answer marked unsupported. A long transcript keeps its opening and its
end within ``budget`` characters and says how many turns were left out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from agent import llm
from agent.prompting import render_chat
from evaluators import offline  # noqa: F401 - teaches the offline model its evaluator answers
from evaluators.answers import AnswerSchema, Definitions, GoalAnswer, GoalOutcome, build_schema, jsonable
from evaluators.evidence import Transcript

TASK = "evaluator"
SYSTEM, USER = "evaluators/system.j2", "evaluators/conversation.j2"
BUDGET = 48_000  # transcript characters sent (about 12k tokens); the rest of the prompt is small
TURN_MAX = 4_000  # one very long turn is cut, so it cannot crowd out the others
SPEAKERS = {"assistant": "agent", "user": "contact"}


@dataclass(frozen=True, slots=True)
class GoalVerdict:
    goal_id: str
    result: GoalOutcome
    score: int
    reason: str
    evidence: str | None
    supported: bool  # False: the model quoted something the transcript does not hold
    valid: bool  # False: the model's answer for it failed validation twice (recorded as unknown)


@dataclass(frozen=True, slots=True)
class AnswerVerdict:
    analysis_id: str
    value: Any  # JSON-ready (dates as ISO strings); None when unknown
    reason: str
    evidence: str | None
    supported: bool
    valid: bool


@dataclass(frozen=True, slots=True)
class Verdict:
    goals: tuple[GoalVerdict, ...]
    answers: tuple[AnswerVerdict, ...]
    model: str
    prompt_version: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    error: str | None  # why some answers are unknown (invalid output), else None


@dataclass(frozen=True, slots=True)
class ConversationFacts:
    channel: str
    direction: str
    answer_status: str | None
    duration_s: float | None
    ended_reason: str | None


def fit(turns: Sequence[tuple[str, str]], budget: int = BUDGET) -> tuple[list[tuple[str, str]], int]:
    """The turns to send and how many were left out of the middle; the end weighs double (it holds
    the outcome), the opening is kept for who is speaking and why."""
    cut = [(role, text if len(text) <= TURN_MAX else text[:TURN_MAX] + " [...]") for role, text in turns]
    if sum(len(t) for _, t in cut) <= budget:
        return cut, 0
    head, tail, used = [], [], 0
    i, j = 0, len(cut) - 1
    while i <= j:
        # Take from the end twice for every turn from the start.
        take_tail = len(tail) < 2 * (len(head) + 1)
        role, text = cut[j] if take_tail else cut[i]
        if used + len(text) > budget:
            break
        used += len(text)
        if take_tail:
            tail.append((role, text))
            j -= 1
        else:
            head.append((role, text))
            i += 1
    return head + tail[::-1], len(cut) - len(head) - len(tail)


def context(defs: Definitions, campaign: dict[str, str], facts: ConversationFacts,
            turns: Sequence[tuple[str, str]]) -> tuple[dict[str, Any], int]:
    sent, omitted = fit(turns)
    return {
        "campaign": campaign,
        "goals": [{"field": defs.goal_key(i), "name": g.name, "description": g.description,
                   "is_primary": g.is_primary} for i, g in enumerate(defs.goals)],
        "questions": [{"field": defs.question_key(i), "name": q.name, "question": q.description or q.name,
                       "answer_type": q.type, "options": list(q.options),
                       "scale": {"min": q.scale_min, "max": q.scale_max} if q.type == "rating" else None,
                       "data_type": q.data_type} for i, q in enumerate(defs.questions)],
        "conversation": {"channel": facts.channel, "direction": facts.direction,
                         "answer_status": facts.answer_status, "duration_s": facts.duration_s,
                         "ended_reason": facts.ended_reason},
        "transcript": [{"speaker": SPEAKERS.get(role, role), "text": text} for role, text in sent],
        "omitted_turns": omitted,
    }, omitted


async def judge(defs: Definitions, campaign: dict[str, str], facts: ConversationFacts,
                turns: Sequence[tuple[str, str]], *, schema: AnswerSchema | None = None) -> Verdict:
    schema = schema or build_schema(defs)
    ctx, _ = context(defs, campaign, facts, turns)
    chat = render_chat(SYSTEM, USER, ctx)
    error = None
    try:
        result = await llm.complete(TASK, chat.messages(), schema=schema.model)
        fields = {k: getattr(result.parsed, k) for k in (*schema.goal_fields, *schema.question_fields)}
        model, tokens = result.model, (result.input_tokens, result.output_tokens, result.cost_usd)
    except llm.LLMOutputInvalid as exc:
        fields, problems = salvage(schema, exc.raw)
        error = f"the model's answer failed validation twice; recorded as unknown: {'; '.join(problems)}"[:2000]
        model, tokens = exc.model, (exc.input_tokens, exc.output_tokens, exc.cost_usd)
    transcript = Transcript(turns)
    goals = tuple(_goal(g.id, fields.get(key), transcript) for key, g in schema.goal_fields.items())
    answers = tuple(_answer(q.id, fields.get(key), transcript) for key, (q, _) in schema.question_fields.items())
    return Verdict(goals, answers, model or "", chat.version, *tokens, error=error)


_FENCE = re.compile(r"^\s*```(?:json)?\s*\n?(.*?)\n?```\s*$", re.DOTALL)


def salvage(schema: AnswerSchema, raw: str) -> tuple[dict[str, BaseModel | None], list[str]]:
    """Validate a twice-invalid answer field by field: the valid fields, and what failed."""
    fenced = _FENCE.match(raw or "")
    try:
        data = json.loads(fenced.group(1) if fenced else raw)
    except (TypeError, ValueError):
        return {}, ["not JSON"]
    if not isinstance(data, dict):
        return {}, ["not a JSON object"]
    fields: dict[str, BaseModel | None] = {}
    problems: list[str] = []
    checks: list[tuple[str, type[BaseModel]]] = [(k, GoalAnswer) for k in schema.goal_fields]
    checks += [(k, model) for k, (_, model) in schema.question_fields.items()]
    for key, model in checks:
        if key not in data:
            problems.append(f"{key}: missing")
            continue
        try:
            fields[key] = model.model_validate_json(json.dumps(data[key]))
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "(value)"
            problems.append(f"{key}.{where}: {first['msg']}")
    return fields, problems


_INVALID = "The model's answer for this was invalid twice; not determined."


def _checked(evidence: str | None, transcript: Transcript) -> tuple[str | None, bool]:
    if evidence is None or not evidence.strip():
        return None, True
    return (evidence, True) if transcript.supports(evidence) else (None, False)


def _goal(goal_id: str, answer: Any, transcript: Transcript) -> GoalVerdict:
    if answer is None:
        return GoalVerdict(goal_id, GoalOutcome.unknown, 0, _INVALID, None, supported=True, valid=False)
    evidence, supported = _checked(answer.evidence, transcript)
    return GoalVerdict(goal_id, answer.result, answer.score, answer.reason, evidence, supported, valid=True)


def _answer(analysis_id: str, answer: Any, transcript: Transcript) -> AnswerVerdict:
    if answer is None:
        return AnswerVerdict(analysis_id, None, _INVALID, None, supported=True, valid=False)
    evidence, supported = _checked(answer.evidence, transcript)
    return AnswerVerdict(analysis_id, jsonable(answer.value), answer.reason, evidence, supported, valid=True)
