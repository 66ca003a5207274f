"""Adding contacts to a campaign: normalise, dedup (phone first, then case-folded email) and enroll.

One path serves the JSON batch endpoint, the CSV import job and the CLI. Everything a batch
writes lands in one transaction, so a failure leaves nothing half-applied.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity, bulk
from agent.contacts import repository
from agent.contacts.normalize import ContactInput, NormalizedContact, RowProblem, clean_tags, normalize_contact
# Query builders the review inbox also reads through this module.
from agent.contacts.repository import query_phone, search_filter, workspace_region  # noqa: F401 - re-exported
from agent.db import utcnow
from agent.errors import Conflict
from agent.ids import new_ids
from agent.lifecycle.enrollments import MOVE_TRIES, move_enrollment
from agent.lifecycle.outreaches import move_outreaches
from agent.models import ActivityEvent, Campaign, Contact, Enrollment, Outreach
from agent.states import (CAMPAIGN_ACCEPTS_CONTACTS, CampaignStatus, EnrollmentAction, EnrollmentStatus, OutreachAction,
                          Priority)

_NAME_MAX = min(Contact.first_name.type.length, Contact.last_name.type.length)
Progress = Callable[[int], Awaitable[None]]


@dataclass
class AddResult:
    added: int = 0  # new contacts, enrolled
    updated: int = 0  # existing workspace contacts (missing fields filled), enrolled
    duplicates: int = 0  # rows repeating an earlier row or a contact already in the campaign
    errors: list[dict[str, Any]] = field(default_factory=list)  # rows skipped, with the reason
    warnings: list[dict[str, Any]] = field(default_factory=list)  # rows kept, something dropped or noted


def problem_dict(p: RowProblem, loc_prefix: tuple[Any, ...] = ()) -> dict[str, Any]:
    loc = [*loc_prefix, p.field] if p.field else list(loc_prefix)
    return {"row": p.row, "loc": loc, "code": p.code, "message": p.message}


def check_accepts_contacts(campaign: Campaign) -> None:
    if CampaignStatus(campaign.status) not in CAMPAIGN_ACCEPTS_CONTACTS:
        raise Conflict(f"a {campaign.status} campaign takes no new contacts", code="campaign_closed")


async def normalize_rows(rows: Iterable[tuple[int, ContactInput]], *, region: str, result: AddResult,
                         progress: Progress | None = None, every: float = 0.5,
                         loc_prefix: Callable[[int], tuple[Any, ...]] = lambda row: ()) -> list[tuple[int, NormalizedContact]]:
    """Normalise each row; errors and warnings go into ``result``; ``progress(n)`` at most every ``every`` s."""
    out: list[tuple[int, NormalizedContact]] = []
    n = 0
    last_report = time.monotonic()
    for row, inp in rows:
        contact, errors, warnings = normalize_contact(_without_nul(inp), region=region, row=row)
        if contact is not None and max(len(contact.first_name), len(contact.last_name)) > _NAME_MAX:
            # Longer names do not fit the columns: PostgreSQL would fail the whole batch, SQLite store them.
            errors = [RowProblem(row, "name", "name_too_long",
                                 f"The first or last name is longer than {_NAME_MAX} characters.")]
            contact = None
        result.errors.extend(problem_dict(p, loc_prefix(row)) for p in errors)
        result.warnings.extend(problem_dict(p, loc_prefix(row)) for p in warnings)
        if contact is not None:
            out.append((row, contact))
        n += 1
        # Time-based, not per N rows: each report is a commit, cheap for the reader, not for the import.
        if progress is not None and n % 200 == 0 and time.monotonic() - last_report >= every:
            await progress(n)
            last_report = time.monotonic()
    return out


def _without_nul(inp: ContactInput) -> ContactInput:
    """Drop NUL characters: PostgreSQL text cannot hold them (the insert fails), SQLite would keep them."""
    if "\x00" not in "".join((inp.first_name, inp.last_name, inp.name, inp.email, inp.phone, inp.timezone,
                               inp.priority, *inp.tags, *inp.properties.keys(), *inp.properties.values())):
        return inp
    clean = lambda v: v.replace("\x00", "")  # noqa: E731
    return replace(inp, first_name=clean(inp.first_name), last_name=clean(inp.last_name), name=clean(inp.name),
                   email=clean(inp.email), phone=clean(inp.phone), timezone=clean(inp.timezone),
                   priority=clean(inp.priority), tags=tuple(clean(t) for t in inp.tags),
                   properties={clean(k): clean(v) for k, v in inp.properties.items()})


async def _existing(session: AsyncSession, workspace_id: str, phones: list[str], emails: list[str]) -> list[Any]:
    cols = (Contact.id, Contact.phone, Contact.email, Contact.email_key, Contact.first_name, Contact.last_name,
            Contact.timezone, Contact.properties, Contact.tags, Contact.priority)
    found: dict[str, Any] = {}
    dialect = session.bind.dialect.name
    for column, values in ((Contact.phone, phones), (Contact.email_key, emails)):
        if values:
            q = select(*cols).where(Contact.workspace_id == workspace_id, bulk.one_of(column, values, dialect))
            for r in await session.execute(q):
                found[r.id] = r
    return list(found.values())


async def _enrollment_status(session: AsyncSession, campaign_id: str, contact_ids: list[str]) -> dict[str, str]:
    if not contact_ids:
        return {}
    q = select(Enrollment.contact_id, Enrollment.status).where(
        Enrollment.campaign_id == campaign_id,
        bulk.one_of(Enrollment.contact_id, contact_ids, session.bind.dialect.name))
    return {r.contact_id: r.status for r in await session.execute(q)}


def _merge(existing: Any, c: NormalizedContact, phone_taken: bool, email_taken: bool) -> dict[str, Any]:
    """Fields an existing contact gains from a matching row: blanks filled, properties merged."""
    changes: dict[str, Any] = {}
    if not existing.first_name and c.first_name:
        changes["first_name"] = c.first_name
    if not existing.last_name and c.last_name:
        changes["last_name"] = c.last_name
    if existing.phone is None and c.phone and not phone_taken:
        changes["phone"] = c.phone
    if existing.email is None and c.email and not email_taken:
        changes["email"], changes["email_key"] = c.email, c.email_key
    if existing.timezone is None and c.timezone:
        changes["timezone"] = c.timezone
    # An empty cell is a blank, not an instruction to erase what the contact already has.
    merged = {**(existing.properties or {}), **{k: v for k, v in c.properties.items() if v}}
    if merged != (existing.properties or {}):
        changes["properties"] = merged
    tags = list(clean_tags([*(existing.tags or []), *c.tags]))
    if tags != list(existing.tags or []):
        changes["tags"] = tags
    # A stated priority is an instruction; a row that says none leaves the contact's.
    if c.priority is not None and c.priority != existing.priority:
        changes["priority"] = c.priority
    return changes


async def enroll(session: AsyncSession, campaign: Campaign, rows: list[tuple[int, NormalizedContact]], *,
                 actor: str, source: str, result: AddResult,
                 loc_prefix: Callable[[int], tuple[Any, ...]] = lambda row: (),
                 batch: dict[str, Any] | None = None) -> AddResult:
    """Dedup ``rows`` inside the batch and against the workspace, then write contacts and enrollments.

    Each enrollment gets its ``contact.enrolled`` event, except with ``batch`` (an import: its
    details, such as the job id): then the batch's one ``contacts.added`` event, carrying them,
    stands for the lot, and each enrollment keeps its ``source``."""
    ws = campaign.workspace_id
    phones = sorted({c.phone for _, c in rows if c.phone})
    emails = sorted({c.email_key for _, c in rows if c.email_key})
    existing = await _existing(session, ws, phones, emails)
    by_phone = {e.phone: e for e in existing if e.phone}
    by_email = {e.email_key: e for e in existing if e.email_key}
    enrolled = await _enrollment_status(session, campaign.id, [e.id for e in existing])

    seen_phone: dict[str, int] = {}
    seen_email: dict[str, int] = {}
    seen_contact: dict[str, int] = {}  # existing contact id -> first row enrolling it
    new_contacts: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    enroll_ids: list[str] = []
    now = utcnow()
    contact_ids = iter(new_ids("con", len(rows)))  # at most one new contact a row
    for row, c in rows:
        # Explicit None tests: row numbers start at 0 in a JSON batch, and row 0 is a real earlier row.
        first = seen_phone.get(c.phone) if c.phone else None
        if first is None and c.email_key:
            first = seen_email.get(c.email_key)
        if first is not None:
            result.duplicates += 1
            result.warnings.append({"row": row, "loc": list(loc_prefix(row)), "code": "duplicate_row",
                                    "message": f"same contact as row {first}"})
            continue
        if c.phone:
            seen_phone[c.phone] = row
        if c.email_key:
            seen_email[c.email_key] = row
        match = (by_phone.get(c.phone) if c.phone else None) or (by_email.get(c.email_key) if c.email_key else None)
        if match is None:
            cid = next(contact_ids)
            new_contacts.append({"id": cid, "workspace_id": ws, "first_name": c.first_name, "last_name": c.last_name,
                                 "email": c.email, "email_key": c.email_key, "phone": c.phone,
                                 "timezone": c.timezone, "properties": c.properties, "tags": list(c.tags),
                                 "priority": c.priority or Priority.normal, "created_at": now, "updated_at": now})
            enroll_ids.append(cid)
            result.added += 1
            continue
        status = enrolled.get(match.id)
        if status == EnrollmentStatus.removed:
            result.errors.append({"row": row, "loc": list(loc_prefix(row)), "code": "contact_removed",
                                  "message": "this contact was removed from the campaign and cannot be added again"})
            continue
        if status is not None:
            result.duplicates += 1
            result.warnings.append({"row": row, "loc": list(loc_prefix(row)), "code": "already_enrolled",
                                    "message": "the contact is already in this campaign"})
            continue
        if match.id in seen_contact:  # an earlier row found the same contact by its other key
            result.duplicates += 1
            result.warnings.append({"row": row, "loc": list(loc_prefix(row)), "code": "duplicate_row",
                                    "message": f"same contact as row {seen_contact[match.id]}"})
            continue
        seen_contact[match.id] = row
        delta = _merge(match, c, phone_taken=c.phone in by_phone, email_taken=c.email_key in by_email)
        if delta:
            changes.append({"b_id": match.id, "updated_at": now, **delta})
        enroll_ids.append(match.id)
        result.updated += 1

    await bulk.insert_rows(session, Contact.__table__, new_contacts)
    for delta in changes:
        cid = delta.pop("b_id")
        await session.execute(update(Contact).where(Contact.id == cid).values(**delta))
    if enroll_ids:
        enrollments = [{"id": eid, "workspace_id": ws, "campaign_id": campaign.id, "contact_id": cid,
                        "status": EnrollmentStatus.not_started.value, "attempts": 0, "source": source, "version": 1,
                        "created_at": now, "updated_at": now}
                       for cid, eid in zip(enroll_ids, new_ids("enr", len(enroll_ids)))]
        await bulk.insert_rows(session, Enrollment.__table__, enrollments)
    if enroll_ids and batch is None:
        await bulk.insert_rows(session, ActivityEvent.__table__, [
            {"id": eid, "workspace_id": ws, "campaign_id": campaign.id, "contact_id": e["contact_id"],
             "enrollment_id": e["id"], "actor": actor, "kind": "contact.enrolled", "payload": {"source": source},
             "created_at": now} for e, eid in zip(enrollments, new_ids("evt", len(enrollments)))])
    activity.record(session, workspace_id=ws, actor=actor, kind="contacts.added", campaign_id=campaign.id,
                    payload={"source": source, "added": result.added, "updated": result.updated,
                             "duplicates": result.duplicates, "errors": len(result.errors), **(batch or {})})
    return result


async def add_contacts(session: AsyncSession, campaign: Campaign, inputs: list[ContactInput], *, actor: str,
                       source: str = "api") -> AddResult:
    """The JSON batch path: rows are numbered by their index in the request."""
    check_accepts_contacts(campaign)
    result = AddResult()
    region = await workspace_region(session, campaign.workspace_id)
    prefix = lambda row: ("body", "contacts", row)  # noqa: E731
    rows = await normalize_rows(enumerate(inputs), region=region, result=result, loc_prefix=prefix)
    return await enroll(session, campaign, rows, actor=actor, source=source, result=result, loc_prefix=prefix)


async def remove_contact(session: AsyncSession, campaign: Campaign, contact_id: str, actor: str) -> None:
    """Take the contact out of the campaign for good (it can never be added back).

    Removal is allowed from every status, so a compare-and-set lost to a concurrent move (the
    planner claiming the contact between our read and our write) reads the row again and
    retries: a person never sees ``stale`` for a move they did not make."""
    for attempt in range(MOVE_TRIES):
        enrollment, _ = await repository.get_enrollment(session, campaign.id, contact_id, include_removed=False,
                                                        fresh=attempt > 0)
        before = enrollment.status
        moved = await move_enrollment(session, enrollment, EnrollmentAction.remove,
                                      values={"removed_at": utcnow()}, actor=actor)
        if moved is not None:
            break
    else:
        raise Conflict("the contact's status kept changing while removing it; try again", code="stale")
    activity.record(session, workspace_id=campaign.workspace_id, actor=actor, kind="contact.removed",
                    campaign_id=campaign.id, contact_id=contact_id, enrollment_id=enrollment.id,
                    payload={"from": before})
    await cancel_upcoming(session, enrollment, "the contact was removed from the campaign", actor)


async def cancel_upcoming(session: AsyncSession, enrollment: Enrollment, reason: str, actor: str) -> None:
    """Whatever was drafted for the enrollment leaves the review queue and can never be sent."""
    for row in await move_outreaches(session, OutreachAction.cancel, Outreach.enrollment_id == enrollment.id,
                                     values={"error": reason}):
        activity.record(session, workspace_id=enrollment.workspace_id, actor=actor, kind="outreach.cancelled",
                        campaign_id=enrollment.campaign_id, contact_id=enrollment.contact_id,
                        enrollment_id=enrollment.id, outreach_id=row.id,
                        payload={"reason": reason, "version": row.version})
