"""docs/statuses.md against the code: every documented enrollment status and substatus is in the
state tables, and is either set by some code (and reached by a test) or marked not applicable
with its reason; none is vocabulary only."""

from __future__ import annotations

import re
from pathlib import Path

from agent.states import ENROLLMENT_SUBSTATUSES, ENROLLMENT_TRANSITIONS, PLANNER_REST, EnrollmentStatus, Substatus

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "statuses.md"
SOURCES = [p for d in ("agent", "planner", "review", "evaluators", "api") for p in (ROOT / d).rglob("*.py")
           if p != ROOT / "agent" / "states.py" and "migrations" not in p.parts]
TESTS = [p for p in (ROOT / "tests").rglob("*.py") if p.name not in {Path(__file__).name, "test_states.py",
                                                                      "test_status_columns.py"}]


def _section(text: str, title: str) -> str:
    start = text.index(title)
    end = text.find("\n#", start + len(title))
    return text[start:end if end != -1 else None]


def _rows(section: str) -> list[list[str]]:
    """A section's table body rows as cells (the header, the row above ``|---|``, left out)."""
    lines = section.splitlines()
    return [[c.strip() for c in line.strip().strip("|").split("|")] for i, line in enumerate(lines)
            if line.startswith("| `") and not (i + 1 < len(lines) and lines[i + 1].startswith("|---"))]


def _words(cell: str) -> list[str]:
    return re.findall(r"`([a-z_/]+)`", cell)


DOC_TEXT = DOC.read_text()
ENROLLMENT_TABLE = _rows(_section(DOC_TEXT, "## 1. Enrollment statuses"))
GLOSSARY = _rows(_section(DOC_TEXT, "### Substatus glossary"))
NOT_PRODUCED = {word: row[1] for row in _rows(_section(DOC_TEXT, "### Not produced by Overture"))
                for word in _words(row[0])}


def _references(enum: str) -> set[str]:
    """Member names of ``enum`` that source code outside the state module names (``Enum.x``, or an
    alias such as ``S = Substatus``)."""
    found: set[str] = set()
    for path in SOURCES:
        text = path.read_text()
        aliases = {enum, *re.findall(rf"\b{enum} as (\w+)", text)}
        # ``S = Substatus`` and ``E, S = EnrollmentStatus, Substatus``
        for names, values in re.findall(r"^([A-Za-z_, ]+) = ([A-Za-z_, ]+)$", text, re.M):
            pairs = zip([n.strip() for n in names.split(",")], [v.strip() for v in values.split(",")])
            aliases |= {n for n, v in pairs if v == enum}
        for alias in aliases:
            found.update(re.findall(rf"\b{alias}\.(\w+)", text))
    return found


def _set_by_code() -> set[str]:
    """Every ``status`` and ``status/substatus`` some code can leave an enrollment in."""
    actions = _references("EnrollmentAction") | _references("EA")
    if any("PLANNER_REST[" in p.read_text() for p in SOURCES):
        actions |= {a.value for a in PLANNER_REST.values()}
    statuses = {ENROLLMENT_TRANSITIONS[a].target.value for a in ENROLLMENT_TRANSITIONS if a.value in actions}
    named = _references("Substatus")
    pairs = {f"{status.value}/{sub.value}" for status, subs in ENROLLMENT_SUBSTATUSES.items() for sub in subs
             if sub.value in named and status.value in statuses}
    return statuses | pairs


def _documented() -> set[str]:
    out: set[str] = set()
    for row in ENROLLMENT_TABLE:
        status = _words(row[0])[0]
        out |= {status} | {f"{status}/{sub}" for sub in _words(row[1])}
    return out


def test_documented_statuses_and_substatuses_are_exactly_the_state_tables():
    documented = {_words(row[0])[0]: set(_words(row[1])) for row in ENROLLMENT_TABLE}
    assert set(documented) == {s.value for s in EnrollmentStatus}
    for status, subs in documented.items():
        assert subs == {s.value for s in ENROLLMENT_SUBSTATUSES.get(EnrollmentStatus(status), frozenset())}, status
    glossary = {_words(row[0])[0]: _words(row[1])[0] for row in GLOSSARY}
    assert set(glossary) == {s.value for s in Substatus}
    assert all(sub in documented[under] for sub, under in glossary.items()), glossary


def test_every_documented_value_is_set_by_some_code_or_marked_not_applicable():
    set_by_code = _set_by_code()
    vocabulary_only = sorted(_documented() - set_by_code - set(NOT_PRODUCED))
    assert not vocabulary_only, f"set by no code and not marked n/a in docs/statuses.md: {vocabulary_only}"


def test_values_marked_not_applicable_are_documented_say_why_and_are_really_not_set():
    assert NOT_PRODUCED, "the doc's 'Not produced by Overture' table is empty or missing"
    assert set(NOT_PRODUCED) <= _documented(), sorted(set(NOT_PRODUCED) - _documented())
    assert all(reason.startswith("n/a:") and len(reason) > 20 for reason in NOT_PRODUCED.values()), NOT_PRODUCED
    set_by_code = _set_by_code()
    assert not set_by_code & set(NOT_PRODUCED), sorted(set_by_code & set(NOT_PRODUCED))


def test_every_value_code_sets_is_reached_by_some_test():
    texts = "\n".join(p.read_text() for p in TESTS)
    unreached = []
    for value in sorted(_set_by_code()):
        word = value.split("/")[-1]
        if not re.search(rf"[\"'.]{word}\b", texts):
            unreached.append(value)
    assert not unreached, f"set by code but named by no test: {unreached}"
