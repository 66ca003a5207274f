"""The review queue's behaviour: the inbox, approve, edit, reject (and regenerate), and the
hand-off of approved outreaches to the executor.

Every move goes through ``agent.lifecycle`` (compare-and-set on id, status and the version the
reviewer saw) and appends an activity event with the actor. Services never commit;
the request owns the transaction, so a refused move (raised) rolls back whole.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Row, Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity, search
from agent.auth import Principal
from agent.campaigns import service as campaigns
from agent.campaigns.schemas import CampaignSettings
from agent.channels.rules import check_message
from agent.contacts import service as contacts
from agent.db import utcnow
from agent.executor import SEND_BATCH
from agent.errors import Conflict, InvalidTransition, NotFound, OvertureError, ValidationFailed
from agent.lifecycle.enrollments import move_enrollment, move_enrollments
from agent.lifecycle.outreaches import allowed_from, move_outreach, move_outreach_returning, move_outreaches
from agent.ids import new_id
from agent.models import ActivityEvent, Campaign, Contact, Enrollment, Outreach, OutreachRevision
from agent.outreaches import repository as outreaches
from agent.pagination import keyset, page
from agent.queue import enqueue
from agent.scheduling import contact_window, is_allowed
from agent.states import (
    APPROVED_ALREADY,
    CampaignStatus,
    EnrollmentAction,
    EnrollmentStatus,
    OutreachAction,
    OutreachStatus,
    Substatus,
)
from review.schemas import (BulkApproveOut, BulkResult, CampaignBrief, ContactBrief, EventOut, InboxItem, InboxPage,
                            OutreachDetail, RevisionOut)

DEFAULT_STATUSES = (OutreachStatus.awaiting_approval,)
EXECUTOR_TASK = "executor.send_outreaches"
PLANNER_TASK = "planner.plan_enrollment"  # by name: review may not import the planner
_IN_CHUNK = 500  # ids per IN (...) list, well under SQLite's bound-parameter limit


# --- reading ---------------------------------------------------------------------------------

def _like(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _filtered(stmt: Select, workspace_id: str, *, campaign_id: str | None, channel: str | None, q: str | None,
              region: str, dialect: str) -> Select:
    stmt = stmt.where(Outreach.workspace_id == workspace_id)
    if campaign_id:
        stmt = stmt.where(Outreach.campaign_id == campaign_id)
    if channel:
        stmt = stmt.where(Outreach.channel == channel)
    if q:
        like = _like(q)
        full_name = Contact.first_name + " " + Contact.last_name
        stmt = stmt.where(or_(contacts.search_filter(q, region), full_name.ilike(like, escape="\\"),
                              Outreach.subject.ilike(like, escape="\\"), Outreach.body.ilike(like, escape="\\")))
        if search.indexed(q):
            # The index narrows the rows; the LIKE filter above still decides (the same answer).
            stmt = stmt.where(Outreach.id.in_(search.outreach_ids(dialect, q, contacts.query_phone(q, region))))
    return stmt


_joined = outreaches.with_contact


def contact_brief(c: Contact) -> ContactBrief:
    return ContactBrief(id=c.id, name=" ".join(p for p in (c.first_name, c.last_name) if p), email=c.email,
                        phone=c.phone, timezone=c.timezone)


# The outreach's part of an inbox item, as columns (a page or a move's RETURNING reads these, not whole rows).
ITEM_COLUMNS = (Outreach.id, Outreach.status, Outreach.channel, Outreach.subject, Outreach.body, Outreach.scheduled_at,
                Outreach.campaign_id, Outreach.enrollment_id, Outreach.model, Outreach.version)


def inbox_item(o: Outreach | Row, c: Contact) -> InboxItem:
    return InboxItem(id=o.id, status=o.status, channel=o.channel, subject=o.subject, body=o.body,
                     scheduled_at=o.scheduled_at, campaign_id=o.campaign_id, enrollment_id=o.enrollment_id,
                     model=o.model, version=o.version, contact=contact_brief(c))


async def list_inbox(session: AsyncSession, workspace_id: str, *, statuses: list[OutreachStatus],
                     campaign_id: str | None = None, channel: str | None = None, q: str | None = None,
                     limit: int = 50, cursor: str | None = None) -> InboxPage:
    """One page, oldest first (ids are time-ordered), plus counts per status for the same filters."""
    region = await contacts.workspace_region(session, workspace_id) if q else "US"
    filters = dict(campaign_id=campaign_id, channel=channel, q=q, region=region,
                   dialect=session.get_bind().dialect.name)
    # Columns, not ORM rows: the page needs ten of the outreach's and six of the contact's.
    stmt = _filtered(_joined(*ITEM_COLUMNS, *_CONTACT_COLUMNS), workspace_id, **filters)
    stmt = stmt.where(Outreach.status.in_(statuses))
    stmt = keyset(stmt, sort_col=None, id_col=Outreach.id, cursor=cursor, descending=False, limit=limit)
    rows, next_cursor = page(list((await session.execute(stmt)).all()), limit, lambda r: (None, r.id))
    # Counts need the contact join only when the text filter reads contact columns.
    base = _joined(Outreach.status, func.count()) if q else select(Outreach.status, func.count()).select_from(Outreach)
    counts_stmt = _filtered(base, workspace_id, **filters).group_by(Outreach.status)
    if q and search.indexed(q):
        # Every status, said out loud: SQLite then looks the index's ids up in (workspace, status, id)
        # instead of reading all the workspace's outreaches to test each against them.
        counts_stmt = counts_stmt.where(Outreach.status.in_(list(OutreachStatus)))
    counts = {status.value: 0 for status in OutreachStatus}
    counts.update({status: n for status, n in (await session.execute(counts_stmt)).all()})
    return InboxPage(items=[_page_item(r) for r in rows], next_cursor=next_cursor, counts=counts)


_CONTACT_COLUMNS = (Contact.id.label("contact_id"), Contact.first_name, Contact.last_name, Contact.email,
                    Contact.phone, Contact.timezone)


def _page_item(r: Row) -> InboxItem:
    contact = ContactBrief(id=r.contact_id, name=" ".join(p for p in (r.first_name, r.last_name) if p),
                           email=r.email, phone=r.phone, timezone=r.timezone)
    return InboxItem(id=r.id, status=r.status, channel=r.channel, subject=r.subject, body=r.body,
                     scheduled_at=r.scheduled_at, campaign_id=r.campaign_id, enrollment_id=r.enrollment_id,
                     model=r.model, version=r.version, contact=contact)


async def get_item_rows(session: AsyncSession, workspace_id: str, outreach_id: str
                        ) -> tuple[Outreach, Campaign, Contact]:
    found = await outreaches.get_outreach(session, workspace_id, outreach_id)
    return found.outreach, found.campaign, found.contact



async def get_item(session: AsyncSession, workspace_id: str, outreach_id: str) -> InboxItem:
    o, _, c = await get_item_rows(session, workspace_id, outreach_id)
    return inbox_item(o, c)


async def get_detail(session: AsyncSession, workspace_id: str, outreach_id: str) -> OutreachDetail:
    o, campaign, c = await get_item_rows(session, workspace_id, outreach_id)
    revisions = (await session.execute(select(OutreachRevision).where(OutreachRevision.outreach_id == o.id)
                                       .order_by(OutreachRevision.number))).scalars().all()
    events = (await session.execute(
        select(ActivityEvent).where(ActivityEvent.campaign_id == o.campaign_id, ActivityEvent.outreach_id == o.id)
        .order_by(ActivityEvent.id).limit(500))).scalars().all()
    return OutreachDetail(
        **inbox_item(o, c).model_dump(),
        campaign=CampaignBrief(id=campaign.id, name=campaign.name, brief=campaign.brief,
                               manual_review=campaign.manual_review),
        rationale=o.rationale, instruction=o.instruction, approved_by=o.approved_by, approved_at=o.approved_at,
        sent_at=o.sent_at, provider_message_id=o.provider_message_id, error=o.error,
        revisions=[RevisionOut.model_validate(r, from_attributes=True) for r in revisions],
        history=[EventOut.model_validate(e, from_attributes=True) for e in events])


# --- acting ----------------------------------------------------------------------------------

def record(session: AsyncSession, who: Principal, o: Outreach, contact_id: str, kind: str,
           payload: dict[str, Any]) -> None:
    """The acting reviewer's event about ``o``, in the request's transaction."""
    activity.record(session, workspace_id=o.workspace_id, actor=who.key_id, kind=kind, campaign_id=o.campaign_id,
                    contact_id=contact_id, enrollment_id=o.enrollment_id, outreach_id=o.id, payload=payload)


async def refusal(session: AsyncSession, workspace_id: str, outreach_id: str, action: OutreachAction,
                   version: int | None) -> OvertureError:
    """Why a compare-and-set changed nothing: the status does not allow it, or the version moved."""
    o, _, _ = await get_item_rows(session, workspace_id, outreach_id)
    if o.status not in allowed_from(action):
        return InvalidTransition(f"cannot {action.value} an outreach that is {o.status}", current_status=o.status)
    if version is not None and version != o.version:
        return Conflict(f"the outreach changed since version {version}; reload it and try again", code="stale",
                        current_version=o.version)
    return Conflict("the outreach changed at the same time; reload it and try again", code="stale",
                    current_version=o.version)


async def _outreach_and_contact(session: AsyncSession, workspace_id: str, outreach_id: str) -> tuple[Outreach, Contact]:
    """The workspace's outreach and its contact, read fresh (what an approve reads: two rows, one query)."""
    row = (await session.execute(_joined(Outreach, Contact).where(
        Outreach.id == outreach_id, Outreach.workspace_id == workspace_id)
        .execution_options(populate_existing=True))).first()
    if row is None:
        raise NotFound(f"no outreach {outreach_id}")
    return row[0], row[1]


async def approve(session: AsyncSession, who: Principal, outreach_id: str, *, version: int | None = None) -> InboxItem:
    """Approve a draft. Approving one already approved (or further along) changes nothing."""
    o, c = await _outreach_and_contact(session, who.workspace_id, outreach_id)
    if o.status in APPROVED_ALREADY and o.approved_by is not None:
        return inbox_item(o, c)
    # The move answers the item's columns as they now are: no second read.
    row = await move_outreach_returning(session, o.id, OutreachAction.approve, *ITEM_COLUMNS, version=version,
                                        values={"approved_by": who.key_id, "approved_at": utcnow()})
    if row is None:
        error = await refusal(session, who.workspace_id, o.id, OutreachAction.approve, version)
        o, _, c = await get_item_rows(session, who.workspace_id, outreach_id)
        if o.status in APPROVED_ALREADY and o.approved_by is not None:
            return inbox_item(o, c)  # another approver won the race: the approval is on record once
        raise error
    await activity.write(session, workspace_id=o.workspace_id, actor=who.key_id, kind="outreach.approved",
                         campaign_id=o.campaign_id, contact_id=c.id, enrollment_id=o.enrollment_id, outreach_id=o.id,
                         payload={"version": row.version})
    return inbox_item(row, c)


async def approve_many(session: AsyncSession, who: Principal, ids: Iterable[str],
                       versions: dict[str, int]) -> BulkApproveOut:
    """Approve each id on its own: one refused id does not stop the others."""
    results: list[BulkResult] = []
    for outreach_id in dict.fromkeys(ids):
        try:
            item = await approve(session, who, outreach_id, version=versions.get(outreach_id))
            results.append(BulkResult(id=outreach_id, ok=True, status=item.status, version=item.version))
        except OvertureError as exc:
            current = exc.extra.get("current_status")
            results.append(BulkResult(id=outreach_id, ok=False, status=current, version=exc.extra.get("current_version"),
                                      code=exc.code, detail=exc.detail))
    return BulkApproveOut(approved=sum(r.ok for r in results), results=results)


async def edit(session: AsyncSession, who: Principal, outreach_id: str, *, version: int | None,
               changes: dict[str, Any]) -> InboxItem:
    """Save an edit as a new revision, re-validated; it needs the version the editor started from."""
    if version is None:
        raise OvertureError("send the version you edited as If-Match or in the body", code="version_required",
                            status=428, errors=[{"loc": ["header", "If-Match"], "message": "required"}])
    if not changes:
        raise ValidationFailed("nothing to change: send subject, body or scheduled_at",
                               errors=[{"loc": ["body"], "message": "no field to change"}])
    o, campaign, c = await get_item_rows(session, who.workspace_id, outreach_id)
    if o.status not in allowed_from(OutreachAction.edit):
        raise InvalidTransition(f"cannot edit an outreach that is {o.status}", current_status=o.status)
    if o.version != version:
        raise Conflict(f"the outreach changed since version {version}; reload it and try again", code="stale",
                       current_version=o.version)
    subject = changes.get("subject", o.subject)
    body = changes.get("body", o.body)
    scheduled_at = changes.get("scheduled_at", o.scheduled_at)
    if changes.keys() & {"subject", "body"}:
        violations = check_message(o.channel, subject=subject, body=body or "")
        if violations:
            first = violations[0]
            raise ValidationFailed(f"{first.field}: {first.message}", code="draft_invalid",
                                   errors=[{"loc": ["body", v.field], "message": v.message, "code": str(v.code)}
                                           for v in violations])
    if "scheduled_at" in changes:
        # A minute's grace for picking "now" and saving it. An unchanged time (a client echoing the
        # draft back, a form showing it to the minute) may have passed while the draft waited: it
        # is sent as soon as it is due.
        unchanged = o.scheduled_at is not None and scheduled_at is not None and \
            abs(scheduled_at - o.scheduled_at) < dt.timedelta(minutes=1)
        if scheduled_at is not None and not unchanged and scheduled_at < utcnow() - dt.timedelta(seconds=60):
            raise ValidationFailed("scheduled_at is in the past", code="scheduled_in_past",
                                   errors=[{"loc": ["body", "scheduled_at"], "message": "in the past"}])
        if scheduled_at is not None and campaign.end_at is not None and scheduled_at > campaign.end_at:
            raise ValidationFailed(f"scheduled_at is after the campaign ends ({campaign.end_at.isoformat()})",
                                   code="after_campaign_end",
                                   errors=[{"loc": ["body", "scheduled_at"],
                                            "message": f"after the campaign's end_at {campaign.end_at.isoformat()}"}])
        if scheduled_at is None or not is_allowed(scheduled_at, contact_window(campaign, c)):
            raise ValidationFailed("scheduled_at is outside the contact's allowed hours", code="outside_allowed_hours",
                                   errors=[{"loc": ["body", "scheduled_at"],
                                            "message": "outside the contact's quiet hours or the campaign's hours"}])
    moved = await move_outreach(session, o.id, OutreachAction.edit, version=version,
                                values={"subject": subject, "body": body, "scheduled_at": scheduled_at,
                                        "approved_by": None, "approved_at": None})
    if moved is None:
        raise await refusal(session, who.workspace_id, o.id, OutreachAction.edit, version)
    count = (await session.execute(select(func.count()).select_from(OutreachRevision)
                                   .where(OutreachRevision.outreach_id == o.id))).scalar_one()
    if count == 0:
        # The planner's text becomes revision 1, so the history shows what the first edit changed.
        session.add(OutreachRevision(id=new_id("rev"), outreach_id=o.id, number=1, actor=activity.SYSTEM,
                                     subject=o.subject, body=o.body, scheduled_at=o.scheduled_at,
                                     created_at=o.created_at))
        count = 1
    session.add(OutreachRevision(id=new_id("rev"), outreach_id=o.id, number=count + 1, actor=who.key_id,
                                 subject=subject, body=body, scheduled_at=scheduled_at))
    record(session, who, o, c.id, "outreach.edited",
            {"fields": sorted(changes), "version": moved, "revision": count + 1, "was": o.status})
    return await get_item(session, who.workspace_id, o.id)


async def reject(session: AsyncSession, who: Principal, outreach_id: str, *, reason: str, regenerate: bool,
                 instruction: str | None, version: int | None = None) -> InboxItem:
    """Reject a draft; with ``regenerate`` it is superseded and the planner drafts again after commit."""
    o, campaign, c = await get_item_rows(session, who.workspace_id, outreach_id)
    action = OutreachAction.supersede if regenerate else OutreachAction.reject
    moved = await move_outreach(session, o.id, action, version=version)
    if moved is None:
        raise await refusal(session, who.workspace_id, o.id, action, version)
    now = utcnow()
    if regenerate:
        substatus, next_at = None, now
    else:
        # Back in the plan, not straight back in the queue: the next draft waits a retry interval.
        interval = CampaignSettings.model_validate(campaign.settings or {}).retry_interval.seconds
        substatus, next_at = Substatus.scheduled, now + dt.timedelta(seconds=interval)
    back = await move_enrollment(session, o.enrollment_id, EnrollmentAction.reject, substatus=substatus, now=now,
                                 values={"lease_until": None, "next_attempt_at": next_at}, actor=who.key_id,
                                 outreach_id=o.id, payload={"regenerate": regenerate})
    if regenerate:
        if back is None:
            # Raising rolls the rejection back too: nothing is superseded without a new draft coming.
            raise InvalidTransition("the contact is no longer waiting on this draft; nothing to regenerate",
                                    current_status=o.status)
        enqueue(session, PLANNER_TASK, enrollment_id=o.enrollment_id, run_id=None, instruction=instruction or None)
    record(session, who, o, c.id, "outreach.superseded" if regenerate else "outreach.rejected",
            {"reason": reason, "regenerate": regenerate, "instruction": instruction, "version": moved})
    return await get_item(session, who.workspace_id, o.id)


async def execute_approved(session: AsyncSession, who: Principal, campaign_id: str) -> int:
    """Hand every approved outreach of the campaign to the executor; how many were queued."""
    campaign = await campaigns.get(session, who.workspace_id, campaign_id, for_update=True)
    if campaign.status != CampaignStatus.active:
        raise InvalidTransition(f"the campaign is {campaign.status}; only an active campaign sends",
                                current_status=campaign.status)
    # One compare-and-set for the lot: a concurrent call gets disjoint rows (or none).
    rows = await move_outreaches(session, OutreachAction.queue,
                                 (Outreach.campaign_id == campaign.id) & Outreach.approved_by.is_not(None))
    enrollment_ids = [r.enrollment_id for r in rows]
    await move_enrollments(session, enrollment_ids, EnrollmentAction.queue, before=EnrollmentStatus.awaiting_approval,
                           actor=who.key_id)
    contact_of: dict[str, str] = {}
    for i in range(0, len(enrollment_ids), _IN_CHUNK):
        chunk = enrollment_ids[i:i + _IN_CHUNK]
        contact_of.update((eid, cid) for eid, cid in (await session.execute(
            select(Enrollment.id, Enrollment.contact_id).where(Enrollment.id.in_(chunk)))).all())
    for r in rows:
        activity.record(session, workspace_id=campaign.workspace_id, actor=who.key_id, kind="outreach.queued",
                        campaign_id=campaign.id, contact_id=contact_of.get(r.enrollment_id),
                        enrollment_id=r.enrollment_id, outreach_id=r.id, payload={"version": r.version})
    for i in range(0, len(rows), SEND_BATCH):
        enqueue(session, EXECUTOR_TASK, outreach_ids=[r.id for r in rows[i:i + SEND_BATCH]])
    return len(rows)
