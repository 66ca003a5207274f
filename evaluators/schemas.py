"""Pydantic shapes of a campaign's goals and analyses at the edge, and the rules an analysis's
definition obeys whatever way it was built (a create, or a PATCH applied to a stored row)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from agent.errors import ValidationFailed
from agent.states import AnalysisType, DataPointType

NAME_MAX, DESCRIPTION_MAX = 200, 4000
OPTIONS_MIN, OPTIONS_MAX = 2, 50
SCALE_LIMIT = 1000

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX)]
Description = Annotated[str, StringConstraints(max_length=DESCRIPTION_MAX)]
Option = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX)]
ScaleBound = Annotated[int, Field(ge=-SCALE_LIMIT, le=SCALE_LIMIT)]


CHOICE_TYPES = frozenset({AnalysisType.single_choice, AnalysisType.multiple_choice})
# Each type-specific field and the analysis types that have it (required there, refused elsewhere).
TYPE_FIELDS: dict[str, frozenset[AnalysisType]] = {
    "options": CHOICE_TYPES,
    "scale_min": frozenset({AnalysisType.rating}),
    "scale_max": frozenset({AnalysisType.rating}),
    "data_type": frozenset({AnalysisType.data_point}),
}


def _not_null(value: object) -> object:
    # Runs only for fields the request names, so an omitted field stays "unchanged" while an
    # explicit null is refused with the field's own loc.
    if value is None:
        raise ValueError("may not be null")
    return value


# --- goals --------------------------------------------------------------------------


class GoalCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    description: Description = ""
    is_primary: bool = Field(False, description="Make it the campaign's primary goal (the first goal always is)")


class GoalUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    description: Description | None = None
    is_primary: bool | None = Field(None, description="true makes it primary and demotes the old primary; "
                                                      "false on the primary is refused (promote another instead)")

    _present = field_validator("name", "description", "is_primary")(_not_null)


class GoalOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    campaign_id: str
    name: str
    description: str
    is_primary: bool
    archived_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class GoalList(BaseModel):
    items: list[GoalOut]


# --- analyses -----------------------------------------------------------------------


class AnalysisDefinition(BaseModel):
    """The fields that together must make sense for the type."""

    type: AnalysisType
    options: list[Option] | None = Field(None, max_length=OPTIONS_MAX,
                                         description="single_choice and multiple_choice only: 2-50 distinct options")
    scale_min: ScaleBound | None = Field(None, description="rating only, below scale_max")
    scale_max: ScaleBound | None = Field(None, description="rating only, above scale_min")
    data_type: DataPointType | None = Field(None, description="data_point only")

    def check(self) -> None:
        """Raise ValidationFailed naming every field that does not fit the type."""
        errors: list[dict[str, Any]] = []
        for field, types in TYPE_FIELDS.items():
            value = getattr(self, field)
            if self.type in types and value is None:
                errors.append({"loc": ["body", field], "message": f"a {self.type.value} analysis needs {field}"})
            elif self.type not in types and value is not None:
                owners = " or ".join(sorted(t.value for t in types))
                errors.append({"loc": ["body", field], "message": f"only a {owners} analysis has {field}"})
        if self.type in CHOICE_TYPES and self.options is not None:
            errors.extend(_option_errors(self.options))
        if self.scale_min is not None and self.scale_max is not None and self.scale_min >= self.scale_max:
            errors.append({"loc": ["body", "scale_max"], "message": "must be greater than scale_min"})
        if errors:
            first = errors[0]
            raise ValidationFailed(f"{'.'.join(str(p) for p in first['loc'])}: {first['message']}", errors=errors)


def _option_errors(options: list[str]) -> list[dict[str, Any]]:
    if len(options) < OPTIONS_MIN:
        return [{"loc": ["body", "options"], "message": f"give at least {OPTIONS_MIN} options"}]
    errors: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for i, option in enumerate(options):
        # "Yes" and "yes" are one answer to the judge, so they are one option.
        key = option.casefold()
        if key in seen:
            errors.append({"loc": ["body", "options", i], "message": f"repeats option {seen[key]} ({option!r})"})
        else:
            seen[key] = i
    return errors


class AnalysisCreate(AnalysisDefinition):
    model_config = ConfigDict(extra="forbid")
    name: Name
    description: Description = Field("", description="The question put to the evaluator")
    active: bool = Field(True, description="Inactive analyses are kept but not asked")


class AnalysisUpdate(BaseModel):
    """Fields left out keep their values; a type change drops the old type's fields unless named."""

    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    description: Description | None = None
    active: bool | None = None
    type: AnalysisType | None = None
    options: list[Option] | None = Field(None, max_length=OPTIONS_MAX)
    scale_min: ScaleBound | None = None
    scale_max: ScaleBound | None = None
    data_type: DataPointType | None = None

    _present = field_validator("name", "description", "active", "type")(_not_null)


class AnalysisOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    campaign_id: str
    name: str
    description: str
    type: AnalysisType
    options: list[str] | None
    scale_min: int | None
    scale_max: int | None
    data_type: DataPointType | None
    active: bool
    archived_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class AnalysisList(BaseModel):
    items: list[AnalysisOut]
