"""Enrollment moves as data: the table's shape, and move_enrollment's compare-and-set and log."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sqlalchemy import func, select

from agent.db import session_scope
from agent.lifecycle.enrollments import MOVED, RefusedMove, move_enrollment, move_enrollments
from agent.models import ActivityEvent, Enrollment
from agent.states import (
    ENROLLMENT_FINAL,
    ENROLLMENT_SUBSTATUSES,
    ENROLLMENT_TRANSITIONS,
    PLANNER_REST,
    EnrollmentAction,
    EnrollmentStatus,
    Substatus,
)

E, A, S = EnrollmentStatus, EnrollmentAction, Substatus
ROOT = Path(__file__).resolve().parents[2]
PEOPLE = [{"name": f"P{i} Lee", "email": f"p{i}@example.com"} for i in range(3)]


def test_every_action_has_a_row_and_its_substatuses_belong_to_its_target():
    assert set(ENROLLMENT_TRANSITIONS) == set(EnrollmentAction)
    for action, move in ENROLLMENT_TRANSITIONS.items():
        allowed = ENROLLMENT_SUBSTATUSES.get(move.target, frozenset()) | {None}
        assert move.sources and move.substatuses <= allowed, action


def test_nothing_leaves_removed_and_final_statuses_are_left_only_by_removal():
    for action, move in ENROLLMENT_TRANSITIONS.items():
        assert E.removed not in move.sources, action
        if action == A.opt_out:  # a contact who replied and then says stop is opted out
            assert move.sources & ENROLLMENT_FINAL == {E.replied}
        elif action == A.retry:  # a person's Retry Contact reopens a finished one (never an opt-out)
            assert move.sources & ENROLLMENT_FINAL == {E.finished}
        elif action == A.remarket:  # a started remarketing channel reopens its audience
            assert move.sources & ENROLLMENT_FINAL == {E.finished, E.replied}
        elif move.sources & ENROLLMENT_FINAL:
            assert action == A.remove


def test_every_rest_the_planner_chooses_is_a_move_from_planning():
    for status, action in PLANNER_REST.items():
        move = ENROLLMENT_TRANSITIONS[action]
        assert move.target == status and E.planning in move.sources


async def _enrolled(client, admin) -> tuple[str, list[str]]:
    r = await client.post("/v1/campaigns", json={"name": "Moves", "channels": [{"kind": "email"}]}, headers=admin)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    r = await client.post(f"/v1/campaigns/{cid}/contacts", json={"contacts": PEOPLE}, headers=admin)
    assert r.json()["added"] == len(PEOPLE), r.text
    return cid, await _enrolled_ids(cid)


async def _enrolled_ids(cid: str) -> list[str]:
    async with session_scope() as s:
        return list((await s.execute(select(Enrollment.id).where(Enrollment.campaign_id == cid)
                                     .order_by(Enrollment.id))).scalars())


async def _moves(enrollment_id: str) -> list[dict]:
    async with session_scope() as s:
        return [e.payload for e in (await s.execute(select(ActivityEvent).where(
            ActivityEvent.enrollment_id == enrollment_id, ActivityEvent.kind == MOVED)
            .order_by(ActivityEvent.id))).scalars()]


async def test_a_move_compare_and_sets_and_logs_one_event(client, admin):
    _, (first, *_) = await _enrolled(client, admin)
    async with session_scope() as s:
        moved = await move_enrollment(s, first, A.claim, actor="key_x", payload={"run_id": "run_1"})
    assert moved is not None and (moved.before, moved.after, moved.version) == (E.not_started, E.planning, 2)
    async with session_scope() as s:
        row = (await s.execute(select(Enrollment).where(Enrollment.id == first))).scalar_one()
        event = (await s.execute(select(ActivityEvent).where(ActivityEvent.kind == MOVED))).scalar_one()
    assert (row.status, row.substatus, row.version) == ("planning", None, 2)
    assert event.payload == {"action": "claim", "from": "not_started", "to": "planning", "substatus": None,
                             "from_substatus": None, "run_id": "run_1"}
    assert (event.actor, event.enrollment_id, event.contact_id) == ("key_x", first, row.contact_id)


async def test_a_stale_row_moves_nothing_and_logs_nothing(client, admin):
    _, (first, *_) = await _enrolled(client, admin)
    async with session_scope() as s:
        seen = (await s.execute(select(Enrollment).where(Enrollment.id == first))).scalar_one()
    async with session_scope() as s:  # someone else moved it there and back meanwhile
        assert await move_enrollment(s, first, A.claim) is not None
        assert await move_enrollment(s, first, A.hold) is not None
    async with session_scope() as s:
        assert await move_enrollment(s, seen, A.remove) is None  # same status, but seen at version 1
    async with session_scope() as s:
        row = (await s.execute(select(Enrollment).where(Enrollment.id == first))).scalar_one()
    assert (row.status, row.version) == ("not_started", 3)
    assert [m["action"] for m in await _moves(first)] == ["claim", "hold"]


async def test_a_move_from_a_status_the_table_does_not_allow_writes_nothing(client, admin):
    _, (first, *_) = await _enrolled(client, admin)
    async with session_scope() as s:
        assert await move_enrollment(s, first, A.complete) is None  # complete needs waiting
        assert await move_enrollment(s, first, A.fail, substatus=S.model_error) is None  # needs planning/executing
        assert await move_enrollment(s, first, A.claim, only_from=E.waiting) is None  # narrowed by the caller
    async with session_scope() as s:
        row = (await s.execute(select(Enrollment).where(Enrollment.id == first))).scalar_one()
    assert (row.status, row.version) == ("not_started", 1) and await _moves(first) == []


@pytest.mark.parametrize("action, substatus", [(A.fail, None), (A.fail, S.retry), (A.claim, S.scheduled),
                                               (A.finish, S.system_error), (A.wait, S.scheduled)])
async def test_a_substatus_the_action_may_not_leave_is_refused(client, admin, action, substatus):
    _, (first, *_) = await _enrolled(client, admin)
    with pytest.raises(RefusedMove):
        async with session_scope() as s:
            await move_enrollment(s, first, action, substatus=substatus)
    assert await _moves(first) == []


async def test_a_bulk_move_takes_only_rows_still_in_its_source_status(client, admin):
    _, ids = await _enrolled(client, admin)
    async with session_scope() as s:
        await move_enrollment(s, ids[0], A.claim)
    async with session_scope() as s:
        moved = await move_enrollments(s, ids, A.remove, before=E.not_started, actor="key_y")
    assert sorted(m.enrollment_id for m in moved) == sorted(ids[1:])
    async with session_scope() as s:
        statuses = dict((await s.execute(select(Enrollment.id, Enrollment.status)
                                         .where(Enrollment.id.in_(ids)))).all())
        logged = (await s.execute(select(func.count()).select_from(ActivityEvent).where(
            ActivityEvent.kind == MOVED, ActivityEvent.actor == "key_y"))).scalar_one()
    assert statuses == {ids[0]: "planning", ids[1]: "removed", ids[2]: "removed"} and logged == 2
    with pytest.raises(RefusedMove):
        async with session_scope() as s:
            await move_enrollments(s, ids, A.complete, before=E.not_started)


async def test_moves_of_one_shape_share_one_statement_and_set_each_rows_own_values(client, admin):
    import datetime as dt

    from agent.lifecycle.enrollments import _move_statement

    _, ids = await _enrolled(client, admin)
    until = [dt.datetime(2030, 1, 1, 12, i, tzinfo=dt.UTC) for i in range(2)]
    async with session_scope() as s:
        first = (await s.execute(select(Enrollment).where(Enrollment.id == ids[0]))).scalar_one()
        await move_enrollment(s, first, A.claim, values={"lease_until": until[0]})
        hits = _move_statement.cache_info().hits
        await move_enrollment(s, ids[1], A.claim, values={"lease_until": until[1]})
        assert _move_statement.cache_info().hits == hits + 1  # built once for the shape
        assert (first.status, first.version, first.lease_until) == (E.planning, 2, until[0])  # the object in step
    async with session_scope() as s:
        rows = dict((await s.execute(select(Enrollment.id, Enrollment.lease_until)
                                     .where(Enrollment.id.in_(ids)))).all())
    assert [r.replace(tzinfo=dt.UTC) if r else r for r in (rows[ids[0]], rows[ids[1]], rows[ids[2]])] == [*until, None]


async def test_a_move_takes_sql_expressions_as_values_and_narrows_by_where(client, admin):
    _, (first, *_) = await _enrolled(client, admin)
    async with session_scope() as s:  # the narrowing condition holds no longer: nothing moves
        assert await move_enrollment(s, first, A.claim, where=Enrollment.attempts == 5,
                                     values={"attempts": Enrollment.attempts + 2}) is None
    async with session_scope() as s:
        moved = await move_enrollment(s, first, A.claim, where=Enrollment.attempts == 0,
                                      values={"attempts": Enrollment.attempts + 2})
    assert moved is not None and moved.version == 2
    async with session_scope() as s:
        row = (await s.execute(select(Enrollment).where(Enrollment.id == first))).scalar_one()
    assert (row.status, row.attempts, row.version) == ("planning", 2, 2)
    assert [m["action"] for m in await _moves(first)] == ["claim"]


async def test_a_move_writes_the_sessions_pending_changes_before_its_own(client, admin):
    """The UPDATE is a Core statement now; the session still flushes what is pending first, as it
    did for the ORM UPDATE (SQLAlchemy autoflushes before either)."""
    from agent.ids import new_id

    _, (first, second, _) = await _enrolled(client, admin)
    async with session_scope() as s:
        seen = (await s.execute(select(Enrollment).where(Enrollment.id == first))).scalar_one()
        other = (await s.execute(select(Enrollment).where(Enrollment.id == second))).scalar_one()
        other.attempts = 4
        pending = ActivityEvent(id=new_id("evt"), workspace_id=other.workspace_id, actor="key_x",
                                kind="test.pending", payload={})
        s.add(pending)
        assert await move_enrollment(s, seen, A.claim) is not None  # no read of its own first
        assert pending not in s.new and other not in s.dirty  # flushed before the UPDATE
    async with session_scope() as s:
        assert (await s.get(Enrollment, second)).attempts == 4


def _sources() -> list[Path]:
    return [p for pkg in ("agent", "review", "planner", "evaluators", "api") for p in sorted((ROOT / pkg).rglob("*.py"))
            if "migrations" not in p.parts]


def test_only_the_lifecycle_writes_enrollment_rows():
    offenders = []
    for path in _sources():
        if path.parent.name == "lifecycle":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "update"
                    and node.args and isinstance(node.args[0], ast.Name) and node.args[0].id == "Enrollment"):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, "update(Enrollment) outside agent/lifecycle: " + ", ".join(offenders)
    assert len(_sources()) > 50


def _status_like(node: ast.AST) -> bool:
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
    return name in {"status", "substatus", "answer_status"} or name.endswith("_status")


def _words(node: ast.AST) -> bool:
    items = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else [node]
    return any(isinstance(i, ast.Constant) and isinstance(i.value, str) for i in items)


def test_no_status_is_compared_with_an_inline_string_outside_the_state_module():
    offenders = []
    for path in _sources():
        if path == ROOT / "agent" / "states.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                sides = [node.left, *node.comparators]
                if any(_status_like(a) for a in sides) and any(_words(b) for b in sides):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, "status compared with a string literal: " + ", ".join(offenders)


async def _seen_then_moved_by_another(s, cid: str, enrollment_id: str, moves=(A.claim,)):
    """The session ``s`` reads the campaign and the enrollment (returned, so that ``s`` keeps
    holding what it saw); then another transaction claims the enrollment (the planner taking
    it, or taking it on to a send with ``moves``) before ``s`` writes anything."""
    from agent.contacts import repository
    from agent.models import Campaign

    campaign = (await s.execute(select(Campaign).where(Campaign.id == cid))).scalar_one()
    enrollment, _ = await repository.get_enrollment(s, cid, (await s.get(Enrollment, enrollment_id)).contact_id)
    assert enrollment.version == 1
    async with session_scope() as other:
        for move in moves:
            assert await move_enrollment(other, enrollment_id, move) is not None
    return campaign, enrollment


async def test_a_removal_that_loses_its_compare_and_set_to_the_planner_reads_again_and_removes(client, admin):
    from agent.contacts.service import remove_contact

    cid, (first, *_) = await _enrolled(client, admin)
    async with session_scope() as s:
        campaign, seen = await _seen_then_moved_by_another(s, cid, first)
        await remove_contact(s, campaign, seen.contact_id, actor="key_x")
    async with session_scope() as s:
        row = (await s.execute(select(Enrollment).where(Enrollment.id == first))).scalar_one()
    assert (row.status, row.version) == ("removed", 3)
    assert [(m["action"], m["from"]) for m in await _moves(first)] == [("claim", "not_started"), ("remove", "planning")]


async def test_a_persons_move_after_a_lost_race_is_decided_from_the_new_status(client, admin):
    from agent.contacts.fix import act
    from agent.errors import InvalidTransition
    from agent.states import ContactAction

    cid, (first, *_) = await _enrolled(client, admin)
    async with session_scope() as s:
        campaign, seen = await _seen_then_moved_by_another(s, cid, first, moves=(A.claim, A.draft, A.execute))
        # Seen as not_started, where disable is allowed; now a send is in flight, where it is not.
        with pytest.raises(InvalidTransition, match="executing"):
            await act(s, campaign, seen.contact_id, ContactAction.disable, actor="key_x")
    async with session_scope() as s:
        campaign, seen = await _seen_then_moved_by_another(s, cid, (await _enrolled_ids(cid))[1])
        assert (await act(s, campaign, seen.contact_id, ContactAction.disable, actor="key_x")).status == "disabled"


async def test_moves_of_seen_rows_share_one_statement_per_shape_and_check_each_rows_version(client, admin):
    from agent.lifecycle.enrollments import _seen_statement, move_seen_enrollments

    attempts = Enrollment.__table__.c.attempts + 1  # one object: part of the statement's shape
    cid, ids = await _enrolled(client, admin)
    async with session_scope() as s:
        rows = list((await s.execute(select(Enrollment).where(Enrollment.id.in_(ids)))).scalars())
    rows.sort(key=lambda e: ids.index(e.id))
    async with session_scope() as s:  # the third changed since it was read: it stays as it is
        await s.execute(Enrollment.__table__.update().where(Enrollment.id == ids[2]).values(version=9))
    hits = _seen_statement.cache_info().hits
    for row in rows:
        async with session_scope() as s:
            s.add(row)
            await move_seen_enrollments(s, [row], EnrollmentAction.claim, values={"attempts": attempts, "lease_until": None})
    assert _seen_statement.cache_info().hits >= hits + len(rows) - 1
    async with session_scope() as s:
        after = {e.id: e for e in (await s.execute(select(Enrollment).where(Enrollment.id.in_(ids)))).scalars()}
    assert [(after[i].status, after[i].attempts) for i in ids[:2]] == [("planning", 1), ("planning", 1)]
    assert (after[ids[2]].status, after[ids[2]].attempts, after[ids[2]].version) == ("not_started", 0, 9)
