"""The typed answer schema of one campaign: a pydantic model built from its goals and questions.

Each goal becomes a field ``goal_<n>`` holding a result word, a 0-100 score, a reason and an
evidence quote; each analysis question a field ``question_<n>`` whose ``value`` has the
question's own type (a bool; one of the options; a subset of them; text; an int on the scale;
a value of the data point's type) or ``null`` when the conversation does not tell. Fields are
strict: ``"yes"`` is not a bool and ``4.0`` is not a rating. The whole model goes to the model
as a JSON schema in ONE call; the per-field models validate a partly broken answer field by field.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import phonenumbers
from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, create_model

from agent.states import GoalResultValue

REASON_MAX = 600
EVIDENCE_MAX = 600
OPEN_MAX = 2000
SCHEMA_TITLE = "ConversationEvaluation"


GoalOutcome = GoalResultValue

# Best first: the roll-up keeps the best result any conversation reached.
OUTCOME_RANK = {GoalOutcome.achieved: 3, GoalOutcome.partially_achieved: 2, GoalOutcome.not_achieved: 1,
                GoalOutcome.unknown: 0}


@dataclass(frozen=True, slots=True)
class GoalDef:
    id: str
    name: str
    description: str
    is_primary: bool


@dataclass(frozen=True, slots=True)
class QuestionDef:
    id: str
    name: str
    description: str
    type: str  # yes_no, single_choice, multiple_choice, open, rating, data_point
    options: tuple[str, ...] = ()
    scale_min: int | None = None
    scale_max: int | None = None
    data_type: str | None = None  # text, number, date, email, phone


@dataclass(frozen=True, slots=True)
class Definitions:
    goals: tuple[GoalDef, ...]
    questions: tuple[QuestionDef, ...]

    def goal_key(self, i: int) -> str:
        return f"goal_{i + 1}"

    def question_key(self, i: int) -> str:
        return f"question_{i + 1}"

    @property
    def empty(self) -> bool:
        return not self.goals and not self.questions


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


Reason = Annotated[str, Field(max_length=REASON_MAX, description="One or two sentences on why, for a reviewer.")]
Evidence = Annotated[str | None, Field(max_length=EVIDENCE_MAX, description=(
    "A short quote copied word for word from the transcript that supports the answer; null if none."))]


class GoalAnswer(_Strict):
    result: GoalOutcome = Field(description="achieved, partially_achieved, not_achieved, or unknown when the "
                                            "conversation does not show it either way")
    score: int = Field(ge=0, le=100, description="How fully the goal was met, 0-100 (0 when unknown)")
    reason: Reason
    evidence: Evidence = None


def _phone(value: str) -> str:
    try:
        number = phonenumbers.parse(value, None if value.startswith("+") else "US")
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {exc}") from None
    if not phonenumbers.is_possible_number(number):
        raise ValueError("not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_DATA_TYPES: dict[str, Any] = {
    "text": Annotated[str, Field(min_length=1, max_length=OPEN_MAX)],
    "number": float,
    "date": dt.date,
    "email": EmailStr,
    "phone": Annotated[str, Field(min_length=3, max_length=40), AfterValidator(_phone)],
}


def _unique(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("an option is chosen more than once")
    return values


def value_type(q: QuestionDef) -> Any:
    """The Python type of a question's answer value (``None`` always allowed: not determinable)."""
    if q.type == "yes_no":
        return bool
    if q.type == "single_choice":
        return Literal[q.options]  # type: ignore[valid-type]
    if q.type == "multiple_choice":
        return Annotated[list[Literal[q.options]], AfterValidator(_unique)]  # type: ignore[valid-type]
    if q.type == "open":
        return Annotated[str, Field(min_length=1, max_length=OPEN_MAX)]
    if q.type == "rating":
        return Annotated[int, Field(ge=q.scale_min, le=q.scale_max)]
    if q.type == "data_point":
        return _DATA_TYPES[q.data_type or "text"]
    raise ValueError(f"unknown question type {q.type!r}")


def _describe(q: QuestionDef) -> str:
    kind = {
        "yes_no": "true or false",
        "single_choice": "exactly one of the options",
        "multiple_choice": "every option that applies (a list, possibly empty)",
        "open": "a short free-text answer",
        "rating": f"an integer from {q.scale_min} to {q.scale_max}",
        "data_point": f"the {q.data_type or 'text'} value stated in the conversation"
                      + (" (ISO date, YYYY-MM-DD)" if q.data_type == "date" else ""),
    }[q.type]
    return f"Answer: {kind}; null when the conversation does not tell."


def answer_model(q: QuestionDef, name: str) -> type[BaseModel]:
    return create_model(name, __base__=_Strict, value=(value_type(q) | None, Field(description=_describe(q))),
                        reason=(Reason, ...), evidence=(Evidence, None))


@dataclass(frozen=True)
class AnswerSchema:
    """The whole answer model and, per field, the model that validates that field alone."""

    definitions: Definitions
    model: type[BaseModel]
    goal_fields: dict[str, GoalDef]
    question_fields: dict[str, tuple[QuestionDef, type[BaseModel]]]


def build_schema(defs: Definitions) -> AnswerSchema:
    fields: dict[str, Any] = {}
    goal_fields: dict[str, GoalDef] = {}
    question_fields: dict[str, tuple[QuestionDef, type[BaseModel]]] = {}
    for i, g in enumerate(defs.goals):
        key = defs.goal_key(i)
        goal_fields[key] = g
        label = "Primary goal" if g.is_primary else "Secondary goal"
        fields[key] = (GoalAnswer, Field(description=f"{label} {i + 1}: {g.name}"))
    for i, q in enumerate(defs.questions):
        key = defs.question_key(i)
        model = answer_model(q, f"Question{i + 1}")
        question_fields[key] = (q, model)
        fields[key] = (model, Field(description=f"Question {i + 1}: {q.name}"))
    model = create_model(SCHEMA_TITLE, __base__=_Strict, **fields)
    return AnswerSchema(defs, model, goal_fields, question_fields)


def jsonable(value: Any) -> Any:
    """An answer value as stored and served (dates as ISO strings)."""
    return value.isoformat() if isinstance(value, dt.date) else value
