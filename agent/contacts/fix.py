"""Fix and move on: edit a contact (validated and deduplicated like an add), and a person's
per-contact actions inside a campaign (disable, enable, retry).

An enrollment resting in an error that the edit fixes (``FIXED_BY_FIELD``: a new email clears
``missing_email``/``invalid_email``, a new phone ``missing_phone``) plans again at once, as does
one a person enables or retries; nothing here assigns a status but through the transition table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity
from agent.campaigns.schemas import CampaignSettings
from agent.contacts import repository
from agent.contacts.normalize import ContactInput, clean_tags
from agent.contacts.service import AddResult, cancel_upcoming, normalize_rows
from agent.db import utcnow
from agent.errors import Conflict, InvalidTransition, ValidationFailed
from agent.lifecycle.enrollments import MOVE_TRIES, Moved, move_enrollment
from agent.lookup import get_in_workspace
from agent.models import Campaign, Contact, Enrollment
from agent.queue import enqueue
from agent.states import (
    ENROLLMENT_TRANSITIONS,
    FIXED_BY_FIELD,
    ContactAction,
    EnrollmentAction,
    EnrollmentStatus,
    Priority,
    retry_allowed,
)

PLANNER_TASK = "planner.plan_enrollment"  # by name: agent may not import the planner
_CHECKED = ("first_name", "last_name", "name", "email", "phone", "timezone")
# A value given in the edit that the intake would drop with a warning is refused instead.
_REFUSED_WARNINGS = {"invalid_email": "email", "invalid_phone": "phone", "invalid_timezone": "timezone"}


@dataclass(frozen=True, slots=True)
class ContactChanges:
    """The fields an edit sets (absent ones stay as they are); None or "" clears email, phone, timezone."""

    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Edited:
    contact: Contact
    changed: list[str]
    replanned: list[Moved]


async def update_contact(session: AsyncSession, workspace_id: str, contact_id: str, changes: ContactChanges, *,
                         actor: str) -> Edited:
    """Apply ``changes`` to the workspace's contact; errors it fixed plan again."""
    contact = await get_in_workspace(session, Contact, workspace_id, contact_id, missing=f"no contact {contact_id}",
                                     for_update=True)
    given = changes.fields
    values = await _validated(contact, given, await repository.workspace_region(session, workspace_id))
    if "properties" in given:
        values["properties"] = _merged_properties(contact.properties or {}, given["properties"] or {})
    if "tags" in given:
        values["tags"] = list(clean_tags(given["tags"] or []))
    if "priority" in given and given["priority"] is not None:
        values["priority"] = Priority(given["priority"])
    await _refuse_duplicates(session, contact, values)
    changed = sorted(k for k, v in values.items() if k != "email_key" and getattr(contact, k) != v)
    for key in changed + (["email_key"] if "email" in changed else []):
        setattr(contact, key, values[key])
    if not changed:
        return Edited(contact, [], [])
    contact.updated_at = utcnow()
    await session.flush()
    activity.record(session, workspace_id=workspace_id, actor=actor, kind="contact.updated", contact_id=contact.id,
                    payload={"fields": changed})
    return Edited(contact, changed, await _replan_fixed(session, contact, changed, actor))


async def _validated(contact: Contact, given: dict[str, Any], region: str) -> dict[str, Any]:
    """The contact's name and contact points after the edit, normalised like an added row (422 if not)."""
    if not any(k in given for k in _CHECKED):
        return {}
    current = {"first_name": contact.first_name, "last_name": contact.last_name, "email": contact.email or "",
               "phone": contact.phone or "", "timezone": contact.timezone or ""}
    if "name" in given and "first_name" not in given and "last_name" not in given:
        current["first_name"] = current["last_name"] = ""  # the full name replaces both
    merged = {**current, **{k: given[k] or "" for k in _CHECKED if k in given}}
    result = AddResult()
    rows = await normalize_rows([(0, ContactInput(**merged))], region=region, result=result,
                                loc_prefix=lambda row: ("body",))
    errors = [*result.errors, *(w for w in result.warnings
                                if _REFUSED_WARNINGS.get(w["code"]) in given and given[_REFUSED_WARNINGS[w["code"]]])]
    if errors or not rows:
        raise ValidationFailed(errors[0]["message"] if errors else "the contact is not valid",
                               errors=[{k: v for k, v in e.items() if k != "row"} for e in errors])
    c = rows[0][1]
    return {"first_name": c.first_name, "last_name": c.last_name, "email": c.email, "email_key": c.email_key,
            "phone": c.phone, "timezone": c.timezone}


def _merged_properties(current: dict[str, Any], patch: dict[str, str | None]) -> dict[str, Any]:
    """JSON merge-patch: a key set to null is removed, the others are set (keys and values trimmed)."""
    merged = dict(current)
    for key, value in patch.items():
        key = key.strip()
        if not key:
            continue
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value.strip()
    return merged


async def _refuse_duplicates(session: AsyncSession, contact: Contact, values: dict[str, Any]) -> None:
    """409 ``duplicate_contact`` when the new phone or email is another contact's (the dedup keys)."""
    for field, column, key in (("phone", Contact.phone, values.get("phone")),
                               ("email", Contact.email_key, values.get("email_key"))):
        if key is None or key == getattr(contact, "phone" if field == "phone" else "email_key"):
            continue
        other = (await session.execute(select(Contact.id).where(
            Contact.workspace_id == contact.workspace_id, column == key, Contact.id != contact.id))).scalar()
        if other is not None:
            raise Conflict(f"another contact of the workspace has this {field}", code="duplicate_contact",
                           errors=[{"loc": ["body", field], "message": f"{field} is contact {other}'s"}],
                           contact_id=other)


async def _replan_fixed(session: AsyncSession, contact: Contact, changed: list[str], actor: str) -> list[Moved]:
    fixed = frozenset().union(*(FIXED_BY_FIELD.get(f, frozenset()) for f in changed))
    if not fixed:
        return []
    waiting = (await session.execute(select(Enrollment).where(
        Enrollment.contact_id == contact.id, Enrollment.status == EnrollmentStatus.error,
        Enrollment.substatus.in_(fixed)))).scalars().all()
    moved = []
    for enrollment in waiting:
        done = await move_enrollment(session, enrollment, EnrollmentAction.fix, actor=actor,
                                     values={"next_attempt_at": utcnow()}, payload={"fixed": changed})
        if done is not None:
            enqueue(session, PLANNER_TASK, enrollment_id=enrollment.id, run_id=None)
            moved.append(done)
    return moved


async def act(session: AsyncSession, campaign: Campaign, contact_id: str, action: ContactAction, *,
              actor: str) -> Enrollment:
    """A person's ``disable``, ``enable`` or ``retry`` of the contact's enrollment in ``campaign``.

    A compare-and-set lost to a concurrent move (the planner's, a send's) reads the row again
    and decides afresh: the move is made from the new status if it still may be, refused as an
    invalid transition if not, and ``stale`` only when the row keeps changing."""
    for attempt in range(MOVE_TRIES):
        enrollment, _ = await repository.get_enrollment(session, campaign.id, contact_id, include_removed=False,
                                                        fresh=attempt > 0)
        status = EnrollmentStatus(enrollment.status)
        move, values = _move_for(action, enrollment, campaign)
        if status not in ENROLLMENT_TRANSITIONS[move].sources or (
                move == EnrollmentAction.retry and not retry_allowed(status, enrollment.substatus)):
            sub = f"/{enrollment.substatus}" if enrollment.substatus else ""
            raise InvalidTransition(f"cannot {action.value} a contact that is {status.value}{sub}")
        done = await move_enrollment(session, enrollment, move, actor=actor, values=values,
                                     payload={"by": action.value})
        if done is not None:
            break
    else:
        raise Conflict("the contact's status kept changing; read it and try again", code="stale")
    if action == ContactAction.disable:
        await cancel_upcoming(session, enrollment, "the contact was disabled in the campaign", actor)
    elif move != EnrollmentAction.enable_unstarted:
        # Never planned yet: it waits for the campaign's own start (a run, the scheduler, start-outreaches).
        enqueue(session, PLANNER_TASK, enrollment_id=enrollment.id, run_id=None)
    return enrollment


def _move_for(action: ContactAction, enrollment: Enrollment,
              campaign: Campaign) -> tuple[EnrollmentAction, dict[str, Any]]:
    now = {"next_attempt_at": utcnow()}
    if action == ContactAction.disable:
        return EnrollmentAction.disable, {"next_attempt_at": None, "lease_until": None}
    if action == ContactAction.enable:
        if enrollment.attempts == 0:
            return EnrollmentAction.enable_unstarted, {"next_attempt_at": None}
        return EnrollmentAction.enable, now
    # A retry gets one more attempt even when the campaign's maximum is used up.
    max_attempts = CampaignSettings.model_validate(campaign.settings).max_attempts
    if enrollment.attempts >= max_attempts:
        return EnrollmentAction.retry, {**now, "attempts": max(max_attempts - 1, 0)}
    return EnrollmentAction.retry, now
