"""The status-list filter every list endpoint reads (``status=a,b``)."""

import pytest

from agent.errors import ValidationFailed
from agent.filters import parse_statuses
from agent.states import CampaignStatus, OutreachStatus


def test_comma_separated_words_become_enum_members_in_order():
    parsed = parse_statuses(" paused, active ,", CampaignStatus)
    assert parsed == [CampaignStatus.paused, CampaignStatus.active]
    assert all(type(s) is CampaignStatus for s in parsed)


def test_no_value_means_no_filter_and_only_commas_mean_no_status():
    assert parse_statuses(None, CampaignStatus) is None
    assert parse_statuses("", CampaignStatus) is None
    assert parse_statuses(" , ", CampaignStatus) == []


def test_unknown_word_is_a_422_on_the_status_parameter_naming_the_first_one():
    with pytest.raises(ValidationFailed) as caught:
        parse_statuses("approved,sending,nope", OutreachStatus, noun="outreach status")
    assert caught.value.status == 422 and caught.value.code == "validation_error"
    assert caught.value.detail == "unknown outreach status 'sending'"
    assert caught.value.errors == [{"loc": ["query", "status"], "message": "unknown status"}]
