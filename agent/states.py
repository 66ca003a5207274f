"""Every status word of Overture and the allowed moves between them, as data.

Endpoints and actors never assign a status themselves: campaign and channel moves go through
``agent.campaigns.lifecycle``, which reads these tables, compare-and-sets the row and appends
the activity event.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    admin = "admin"
    approver = "approver"
    viewer = "viewer"


class CampaignType(StrEnum):
    one_time = "one_time"
    follow_up = "follow_up"


class ExecutionMode(StrEnum):
    scheduled = "scheduled"
    manual = "manual"
    on_contact_added = "on_contact_added"


class CampaignStatus(StrEnum):
    draft = "draft"
    active = "active"
    paused = "paused"
    completed = "completed"
    cancelled = "cancelled"
    archived = "archived"


class CampaignAction(StrEnum):
    go_live = "go-live"
    pause = "pause"
    resume = "resume"
    complete = "complete"
    cancel = "cancel"
    archive = "archive"


class ChannelKind(StrEnum):
    email = "email"
    sms = "sms"
    voice = "voice"
    task = "task"


class ChannelStatus(StrEnum):
    ready = "ready"
    running = "running"
    paused = "paused"
    completed = "completed"
    stopped = "stopped"


class ChannelAction(StrEnum):
    start = "start"
    pause = "pause"
    resume = "resume"
    stop = "stop"
    finish = "finish"  # system move: the channel worked through its contact list


C, H = CampaignStatus, ChannelStatus

CAMPAIGN_TRANSITIONS: dict[CampaignAction, tuple[frozenset[CampaignStatus], CampaignStatus]] = {
    # Going live is one-way: nothing leads back to draft.
    CampaignAction.go_live: (frozenset({C.draft}), C.active),
    CampaignAction.pause: (frozenset({C.active}), C.paused),
    CampaignAction.resume: (frozenset({C.paused}), C.active),
    CampaignAction.complete: (frozenset({C.active, C.paused}), C.completed),
    CampaignAction.cancel: (frozenset({C.draft, C.active, C.paused}), C.cancelled),
    # Archived is final; everything stays readable.
    CampaignAction.archive: (frozenset({C.draft, C.active, C.paused, C.completed, C.cancelled}), C.archived),
}

CHANNEL_TRANSITIONS: dict[ChannelAction, tuple[frozenset[ChannelStatus], ChannelStatus]] = {
    ChannelAction.start: (frozenset({H.ready}), H.running),
    ChannelAction.pause: (frozenset({H.running}), H.paused),
    ChannelAction.resume: (frozenset({H.paused}), H.running),
    # Stop is final: a stopped channel never runs again.
    ChannelAction.stop: (frozenset({H.ready, H.running, H.paused}), H.stopped),
    ChannelAction.finish: (frozenset({H.running, H.paused}), H.completed),
}

# What a campaign-level move does to its channels.
CAMPAIGN_CHANNEL_EFFECT: dict[CampaignAction, ChannelAction] = {
    CampaignAction.go_live: ChannelAction.start,
    CampaignAction.pause: ChannelAction.pause,
    CampaignAction.resume: ChannelAction.resume,
    CampaignAction.complete: ChannelAction.finish,
    CampaignAction.cancel: ChannelAction.stop,
    # Archiving deactivates for good: nothing keeps running under an archived campaign.
    CampaignAction.archive: ChannelAction.stop,
}

# Channel actions are refused unless the campaign is in one of these.
CHANNEL_ACTION_CAMPAIGN_STATES: dict[ChannelAction, frozenset[CampaignStatus]] = {
    ChannelAction.start: frozenset({C.draft, C.active}),
    ChannelAction.pause: frozenset({C.active}),
    ChannelAction.resume: frozenset({C.active, C.paused}),
    ChannelAction.stop: frozenset({C.draft, C.active, C.paused}),
    ChannelAction.finish: frozenset({C.active, C.paused}),
}

CAMPAIGN_FINAL = frozenset({C.completed, C.cancelled, C.archived})
CHANNEL_FINAL = frozenset({H.completed, H.stopped})
# Campaigns whose settings can no longer change.
CAMPAIGN_READ_ONLY = frozenset({C.archived})
# Campaigns that accept new contacts.
CAMPAIGN_ACCEPTS_CONTACTS = frozenset({C.draft, C.active, C.paused})


def campaign_status_from_channels(current: CampaignStatus, channels: list[ChannelStatus]) -> CampaignStatus:
    """The campaign's status as its channels imply it ("the highest active state").

    Any running channel makes the campaign active (taking a draft live); none running but one
    paused makes it paused; every channel completed or stopped completes it. Otherwise (all
    channels still ready) the campaign keeps its status.
    """
    if current in {C.archived, C.cancelled, C.completed} or not channels:
        return current
    if H.running in channels:
        return C.active
    if current == C.draft:
        return current
    if H.paused in channels:
        return C.paused
    if all(s in CHANNEL_FINAL for s in channels):
        return C.completed
    return current


class EnrollmentStatus(StrEnum):
    not_started = "not_started"
    planning = "planning"
    awaiting_approval = "awaiting_approval"
    awaiting_execution = "awaiting_execution"
    executing = "executing"
    waiting = "waiting"
    paused = "paused"
    campaign_paused = "campaign_paused"
    disabled = "disabled"
    error = "error"
    replied = "replied"
    completed = "completed"
    finished = "finished"
    disqualified = "disqualified"
    removed = "removed"


class Substatus(StrEnum):
    # waiting
    scheduled = "scheduled"
    outside_working_hours = "outside_working_hours"
    identity_limits = "identity_limits"
    retry = "retry"
    waiting_to_connect = "waiting_to_connect"
    conversation_limit = "conversation_limit"
    # error
    missing_email = "missing_email"
    missing_phone = "missing_phone"
    invalid_email = "invalid_email"
    message_too_long = "message_too_long"
    empty_message = "empty_message"
    missing_subject = "missing_subject"
    missing_brief = "missing_brief"
    missing_crm_id = "missing_crm_id"
    missing_owner_id = "missing_owner_id"
    channel_disconnected = "channel_disconnected"
    identity_misconfigured = "identity_misconfigured"
    credits_exhausted = "credits_exhausted"
    model_error = "model_error"
    system_error = "system_error"
    # finished
    no_response = "no_response"
    bounced = "bounced"
    blocked = "blocked"
    out_of_office = "out_of_office"
    opted_out = "opted_out"
    max_attempts = "max_attempts"
    not_connected = "not_connected"
    no_conversation = "no_conversation"
    failed = "failed"
    # paused
    manual = "manual"


E, S = EnrollmentStatus, Substatus

# Which substatuses belong to which status (a substatus is never shown under another status).
ENROLLMENT_SUBSTATUSES: dict[EnrollmentStatus, frozenset[Substatus]] = {
    E.waiting: frozenset({S.scheduled, S.outside_working_hours, S.identity_limits, S.retry,
                          S.waiting_to_connect, S.conversation_limit}),
    E.error: frozenset({S.missing_email, S.missing_phone, S.invalid_email, S.message_too_long,
                        S.empty_message, S.missing_subject, S.missing_brief, S.missing_crm_id,
                        S.missing_owner_id, S.channel_disconnected, S.identity_misconfigured,
                        S.credits_exhausted, S.model_error, S.system_error}),
    E.finished: frozenset({S.no_response, S.bounced, S.blocked, S.out_of_office, S.opted_out,
                           S.max_attempts, S.not_connected, S.no_conversation, S.failed}),
    E.paused: frozenset({S.manual}),
}

# Enrollments in these states are over for this campaign.
ENROLLMENT_FINAL = frozenset({E.replied, E.completed, E.finished, E.disqualified, E.removed})


def substatus_allowed(status: EnrollmentStatus, substatus: Substatus | None) -> bool:
    if substatus is None:
        return True
    return substatus in ENROLLMENT_SUBSTATUSES.get(status, frozenset())


class OutreachStatus(StrEnum):
    awaiting_approval = "awaiting_approval"
    approved = "approved"
    rejected = "rejected"
    superseded = "superseded"
    awaiting_execution = "awaiting_execution"
    executing = "executing"
    sent = "sent"
    delivered = "delivered"
    failed = "failed"
    unknown = "unknown"


class OutreachAction(StrEnum):
    approve = "approve"
    edit = "edit"
    reject = "reject"
    supersede = "supersede"  # reject and regenerate: a new draft replaces this one
    queue = "queue"  # execute-approved hands it to the executor
    claim = "claim"
    send = "send"
    fail = "fail"
    lose = "lose"  # the reconciler: the worker stopped mid-send, the outcome is unknown


O = OutreachStatus
_REVIEWABLE = frozenset({O.awaiting_approval, O.approved})

OUTREACH_TRANSITIONS: dict[OutreachAction, tuple[frozenset[OutreachStatus], OutreachStatus]] = {
    OutreachAction.approve: (frozenset({O.awaiting_approval}), O.approved),
    # An approval covers the text the approver saw: editing an approved draft needs a new one.
    OutreachAction.edit: (_REVIEWABLE, O.awaiting_approval),
    OutreachAction.reject: (_REVIEWABLE, O.rejected),
    OutreachAction.supersede: (_REVIEWABLE, O.superseded),
    OutreachAction.queue: (frozenset({O.approved}), O.awaiting_execution),
    OutreachAction.claim: (frozenset({O.awaiting_execution}), O.executing),
    OutreachAction.send: (frozenset({O.executing}), O.sent),
    # Refused before the claim (no approval on record) or failed while sending.
    OutreachAction.fail: (frozenset({O.awaiting_execution, O.executing}), O.failed),
    # The worker that claimed it stopped before recording the result (found by the reconciler
    # after the executing lease): the provider may have it, so it is never resent.
    OutreachAction.lose: (frozenset({O.executing}), O.unknown),
}

# Statuses in which an approval is already on record: approving again changes nothing.
APPROVED_ALREADY = frozenset({O.approved, O.awaiting_execution, O.executing, O.sent, O.delivered})


class AnswerStatus(StrEnum):
    human = "human"
    machine = "machine"
    no_answer = "no_answer"
    rejected = "rejected"


class ConversationStatus(StrEnum):
    """A conversation is ``open`` while the call runs and ``closed`` once its end is reported."""

    open = "open"
    closed = "closed"


class GoalResultValue(StrEnum):
    achieved = "achieved"
    partially_achieved = "partially_achieved"
    not_achieved = "not_achieved"
    unknown = "unknown"


class AnalysisType(StrEnum):
    yes_no = "yes_no"
    single_choice = "single_choice"
    multiple_choice = "multiple_choice"
    open = "open"
    rating = "rating"
    data_point = "data_point"


class DataPointType(StrEnum):
    """What kind of value a ``data_point`` analysis extracts from a conversation."""

    text = "text"
    number = "number"
    date = "date"
    email = "email"
    phone = "phone"


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class Priority(StrEnum):
    high = "high"
    normal = "normal"
    low = "low"


class PlanningItemStatus(StrEnum):
    """One enrollment inside a planning run: ``queued`` until its result is counted once."""

    queued = "queued"
    planned = "planned"
    failed = "failed"
    skipped = "skipped"


class CallerNumberStatus(StrEnum):
    active = "active"
    disabled = "disabled"
    excluded = "excluded"
