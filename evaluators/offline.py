"""What the offline model answers as an evaluator: only what plain code can detect, else unknown.

It cannot tell whether a goal was met, so every goal is ``unknown`` (score 0) and says so. Of the
questions it answers only data points it can find verbatim in what the contact said (an email
address, a phone number), with that text as the evidence; everything else is ``null``.
"""

from __future__ import annotations

import re
from typing import Any

import phonenumbers

from agent import llm
from agent.prompting import read_data_blocks
from evaluators.answers import SCHEMA_TITLE

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
GOAL_REASON = "The offline model does not judge conversations; configure a model to evaluate goals."
UNKNOWN_REASON = "The offline model could not detect an answer in the transcript."


def _find(data_type: str | None, said: list[str]) -> str | None:
    for text in said:
        if data_type == "email" and (m := _EMAIL.search(text)):
            return m.group(0).rstrip(".")
        if data_type == "phone":
            for match in phonenumbers.PhoneNumberMatcher(text, "US"):
                return match.raw_string
    return None


def evaluate(messages: list[dict[str, Any]], schema: dict[str, Any]) -> dict[str, Any]:
    data = read_data_blocks("\n".join(m["content"] for m in messages if isinstance(m.get("content"), str)))
    said = [str(t.get("text", "")) for t in data.get("transcript") or [] if t.get("speaker") == "contact"]
    answer: dict[str, Any] = {}
    for goal in data.get("goals") or []:
        answer[goal["field"]] = {"result": "unknown", "score": 0, "reason": GOAL_REASON, "evidence": None}
    for q in data.get("questions") or []:
        found = _find(q.get("data_type"), said) if q.get("answer_type") == "data_point" else None
        answer[q["field"]] = ({"value": found, "reason": f"Stated by the contact: {found}.", "evidence": found}
                              if found else {"value": None, "reason": UNKNOWN_REASON, "evidence": None})
    return answer


llm.register_offline_responder(SCHEMA_TITLE, evaluate)
