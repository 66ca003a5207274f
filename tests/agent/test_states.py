"""The campaign and channel tables in ``agent.states``, checked as data."""

from itertools import product

import pytest

from agent.states import (
    CAMPAIGN_CHANNEL_EFFECT,
    CAMPAIGN_FINAL,
    CAMPAIGN_TRANSITIONS,
    SYSTEM_CAMPAIGN_ACTIONS,
    CHANNEL_ACTION_CAMPAIGN_STATES,
    CHANNEL_FINAL,
    CHANNEL_TRANSITIONS,
    CampaignAction,
    CampaignStatus,
    ChannelAction,
    ChannelStatus,
    campaign_status_from_channels,
)

C, H = CampaignStatus, ChannelStatus
LIVE = [C.active, C.paused]


# --- campaign_status_from_channels ----------------------------------------------


@pytest.mark.parametrize("current", [C.completed, C.cancelled, C.archived])
@pytest.mark.parametrize("channels", [[H.running], [H.paused], [H.stopped], [H.ready, H.running]])
def test_final_campaign_keeps_its_status_whatever_its_channels(current, channels):
    assert campaign_status_from_channels(current, channels) == current


@pytest.mark.parametrize("current", list(C))
def test_campaign_without_channels_keeps_its_status(current):
    assert campaign_status_from_channels(current, []) == current


@pytest.mark.parametrize("current", [C.draft, C.active, C.paused])
@pytest.mark.parametrize("others", [[], [H.ready], [H.paused], [H.stopped], [H.completed], [H.paused, H.stopped]])
def test_any_running_channel_makes_a_live_or_draft_campaign_active(current, others):
    assert campaign_status_from_channels(current, [*others, H.running]) == C.active


@pytest.mark.parametrize("channels", [[H.ready], [H.paused], [H.stopped], [H.completed], [H.stopped, H.stopped],
                                      [H.paused, H.ready], [H.completed, H.stopped]])
def test_draft_without_a_running_channel_stays_draft(channels):
    assert campaign_status_from_channels(C.draft, channels) == C.draft


@pytest.mark.parametrize("current", LIVE)
@pytest.mark.parametrize("others", [[], [H.ready], [H.stopped], [H.completed], [H.paused]])
def test_paused_channel_without_a_running_one_pauses_a_live_campaign(current, others):
    assert campaign_status_from_channels(current, [H.paused, *others]) == C.paused


@pytest.mark.parametrize("current", LIVE)
@pytest.mark.parametrize("channels", [[H.stopped], [H.completed], [H.stopped, H.completed], [H.completed] * 3])
def test_every_channel_final_completes_a_live_campaign(current, channels):
    # Stopping every channel completes the campaign; only the campaign's cancel gives cancelled.
    assert campaign_status_from_channels(current, channels) == C.completed


@pytest.mark.parametrize("current", LIVE)
@pytest.mark.parametrize("channels", [[H.ready], [H.ready, H.ready], [H.ready, H.stopped], [H.ready, H.completed]])
def test_live_campaign_with_only_ready_or_final_channels_keeps_its_status(current, channels):
    assert campaign_status_from_channels(current, channels) == current


def test_channels_never_take_a_campaign_to_cancelled_archived_or_draft():
    reached = {campaign_status_from_channels(current, list(mix))
               for current in (C.active, C.paused) for n in (1, 2, 3) for mix in product(list(H), repeat=n)}
    assert reached == {C.active, C.paused, C.completed}


# --- the tables -----------------------------------------------------------------


def test_every_campaign_channel_effect_is_a_channel_action_with_a_transition():
    # A system move (remarket) is itself the effect of a channel's start: it moves no channel.
    assert set(CAMPAIGN_CHANNEL_EFFECT) == set(CampaignAction) - SYSTEM_CAMPAIGN_ACTIONS
    for action, effect in CAMPAIGN_CHANNEL_EFFECT.items():
        assert isinstance(effect, ChannelAction), action
        assert effect in CHANNEL_TRANSITIONS, action


def test_every_action_has_a_transition_and_a_campaign_gate():
    assert set(CAMPAIGN_TRANSITIONS) == set(CampaignAction)
    assert set(CHANNEL_TRANSITIONS) == set(ChannelAction) == set(CHANNEL_ACTION_CAMPAIGN_STATES)


def test_nothing_returns_a_campaign_to_draft():
    assert all(to != C.draft for _, to in CAMPAIGN_TRANSITIONS.values())
    # and a draft only leaves by going live, or for good (cancel, archive)
    leaving_draft = {a: to for a, (allowed, to) in CAMPAIGN_TRANSITIONS.items() if C.draft in allowed}
    assert leaving_draft == {CampaignAction.go_live: C.active, CampaignAction.cancel: C.cancelled,
                             CampaignAction.archive: C.archived}


def test_archived_campaign_allows_no_action_and_final_channels_allow_none():
    assert not [a for a, (allowed, _) in CAMPAIGN_TRANSITIONS.items() if C.archived in allowed]
    assert not [a for a, (allowed, _) in CHANNEL_TRANSITIONS.items() if allowed & CHANNEL_FINAL]


def test_final_campaigns_only_move_to_archived_or_a_completed_one_to_remarketing():
    for action, (allowed, to) in CAMPAIGN_TRANSITIONS.items():
        if action == CampaignAction.remarket:  # seed 002: a completed campaign runs again for a new channel
            assert (allowed, to) == ({C.completed}, C.active)
        elif allowed & CAMPAIGN_FINAL:
            assert action == CampaignAction.archive and to == C.archived


def test_stopped_is_the_target_of_stop_only():
    assert [a for a, (_, to) in CHANNEL_TRANSITIONS.items() if to == H.stopped] == [ChannelAction.stop]


def _apply(action: CampaignAction, channels: tuple[ChannelStatus, ...]) -> list[ChannelStatus]:
    allowed, to = CHANNEL_TRANSITIONS[CAMPAIGN_CHANNEL_EFFECT[action]]
    return [to if s in allowed else s for s in channels]


def _can_hold(status: CampaignStatus, channels: tuple[ChannelStatus, ...]) -> bool:
    """Channel mixes a campaign in ``status`` can reach through the lifecycle."""
    all_final = all(s in CHANNEL_FINAL for s in channels)
    if status == C.draft:  # nothing has run yet; a channel may have been stopped before go-live
        return all(s in (H.ready, H.stopped) for s in channels)
    if status == C.active:  # without a running channel a paused one would have paused it
        return not all_final and (H.running in channels or H.paused not in channels)
    if status == C.paused:
        return not all_final and H.running not in channels
    return True


@pytest.mark.parametrize("action", [CampaignAction.go_live, CampaignAction.pause, CampaignAction.resume])
def test_campaign_move_leaves_its_channels_agreeing_with_its_new_status(action):
    """After go-live/pause/resume the campaign is what its channels imply, for every reachable mix.

    Going live needs a channel that can start (``lifecycle`` refuses it otherwise), so mixes
    without a ready channel are left out for go-live.
    """
    allowed, to = CAMPAIGN_TRANSITIONS[action]
    checked = 0
    for current in allowed:
        for mix in (m for n in (1, 2, 3) for m in product(list(H), repeat=n)):
            if not _can_hold(current, mix) or (action == CampaignAction.go_live and H.ready not in mix):
                continue
            after = _apply(action, mix)
            assert campaign_status_from_channels(to, after) == to, (current, mix, after)
            checked += 1
    assert checked > 10


def test_campaign_pause_reaches_running_channels_only():
    assert _apply(CampaignAction.pause, (H.ready, H.running, H.paused, H.stopped)) == \
        [H.ready, H.paused, H.paused, H.stopped]


@pytest.mark.parametrize("action", [CampaignAction.cancel, CampaignAction.archive])
def test_cancel_and_archive_leave_no_channel_that_can_run_again(action):
    after = _apply(action, tuple(H))
    assert all(s in CHANNEL_FINAL for s in after)
