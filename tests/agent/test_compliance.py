"""Where the contact is decides the rules: the stricter states, and the zones of a number."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from agent import compliance
from agent.scheduling import Window, contact_window, is_allowed, next_allowed


def contact(phone=None, timezone=None, **properties):
    return SimpleNamespace(phone=phone, timezone=timezone, properties=properties)


@pytest.mark.parametrize("phone, state", [("+13055550100", "FL"), ("+18135550123", "FL"), ("+14055550100", "OK"),
                                          ("+14105550100", "MD"), ("+12125550100", None), ("+442071838750", None),
                                          (None, None), ("not a number", None)])
def test_the_state_comes_from_the_area_code(phone, state):
    assert compliance.strict_state(contact(phone)) == state


def test_the_contacts_own_state_wins_over_the_area_code():
    assert compliance.strict_state(contact("+12125550100", state="Florida")) == "FL"
    assert compliance.strict_state(contact("+12125550100", state="md")) == "MD"
    assert compliance.strict_state(contact("+13055550100", state="NY")) is None  # moved away, kept the number


def test_a_number_spanning_two_zones_is_held_to_both_quiet_hours():
    assert compliance.number_zones("+12085550100") == ("America/Boise", "America/Los_Angeles")
    campaign = SimpleNamespace(timezone="America/New_York", schedule=None, hours=None)  # Campaign.hours: none linked
    window = contact_window(campaign, contact("+12085550100"))
    boise = ZoneInfo("America/Boise")
    at_830_boise = dt.datetime(2026, 12, 7, 8, 30, tzinfo=boise)  # 07:30 in Los Angeles: still quiet there
    assert not is_allowed(at_830_boise, window)
    assert next_allowed(at_830_boise, window) == dt.datetime(2026, 12, 7, 9, 0, tzinfo=boise)
    # 21:30 in Boise is 20:30 in Los Angeles: Boise's evening closes it.
    assert not is_allowed(dt.datetime(2026, 12, 7, 21, 30, tzinfo=boise), window)
    # The contact's own zone, when known, is the one that counts.
    own = contact_window(campaign, contact("+12085550100", timezone="America/Los_Angeles"))
    assert is_allowed(dt.datetime(2026, 12, 7, 21, 30, tzinfo=boise), own)


def test_the_stricter_states_close_at_eight_in_the_evening():
    campaign = SimpleNamespace(timezone="America/New_York", schedule=None, hours=None)  # Campaign.hours: none linked
    ny = ZoneInfo("America/New_York")
    florida = contact_window(campaign, contact("+13055550100", timezone="America/New_York"))
    new_york = contact_window(campaign, contact("+12125550100", timezone="America/New_York"))
    at_2030 = dt.datetime(2026, 12, 7, 20, 30, tzinfo=ny)
    assert not is_allowed(at_2030, florida) and is_allowed(at_2030, new_york)
    assert next_allowed(at_2030, florida) == dt.datetime(2026, 12, 8, 8, 0, tzinfo=ny)
    assert is_allowed(dt.datetime(2026, 12, 7, 19, 59, tzinfo=ny), florida)


@pytest.mark.parametrize("zone, local, allowed", [
    ("America/Los_Angeles", dt.time(7, 59), False), ("America/Los_Angeles", dt.time(8, 0), True),
    ("Pacific/Honolulu", dt.time(20, 59), True), ("Pacific/Honolulu", dt.time(21, 0), False),
    ("Asia/Kolkata", dt.time(8, 15), True), ("Asia/Kolkata", dt.time(21, 30), False),
    ("Asia/Kathmandu", dt.time(7, 45), False), ("Asia/Kathmandu", dt.time(12, 45), True),
])
def test_quiet_hours_hold_in_the_contacts_own_zone(zone, local, allowed):
    window = Window(contact_tz=zone, campaign_tz="America/New_York", business_hours=None)
    instant = dt.datetime.combine(dt.date(2026, 12, 7), local, ZoneInfo(zone))
    assert is_allowed(instant, window) is allowed
