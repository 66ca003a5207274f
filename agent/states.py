"""Every status word of Overture, the allowed moves between them, and the named groups of
statuses, as data.

Nothing else assigns a status: ``agent.lifecycle`` applies the moves these tables allow, by
compare-and-set, and logs them (``campaigns`` for campaigns and channels, ``enrollments``,
``outreaches``).
"""

from __future__ import annotations

from dataclasses import dataclass
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
    remarket = "remarket"  # system move: a remarketing channel started on a completed campaign


# Campaign moves no person or endpoint asks for by name: the lifecycle applies them as the
# consequence of another move (starting a remarketing channel reactivates a completed campaign).
SYSTEM_CAMPAIGN_ACTIONS = frozenset({CampaignAction.remarket})


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
    # Remarketing (seed 002): a completed campaign runs again for the audience of a new channel.
    # Only as the effect of starting that channel (``SYSTEM_CAMPAIGN_ACTIONS``); cancelled stays final.
    CampaignAction.remarket: (frozenset({C.completed}), C.active),
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


def channel_action_campaign_states(action: ChannelAction, *, remarketing: bool) -> frozenset[CampaignStatus]:
    """Where ``action`` may move a channel from: a remarketing channel (one with an audience) may
    also start under a campaign the ``remarket`` move reactivates."""
    allowed = CHANNEL_ACTION_CAMPAIGN_STATES[action]
    if remarketing and action == ChannelAction.start:
        allowed |= CAMPAIGN_TRANSITIONS[CampaignAction.remarket][0]
    return allowed

CAMPAIGN_FINAL = frozenset({C.completed, C.cancelled, C.archived})
CHANNEL_FINAL = frozenset({H.completed, H.stopped})
# Campaigns whose settings can no longer change.
CAMPAIGN_READ_ONLY = frozenset({C.archived})
# Campaigns that accept new contacts.
CAMPAIGN_ACCEPTS_CONTACTS = frozenset({C.draft, C.active, C.paused})
# Campaigns that can be planned (a paused one is planned: its contacts rest in campaign_paused).
CAMPAIGN_PLANNABLE = frozenset({C.active, C.paused})


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
# A planner may take these up (a ``planning`` row too, once its lease has lapsed).
ENROLLMENT_PLANNABLE = frozenset({E.not_started, E.waiting, E.campaign_paused})
# A draft of the contact's is in the review queue or waits for its send.
ENROLLMENT_DRAFTED = frozenset({E.awaiting_approval, E.awaiting_execution})
# Where a call's end may move the contact from: the call was in flight (``executing``), or the
# platform dialled while Overture had the contact between steps. Anything else (a draft in
# review, a person's pause, an error, a final status) is left for its owner to settle.
ENROLLMENT_CALL_SETTLES = frozenset({E.executing, E.not_started, E.waiting})


def substatus_allowed(status: EnrollmentStatus, substatus: Substatus | None) -> bool:
    if substatus is None:
        return True
    return substatus in ENROLLMENT_SUBSTATUSES.get(status, frozenset())


class EnrollmentAction(StrEnum):
    claim = "claim"  # a planner takes the contact under a lease
    hold = "hold"  # nothing can run yet (campaign not live, no channel running)
    hold_paused = "hold_paused"  # the campaign or every channel is paused
    draft = "draft"  # a draft waits in the review queue
    draft_unreviewed = "draft_unreviewed"  # a draft goes out without review (Manual Review off)
    defer = "defer"  # no outreach now; planned again later
    fail = "fail"  # something a person must fix (missing data, a model or system error)
    finish = "finish"  # the sequence ended without the goal (no response, attempts used, opted out)
    queue = "queue"  # execute-approved: the approved draft waits for its send
    execute = "execute"  # the executor claimed the outreach and is sending it
    wait = "wait"  # an attempt was made; wait for the next one or for the evaluation
    reject = "reject"  # the approver rejected the draft; back in the plan
    complete = "complete"  # the primary goal was achieved
    remove = "remove"  # taken out of the campaign for good
    reopen = "reopen"  # the brief changed under an approved draft: back in the review queue
    release = "release"  # its draft was voided before sending: back in the plan, no attempt counted
    requeue = "requeue"  # the provider refused for now: the send waits for another try
    settle = "settle"  # a person settled an unknown send: the sequence goes on
    reply = "reply"  # the contact answered a message: the sequence stops for a person to take over
    opt_out = "opt_out"  # the contact asked never to be contacted again (STOP, unsubscribe, a call)
    bounce = "bounce"  # the address does not take mail (a hard bounce) or refuses ours (a policy block)
    auto_reply = "auto_reply"  # an out-of-office or other automatic answer came back
    wait_identity = "wait_identity"  # no caller number free (daily caps, call interval): the call waits
    disable = "disable"  # a person switched the contact off in this campaign
    enable = "enable"  # ... and on again, after attempts were made: it plans again now
    enable_unstarted = "enable_unstarted"  # ... on again before any attempt: back to not started
    retry = "retry"  # a person asked for another attempt now (Retry Contact)
    fix = "fix"  # the contact's data the error named was fixed: it plans again now
    remarket = "remarket"  # a remarketing channel started: its audience's sequence runs again on it


@dataclass(frozen=True, slots=True)
class EnrollmentMove:
    sources: frozenset[EnrollmentStatus]
    target: EnrollmentStatus
    substatuses: frozenset[Substatus | None] = frozenset({None})


def _subs(status: EnrollmentStatus, *, none: bool = False) -> frozenset[Substatus | None]:
    return ENROLLMENT_SUBSTATUSES[status] | ({None} if none else set())


EA = EnrollmentAction
_EVERY = frozenset(E)
# Not over yet: what an answer from the contact (a reply, an opt-out, a bounce) may still move.
_LIVE = _EVERY - ENROLLMENT_FINAL

ENROLLMENT_TRANSITIONS: dict[EnrollmentAction, EnrollmentMove] = {
    EA.claim: EnrollmentMove(ENROLLMENT_PLANNABLE | {E.planning}, E.planning),
    EA.hold: EnrollmentMove(frozenset({E.planning}), E.not_started),
    EA.hold_paused: EnrollmentMove(frozenset({E.planning}), E.campaign_paused),
    EA.draft: EnrollmentMove(frozenset({E.planning}), E.awaiting_approval),
    EA.draft_unreviewed: EnrollmentMove(frozenset({E.planning}), E.awaiting_execution),
    EA.defer: EnrollmentMove(frozenset({E.planning}), E.waiting, _subs(E.waiting)),
    # From a drafted status too: the executor refuses a draft that breaks its channel's rules.
    EA.fail: EnrollmentMove(frozenset({E.planning, E.executing, E.waiting}) | ENROLLMENT_DRAFTED, E.error,
                            _subs(E.error)),
    # From drafted too (the send found the contact opted out, the provider refused for good), and
    # from error when a person settles an unknown send that used the last attempt.
    EA.finish: EnrollmentMove(frozenset({E.planning, E.error}) | ENROLLMENT_CALL_SETTLES | ENROLLMENT_DRAFTED,
                              E.finished, _subs(E.finished)),
    EA.queue: EnrollmentMove(frozenset({E.awaiting_approval}), E.awaiting_execution),
    # awaiting_approval too: an approval is on the outreach; the enrollment may lag behind it.
    EA.execute: EnrollmentMove(ENROLLMENT_DRAFTED | {E.waiting}, E.executing),
    # Substatus ``retry`` when another attempt follows, none while a finished call is evaluated.
    EA.wait: EnrollmentMove(ENROLLMENT_CALL_SETTLES, E.waiting, frozenset({S.retry, None})),
    # Regenerating plans again now (no substatus); a plain rejection waits a retry interval.
    EA.reject: EnrollmentMove(ENROLLMENT_DRAFTED, E.waiting, frozenset({S.scheduled, None})),
    # From planning too: the planner finds the primary goal already achieved.
    EA.complete: EnrollmentMove(frozenset({E.waiting, E.planning}), E.completed),
    EA.remove: EnrollmentMove(_EVERY - {E.removed}, E.removed),
    EA.reopen: EnrollmentMove(frozenset({E.awaiting_execution, E.waiting}), E.awaiting_approval),
    EA.release: EnrollmentMove(ENROLLMENT_DRAFTED | {E.waiting}, E.waiting, frozenset({S.scheduled, None})),
    EA.requeue: EnrollmentMove(frozenset({E.executing}), E.awaiting_execution),
    EA.settle: EnrollmentMove(frozenset({E.error}), E.waiting, frozenset({S.retry, None})),
    EA.reply: EnrollmentMove(_LIVE, E.replied),
    # A contact who replied and then says stop is opted out all the same.
    EA.opt_out: EnrollmentMove(_LIVE | {E.replied}, E.finished, frozenset({S.opted_out})),
    EA.bounce: EnrollmentMove(_LIVE, E.finished, frozenset({S.bounced, S.blocked})),
    EA.auto_reply: EnrollmentMove(_LIVE, E.finished, frozenset({S.out_of_office})),
    # Its outreach stays awaiting_execution, deferred; ``execute`` and ``release`` (above) take
    # ``waiting`` too for that outreach's next turn (agent/numbers/pacing.py).
    EA.wait_identity: EnrollmentMove(frozenset({E.awaiting_execution, E.waiting}), E.waiting,
                                     frozenset({S.identity_limits})),
    # Not while a send or call is in flight (``executing``): its result must land first.
    EA.disable: EnrollmentMove(_LIVE - {E.executing, E.disabled}, E.disabled),
    EA.enable: EnrollmentMove(frozenset({E.disabled}), E.waiting),
    EA.enable_unstarted: EnrollmentMove(frozenset({E.disabled}), E.not_started),
    # From finished too, unless the contact asked to stop or the address is dead (RETRY_NEVER).
    EA.retry: EnrollmentMove(frozenset({E.error, E.waiting, E.finished}), E.waiting),
    EA.fix: EnrollmentMove(frozenset({E.error}), E.waiting),
    # Contacts done with (or resting in) the sequence get a fresh one on the new channel; never
    # the opted-out or dead addresses (REMARKET_NEVER) nor the suppressed (agent.lifecycle.remarket).
    EA.remarket: EnrollmentMove(frozenset({E.finished, E.replied, E.waiting, E.campaign_paused}), E.waiting),
}

# Finished enrollments a person's retry may not reopen: the contact opted out, or the address
# refuses mail; another attempt would break the contact's wish or bounce again.
RETRY_NEVER = frozenset({S.opted_out, S.bounced, S.blocked})
# Waiting enrollments a retry brings forward: only the retry interval's wait (any other wait has a
# draft queued, a goal being evaluated, or hours that are closed).
RETRY_WAITING = frozenset({S.retry})
# Finished enrollments remarketing leaves alone, for the same reasons as a retry.
REMARKET_NEVER = RETRY_NEVER


def retry_allowed(status: EnrollmentStatus, substatus: Substatus | None) -> bool:
    """Whether a person's retry may move an enrollment in this status and substatus."""
    if status not in ENROLLMENT_TRANSITIONS[EA.retry].sources:
        return False
    if status == E.finished:
        return substatus not in RETRY_NEVER
    return status != E.waiting or substatus in RETRY_WAITING
# Which error substatuses a change of each contact field clears (``PATCH /v1/contacts/{id}``).
FIXED_BY_FIELD: dict[str, frozenset[Substatus]] = {
    "email": frozenset({S.missing_email, S.invalid_email}),
    "phone": frozenset({S.missing_phone}),
}


class ContactAction(StrEnum):
    """A person's per-contact actions inside one campaign (``POST .../contacts/{id}/{action}``)."""

    disable = "disable"
    enable = "enable"
    retry = "retry"

# Where the planner leaves a contact it drafts nothing for, by the status its rules chose.
PLANNER_REST: dict[EnrollmentStatus, EnrollmentAction] = {
    E.not_started: EA.hold, E.campaign_paused: EA.hold_paused, E.waiting: EA.defer,
    E.error: EA.fail, E.finished: EA.finish, E.completed: EA.complete,
}


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
    cancelled = "cancelled"  # voided before sending: the contact left, opted out, or the channel stopped


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
    cancel = "cancel"  # the world changed since approval: nothing of it may go out
    reopen = "reopen"  # the brief changed since it was drafted: back to the approver
    retry = "retry"  # nothing was handed over (a transient refusal): it waits for another try
    dial = "dial"  # the provider placed the call: it stays executing until the end-of-call report
    settle_sent = "settle_sent"  # a person checked the provider: an unknown send did go out
    settle_unsent = "settle_unsent"  # ... or it did not
    deliver = "deliver"  # the provider's receipt: it reached the recipient's phone or mailbox
    undeliver = "undeliver"  # a failed receipt or a bounce after the provider took it


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
    OutreachAction.cancel: (frozenset({O.awaiting_approval, O.approved, O.awaiting_execution}), O.cancelled),
    OutreachAction.reopen: (frozenset({O.awaiting_execution}), O.awaiting_approval),
    OutreachAction.retry: (frozenset({O.executing}), O.awaiting_execution),
    OutreachAction.dial: (frozenset({O.executing}), O.executing),
    OutreachAction.settle_sent: (frozenset({O.unknown}), O.sent),
    OutreachAction.settle_unsent: (frozenset({O.unknown}), O.failed),
    # Receipts only move forward: a late ``sent`` callback never undoes ``delivered``. An unknown
    # send that a receipt proves went out is delivered all the same.
    OutreachAction.deliver: (frozenset({O.sent, O.unknown}), O.delivered),
    # Mail can bounce after the receiving server said it was delivered.
    OutreachAction.undeliver: (frozenset({O.sent, O.delivered, O.unknown}), O.failed),
}

# Statuses in which an approval is already on record: approving again changes nothing.
APPROVED_ALREADY = frozenset({O.approved, O.awaiting_execution, O.executing, O.sent, O.delivered})
# The provider took it: the contact has been reached through this outreach.
OUTREACH_SENT = frozenset({O.sent, O.delivered})
# Still to go out: in review, approved, or waiting for its send.
OUTREACH_UPCOMING = frozenset({O.awaiting_approval, O.approved, O.awaiting_execution})
# Enrollments for which nothing may be sent any more (the contact left, answered, or is done).
ENROLLMENT_NOT_SENDABLE = ENROLLMENT_FINAL | {E.disabled}


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


JOB_FINAL = frozenset({JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled})
JOB_LIVE = frozenset({JobStatus.queued, JobStatus.running})


class Priority(StrEnum):
    high = "high"
    normal = "normal"
    low = "low"


# Who is planned and sent first: high, then normal, then low (ties in the order they came).
PRIORITY_ORDER = (Priority.high, Priority.normal, Priority.low)


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


class TaskStatus(StrEnum):
    """A manual task (the ``tasks`` provider): ``pending`` until a person completes it, once."""

    pending = "pending"
    completed = "completed"


class InboundKind(StrEnum):
    """What came back: the classification of one inbound message or provider callback."""

    reply = "reply"  # a person answered (the new text is the conversation's turn)
    auto_reply = "auto_reply"  # out of office, vacation or another machine's answer
    bounce = "bounce"  # a delivery status report: the message did not reach the address
    unsubscribe = "unsubscribe"  # an opt-out: STOP, a removal request, a one-click unsubscribe
    opt_in = "opt_in"  # START / UNSTOP: the number takes texts again
    receipt = "receipt"  # a provider's delivery status for one of our messages
    unmatched = "unmatched"  # nothing of ours it answers: kept, applied to nothing


class InboundStatus(StrEnum):
    """``applied`` once its effects are written; ``unmatched``/``ignored``/``refused`` change nothing."""

    applied = "applied"
    unmatched = "unmatched"  # it answers nothing Overture sent (kept for a person to look at)
    ignored = "ignored"  # understood and deliberately without effect (a delayed-delivery report)
    refused = "refused"  # from someone not allowed to send it (an import from the wrong sender)


class BounceType(StrEnum):
    hard = "hard"  # 5.x.x: the address does not exist or never takes mail; suppressed
    soft = "soft"  # 4.x.x: a full mailbox, a server down; the sequence goes on
    blocked = "blocked"  # 5.7.x: the receiving side refuses us by policy


class ReplyIntent(StrEnum):
    """What a human reply means for the campaign; ``interested`` counts as positive in reports."""

    interested = "interested"
    not_interested = "not_interested"
    question = "question"
    referral = "referral"
    unsubscribe = "unsubscribe"
    out_of_office = "out_of_office"
    other = "other"
    unknown = "unknown"  # the offline model saw no clear keyword; a model with judgement may say more
