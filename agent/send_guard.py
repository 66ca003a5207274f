"""The send-time guard: the world as it is at the claim, not as it was at approval.

The executor asks :func:`verdict` inside the claim's transaction, just before claiming, and
applies the answer. Each rule says what a stale approval would otherwise do wrong:

- the contact left, answered, opted out, or the channel or campaign stopped: the draft is
  **void** (``cancelled``, the reason in ``error``), nothing of it ever goes out;
- the campaign or the channel is paused: the draft is **held** as it is, and sent once after the
  resume (the guard runs again then, so a contact reached meanwhile is voided, not re-contacted);
- the brief or AI variables changed since it was drafted: an approved draft goes back to review;
- no usable address: the send **fails** with the address error the planner would have given;
- a state's cap reached (three calls or texts in 24 hours in Florida, Oklahoma, Maryland):
  **deferred** until the oldest of them is 24 hours old;
- outside the contact's hours: **deferred** to the next allowed minute (the executor does that,
  with the window of ``agent.scheduling.contact_window``, which carries the states' 20:00 end).

Pure decisions over loaded rows plus one suppression lookup (made once per batch by the
executor); no writes here.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agent import compliance

from agent.campaigns.brief import brief_hash
from agent.contacts.repository import is_suppressed
from agent.models import Campaign, Channel, Contact, Enrollment, Outreach
from agent.states import (
    CAMPAIGN_FINAL,
    CHANNEL_FINAL,
    ENROLLMENT_NOT_SENDABLE,
    OUTREACH_SENT,
    CampaignStatus,
    ChannelKind,
    ChannelStatus,
    OutreachStatus,
    Substatus,
)


class Decision(StrEnum):
    go = "go"
    hold = "hold"
    defer = "defer"
    void = "void"
    reopen = "reopen"
    fail = "fail"


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    reason: str = ""
    # What happens to the enrollment: the substatus it finishes (void) or errs (fail) with.
    substatus: Substatus | None = None
    until: dt.datetime | None = None  # defer: not before this instant


GO = Verdict(Decision.go)


def address_of(kind: str, contact: Contact) -> str | None:
    if kind == ChannelKind.email:
        return contact.email
    if kind in (ChannelKind.sms, ChannelKind.voice):
        return contact.phone
    return None  # a task goes to a person of ours, not to the contact


def _address_problem(kind: str, contact: Contact) -> Verdict | None:
    if kind not in (ChannelKind.email, ChannelKind.sms, ChannelKind.voice):
        return None
    to = address_of(kind, contact)
    if not to:
        missing = Substatus.missing_email if kind == ChannelKind.email else Substatus.missing_phone
        return Verdict(Decision.fail, f"the contact has no {'email' if kind == ChannelKind.email else 'phone'}",
                       missing)
    if kind == ChannelKind.email and not plainly_valid_email(to):
        try:
            validate_email(to, check_deliverability=False)
        except EmailNotValidError as exc:
            return Verdict(Decision.fail, f"the contact's email is not valid: {exc}", Substatus.invalid_email)
    return None


def reopen_reason(outreach: Outreach, campaign: Campaign) -> str:
    """The mark on a draft sent back to review: the settings version it was planned under, by number."""
    if outreach.settings_version is None:  # planned before versions were recorded
        return "planned under an earlier brief; the approval covered that one"
    return (f"planned under settings version {outreach.settings_version}, an earlier brief or AI variables (now "
            f"version {campaign.settings_version}); the approval covered that one")


# An address of plain ASCII atoms at a domain of letter-digit-hyphen labels under a letters-only
# top-level domain: email_validator accepts every one of these (tests/agent/test_send_guard_email.py
# checks a corpus against it), and costs about 40 us to say so on each send. Anything else
# (quoting, IDNA, odd lengths, special-use names) is left to email_validator itself.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PLAIN_EMAIL = re.compile(rf"[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~-]+)*"
                          rf"@(?:{_LABEL}\.)+[A-Za-z]{{2,63}}")
_SPECIAL_USE = frozenset(SPECIAL_USE_DOMAIN_NAMES)


def plainly_valid_email(address: str) -> bool:
    """True when ``address`` is certainly valid (the common case, decided without the library);
    False means "ask email_validator", not "invalid"."""
    if len(address) > 254 or not _PLAIN_EMAIL.fullmatch(address):
        return False
    local, _, domain = address.rpartition("@")
    labels = domain.lower().split(".")
    return (len(local) <= 64 and "--" not in domain
            and not any(".".join(labels[i:]) in _SPECIAL_USE for i in range(len(labels))))


async def verdict(s: AsyncSession, outreach: Outreach, campaign: Campaign, contact: Contact,
                  enrollment: Enrollment, channel: Channel | None, now: dt.datetime, *,
                  suppressed: bool | None = None) -> Verdict:
    """The guard's answer for one send. ``suppressed`` is the suppression lookup already made for
    a batch claimed in this same transaction (``agent.contacts.repository.suppressions_of``);
    None asks the database here."""
    if enrollment.status in ENROLLMENT_NOT_SENDABLE:
        return Verdict(Decision.void, f"the contact is {enrollment.status} in this campaign")
    if campaign.status in CAMPAIGN_FINAL:
        return Verdict(Decision.void, f"the campaign is {campaign.status}")
    if channel is None or channel.status in CHANNEL_FINAL:
        return Verdict(Decision.void, f"the {outreach.channel} channel is "
                       f"{channel.status if channel is not None else 'deleted'}")
    if suppressed is None:
        suppressed = await is_suppressed(s, contact.workspace_id, phone=contact.phone, email_key=contact.email_key,
                                         channel=outreach.channel)
    if suppressed:
        return Verdict(Decision.void, "the contact is on the suppression list", Substatus.opted_out)
    if campaign.status == CampaignStatus.paused or channel.status == ChannelStatus.paused:
        return Verdict(Decision.hold, "the campaign is paused" if campaign.status == CampaignStatus.paused
                       else f"the {outreach.channel} channel is paused")
    if campaign.status != CampaignStatus.active or channel.status != ChannelStatus.running:
        return Verdict(Decision.hold, f"the campaign is {campaign.status} and the channel {channel.status}")
    if (outreach.approved_by is not None and outreach.brief_hash is not None
            and outreach.brief_hash != brief_hash(campaign.brief, campaign.ai_variables)):
        return Verdict(Decision.reopen, reopen_reason(outreach, campaign))
    problem = _address_problem(outreach.channel, contact)
    if problem is not None:
        return problem
    return await _state_cap(s, outreach, contact, now) or GO


async def _state_cap(s: AsyncSession, outreach: Outreach, contact: Contact, now: dt.datetime) -> Verdict | None:
    """Three calls or texts per contact and campaign in any 24 hours, where the state says so."""
    if outreach.channel not in (ChannelKind.sms, ChannelKind.voice):
        return None
    state = compliance.strict_state(contact)
    if state is None:
        return None
    since = now - compliance.STRICT_CAP_WINDOW
    # Sent ones by their send time; one in flight or of unknown fate counts too (it may have gone).
    at = func.coalesce(Outreach.sent_at, Outreach.updated_at)
    recent = (await s.execute(select(at).where(
        Outreach.enrollment_id == outreach.enrollment_id, Outreach.id != outreach.id,
        Outreach.channel.in_([ChannelKind.sms, ChannelKind.voice]),
        Outreach.status.in_(OUTREACH_SENT | {OutreachStatus.executing, OutreachStatus.unknown}),
        at > since).order_by(at))).scalars().all()
    if len(recent) < compliance.STRICT_DAILY_CAP:
        return None
    until = recent[len(recent) - compliance.STRICT_DAILY_CAP] + compliance.STRICT_CAP_WINDOW
    return Verdict(Decision.defer, f"{compliance.STRICT_DAILY_CAP} calls or texts in 24 hours is the limit in "
                   f"{compliance.STRICT_STATES[state]}", until=until)
