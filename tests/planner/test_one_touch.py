"""The planner's one-touch rule of one-time campaigns, on its own (no database): where the contact
rests after its touch, and that a follow-up campaign or an untouched contact is left to the sequence."""

from __future__ import annotations

import datetime as dt

import pytest

from agent.states import EnrollmentStatus as E
from agent.states import Substatus as S
from planner import rules
from planner.state import GoalOutcome
from tests.planner.test_graph import NOW, context

AFTER_WINDOW = NOW - dt.timedelta(hours=2)  # the default contact completion timeout is 1 hour


@pytest.mark.parametrize("touch, substatus", [("message", S.no_response), ("call", S.max_attempts)])
def test_a_touched_one_time_contact_finishes_after_the_reply_window(touch, substatus):
    outcome = rules.eligibility(context(campaign_type="one_time", touch=touch, attempts=1,
                                        last_attempt_at=AFTER_WINDOW))
    assert outcome is not None and (outcome.status, outcome.substatus) == (E.finished, substatus)


def test_inside_the_reply_window_it_waits_until_the_window_ends():
    sent = NOW - dt.timedelta(minutes=20)
    outcome = rules.eligibility(context(campaign_type="one_time", touch="message", attempts=1, last_attempt_at=sent))
    assert (outcome.status, outcome.substatus) == (E.waiting, S.scheduled)
    assert outcome.next_attempt_at == sent + dt.timedelta(hours=1)


def test_an_achieved_goal_completes_a_one_time_contact_rather_than_finishing_it():
    goal = GoalOutcome(name="Booked", is_primary=True, result="achieved", reason="")
    outcome = rules.eligibility(context(campaign_type="one_time", touch="call", attempts=1,
                                        last_attempt_at=AFTER_WINDOW, goal_outcomes=[goal]))
    assert outcome.status == E.completed


@pytest.mark.parametrize("values", [{"campaign_type": "follow_up", "touch": "message"},
                                    {"campaign_type": "one_time", "touch": None}])
def test_a_follow_up_campaign_or_an_untouched_contact_plans_its_next_attempt(values):
    assert rules.eligibility(context(attempts=1, last_attempt_at=AFTER_WINDOW, **values)) is None
