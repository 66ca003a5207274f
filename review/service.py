"""The review queue's behaviour: the inbox, approve, edit, reject (and regenerate), and the
hand-off of approved outreaches to the executor.

Every move goes through ``agent.lifecycle`` (compare-and-set on id, status and the version the
reviewer saw) and appends an activity event with the actor. Services never commit;
the request owns the transaction, so a refused move (raised) rolls back whole.
"""

from __future__ import annotations

import collections
import datetime as dt
import functools
from collections.abc import Iterable
from typing import Any, NamedTuple

from sqlalchemy import Row, Select, String, bindparam, func, literal_column, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity, search
from agent.auth import Principal
from agent.campaigns import service as campaigns
from agent.campaigns.schemas import CampaignSettings
from agent.channels.rules import check_message
from agent.contacts import service as contacts
from agent.contacts.repository import suppressed_in, suppressions_of
from agent.db import utcnow
from agent.executor import send_batch
from agent.errors import Conflict, InvalidTransition, NotFound, OvertureError, ValidationFailed
from agent.lifecycle.enrollments import move_enrollment, move_enrollments
from agent.lifecycle.outreaches import allowed_from, move_outreach, move_outreaches, move_workspace_outreach
from agent.ids import new_id
from agent.models import ActivityEvent, ApiKey, Campaign, Channel, Contact, Enrollment, Outreach, OutreachRevision
from agent.outreaches import repository as outreaches
from agent.pagination import after_id, keyset, page
from agent.queue import enqueue
from agent.scheduling import contact_window, is_allowed, next_allowed
from agent.send_guard import Decision, address_of, verdict
from agent.states import (
    APPROVED_ALREADY,
    OUTREACH_SENT,
    CampaignStatus,
    EnrollmentAction,
    EnrollmentStatus,
    OutreachAction,
    OutreachStatus,
    Substatus,
)
from review.schemas import (BulkApproveOut, BulkItemResult, BulkMatchIn, BulkMatchOut, BulkResult, CampaignBrief,
                            ContactBrief, EventOut, InboxItem, InboxPage, OutreachDetail, RevisionOut)

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


def contact_brief(c: Contact | ContactCols) -> ContactBrief:
    return ContactBrief(id=c.id, name=" ".join(p for p in (c.first_name, c.last_name) if p), email=c.email,
                        phone=c.phone, timezone=c.timezone)


# The outreach's part of an inbox item, as columns (a page or a move's RETURNING reads these, not
# whole rows), the table's own: a select of them alone is Core's (no ORM compile, plain rows).
_O = Outreach.__table__
ITEM_COLUMNS = tuple(_O.c[name] for name in (
    "id", "status", "channel", "subject", "body", "scheduled_at", "campaign_id", "enrollment_id", "model", "version",
    "created_at", "sent_at", "settings_version"))


def inbox_item(o: Outreach | ItemCols | Row, c: Contact | ContactCols, *, sla_hours: int | None = None,
               now: dt.datetime | None = None, **extra: Any) -> InboxItem:
    """The item as the inbox shows it; ``sla_hours`` (the campaign's) flags a draft waiting too long."""
    age = None
    if o.status == OutreachStatus.awaiting_approval and o.created_at is not None:
        age = max(0, int(((now or utcnow()) - o.created_at).total_seconds()))
    return InboxItem(id=o.id, status=o.status, channel=o.channel, subject=o.subject, body=o.body,
                     scheduled_at=o.scheduled_at, campaign_id=o.campaign_id, enrollment_id=o.enrollment_id,
                     model=o.model, version=o.version, contact=contact_brief(c), created_at=o.created_at,
                     approval_age_s=age, approval_sla_hours=sla_hours,
                     approval_overdue=age is not None and sla_hours is not None and age > sla_hours * 3600,
                     sent_at=o.sent_at, settings_version=o.settings_version, **extra)


def _local(when: dt.datetime, zone_name: str) -> str:
    from zoneinfo import ZoneInfo

    local = when.astimezone(ZoneInfo(zone_name))
    return local.strftime("%H:%M %a %d %b") + f" in the contact's zone ({zone_name})"


async def waiting_reason(session: AsyncSession, o: Outreach, campaign: Campaign, contact: Contact,
                         enrollment: Enrollment, channel: Channel | None, now: dt.datetime, *,
                         suppressed: bool | None = None) -> str:
    """Why a queued outreach has not gone out yet, in words: the send guard's answer as it would be
    now (a pause, a state's cap, a send that would be voided) and then the contact's hours."""
    if o.status == OutreachStatus.executing:
        return "call in progress" if o.channel == "voice" else "being sent now"
    found = await verdict(session, o, campaign, contact, enrollment, channel, now, suppressed=suppressed)
    window = contact_window(campaign, contact)
    zone_name = window.contact_tz or window.campaign_tz
    if found.decision == Decision.hold:
        return f"held: {found.reason}; it goes out after the resume"
    if found.decision == Decision.void:
        return f"will not be sent: {found.reason}"
    if found.decision == Decision.reopen:
        return f"back to review at send time: {found.reason}"
    if found.decision == Decision.fail:
        return f"will fail at send time: {found.reason}"
    if found.decision == Decision.defer and found.until is not None:
        return f"until {_local(found.until, zone_name)}: {found.reason}"
    at = max(now, o.scheduled_at) if o.scheduled_at is not None else now
    if not is_allowed(at, window):
        nxt = next_allowed(at, window, not_after=campaign.end_at)
        if nxt is None:
            return "no allowed hour before the campaign ends"
        return f"until {_local(nxt, zone_name)}: outside the contact's allowed hours"
    if o.scheduled_at is not None and o.scheduled_at > now:
        return f"scheduled for {_local(o.scheduled_at, zone_name)}"
    return "due now: waiting for the sender's next run"


class ContactCols(NamedTuple):
    """The contact's part of an inbox row, as columns (what an item shows and a sent one went to)."""

    id: str
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    timezone: str | None


# The outreach's part of a page row (``ITEM_COLUMNS``, then its channel), named as the columns:
# read by name at a tuple's speed, a few times per item.
ItemCols = collections.namedtuple("ItemCols", [col.key for col in ITEM_COLUMNS] + ["channel_id"])


# A page row: the item's outreach columns, its channel, then the contact's (labelled: both have an id).
_C = Contact.__table__
PAGE_COLUMNS = (*ITEM_COLUMNS, _O.c.channel_id, _C.c.id.label("c_id"), _C.c.first_name, _C.c.last_name,
                _C.c.email, _C.c.phone, _C.c.timezone)
_CONTACT_AT = len(ItemCols._fields)
QUEUED = (OutreachStatus.awaiting_execution, OutreachStatus.executing)


def _split(row: Row) -> tuple[ItemCols, ContactCols]:
    return ItemCols._make(row[:_CONTACT_AT]), ContactCols._make(row[_CONTACT_AT:_CONTACT_AT + len(ContactCols._fields)])


async def _waiting_reasons(session: AsyncSession, rows: list[tuple[Any, Any]], chans: dict[str, Channel],
                           now: dt.datetime) -> dict[str, str]:
    """Why each queued row waits, for all of them at once: their outreaches, campaigns, contacts
    and enrollments read whole in one query (the send guard decides on whole rows), and one
    suppression lookup for their contacts, as the executor makes for a batch."""
    queued = [o.id for o, _ in rows if o.status in QUEUED]
    if not queued:
        return {}
    found = await outreaches.find_outreaches(session, queued, refresh=False)
    suppressions = await suppressions_of(session, [f.contact for f in found])
    reasons = {}
    for f in found:
        o, c = f.outreach, f.contact
        if o.status not in QUEUED:
            continue  # moved since the page was read: it answers as the page saw it, without a reason
        channel = chans.get(o.channel_id) if o.channel_id else None
        reasons[o.id] = await waiting_reason(session, o, f.campaign, c, f.enrollment, channel, now,
                                             suppressed=suppressed_in(suppressions, c, o.channel))
    return reasons


async def _providers(session: AsyncSession, rows: list[tuple[Any, Any]], chans: dict[str, Channel]
                     ) -> dict[str, str | None]:
    """Which provider each sent row went through: the one its ``outreach.sent`` event names (the
    channel's provider may have changed since), else the channel's (the sandbox if it names none).
    Read by the contacts' index: a contact has a handful of events, a campaign may have millions."""
    sent = {o.id: (o, c) for o, c in rows if o.status in OUTREACH_SENT}
    if not sent:
        return {}
    named: dict[str, str] = {}
    for oid, payload in (await session.execute(
            select(ActivityEvent.outreach_id, ActivityEvent.payload).where(
                ActivityEvent.contact_id.in_({c.id for _, c in sent.values()}),
                ActivityEvent.outreach_id.in_(list(sent)), ActivityEvent.kind == "outreach.sent")
            .order_by(ActivityEvent.id))).all():
        if (payload or {}).get("provider"):
            named[oid] = str(payload["provider"])  # the latest send's, by id order
    out: dict[str, str | None] = {}
    for oid, (o, _) in sent.items():
        channel = chans.get(o.channel_id) if o.channel_id else None
        out[oid] = named.get(oid) or (str((channel.config or {}).get("provider") or "sandbox") if channel else None)
    return out


_CAMPAIGNS = Campaign.__table__
_SLA_READ = select(_CAMPAIGNS.c.id, _CAMPAIGNS.c.settings).where(_CAMPAIGNS.c.id.in_(bindparam("ids", expanding=True)))


async def annotated(session: AsyncSession, rows: list[tuple[Any, Any]], now: dt.datetime | None = None
                    ) -> list[InboxItem]:
    """Inbox items with what each tab explains: approval age and SLA, why a queued one waits, where
    a sent one went and through which provider. A handful of queries per page, not per item.

    ``rows`` are (outreach, contact) pairs, as entities or as columns (a ``PAGE_COLUMNS`` row split
    into :class:`ItemCols` and :class:`ContactCols`): the awaiting-approval tab needs nothing a row lacks."""
    now = now or utcnow()
    campaign_ids = {o.campaign_id for o, _ in rows}
    # The SLA once per campaign, from its settings alone (the whole campaign only where a queued row needs it).
    sla = {cid: CampaignSettings.model_validate(settings or {}).approval_sla_hours
           for cid, settings in (await session.execute(_SLA_READ, {"ids": list(campaign_ids)})).all()
           } if campaign_ids else {}
    channel_ids = {o.channel_id for o, _ in rows if o.channel_id and (o.status in QUEUED or o.status in OUTREACH_SENT)}
    chans = {c.id: c for c in (await session.execute(
        select(Channel).where(Channel.id.in_(channel_ids)))).scalars()} if channel_ids else {}
    waiting = await _waiting_reasons(session, rows, chans, now)
    providers = await _providers(session, rows, chans)
    items = []
    for o, c in rows:
        extra: dict[str, Any] = {}
        if o.id in waiting:
            extra["waiting"] = waiting[o.id]
        if o.status in OUTREACH_SENT:
            extra["sent_to"] = address_of(o.channel, c)
            extra["provider"] = providers[o.id]
        items.append(inbox_item(o, c, sla_hours=sla[o.campaign_id], now=now, **extra))
    return items


@functools.cache
def _page_statements(campaign: bool, channel: bool, after: bool) -> tuple[Select, Select]:
    """The page and its counts without a text filter, built once per shape and reused with new
    values (``ws``, ``statuses``, ``campaign_id``, ``channel``, ``after``, ``limit``): building
    and cache-keying a Select costs more than SQLite takes to read a page by its index."""
    where = [_O.c.workspace_id == bindparam("ws")]
    if campaign:
        where.append(_O.c.campaign_id == bindparam("campaign_id"))
    if channel:
        where.append(_O.c.channel == bindparam("channel"))
    page_stmt = select(*PAGE_COLUMNS).select_from(outreaches.contact_join()).where(
        *where, _O.c.status.in_(bindparam("statuses", expanding=True)))
    if after:
        page_stmt = page_stmt.where(_O.c.id > bindparam("after"))
    page_stmt = page_stmt.order_by(_O.c.id).limit(bindparam("limit"))
    counts_stmt = select(_O.c.status, func.count()).where(*where).group_by(_O.c.status)
    return page_stmt, counts_stmt


async def list_inbox(session: AsyncSession, workspace_id: str, *, statuses: list[OutreachStatus],
                     campaign_id: str | None = None, channel: str | None = None, q: str | None = None,
                     limit: int = 50, cursor: str | None = None) -> InboxPage:
    """One page, oldest first (ids are time-ordered), plus counts per status for the same filters."""
    if q:
        rows, counts_stmt = await _search_page(session, workspace_id, statuses=statuses, campaign_id=campaign_id,
                                               channel=channel, q=q, limit=limit, cursor=cursor)
        values: dict[str, Any] = {}
    else:
        after = after_id(cursor)
        page_stmt, counts_stmt = _page_statements(campaign_id is not None, channel is not None, after is not None)
        values = {"ws": workspace_id, "campaign_id": campaign_id, "channel": channel}
        rows = list((await session.execute(page_stmt, values | {
            "statuses": [str(s) for s in statuses], "after": after, "limit": limit + 1})).all())
    rows, next_cursor = page(rows, limit, lambda r: (None, r.id))
    counts = {status.value: 0 for status in OutreachStatus}
    counts.update({status: n for status, n in (await session.execute(counts_stmt, values)).all()})
    return InboxPage(items=await annotated(session, [_split(r) for r in rows]), next_cursor=next_cursor,
                     counts=counts)


async def _search_page(session: AsyncSession, workspace_id: str, *, statuses: list[OutreachStatus],
                       campaign_id: str | None, channel: str | None, q: str, limit: int,
                       cursor: str | None) -> tuple[list[Row], Select]:
    """The page's rows and the counts' statement with the text filter (built per query)."""
    region = await contacts.workspace_region(session, workspace_id)
    filters = dict(campaign_id=campaign_id, channel=channel, q=q, region=region,
                   dialect=session.get_bind().dialect.name)
    stmt = _filtered(_joined(*PAGE_COLUMNS), workspace_id, **filters).where(Outreach.status.in_(statuses))
    stmt = keyset(stmt, sort_col=None, id_col=Outreach.id, cursor=cursor, descending=False, limit=limit)
    rows = list((await session.execute(stmt)).all())
    # Counts need the contact join: the text filter reads contact columns.
    counts_stmt = _filtered(_joined(Outreach.status, func.count()), workspace_id, **filters).group_by(Outreach.status)
    if search.indexed(q):
        # Every status, said out loud: SQLite then looks the index's ids up in (workspace, status, id)
        # instead of reading all the workspace's outreaches to test each against them.
        counts_stmt = counts_stmt.where(Outreach.status.in_(list(OutreachStatus)))
    return rows, counts_stmt


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
    [item] = await annotated(session, [(o, c)])
    return OutreachDetail(
        **item.model_dump(),
        campaign=CampaignBrief(id=campaign.id, name=campaign.name, brief=campaign.brief,
                               manual_review=campaign.manual_review),
        rationale=o.rationale, instruction=o.instruction, approved_by=o.approved_by, approved_at=o.approved_at,
        provider_message_id=o.provider_message_id, error=o.error,
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


# What an approve reads when its compare-and-set moved nothing: the item's columns, who approved
# it, and the contact's, by a statement built once (only the values change from one to the next).
_APPROVE_READ = _joined(*PAGE_COLUMNS, Outreach.workspace_id, Outreach.approved_by).where(
    Outreach.id == bindparam("oid"), Outreach.workspace_id == bindparam("ws"))


def _moved_contact(name: str) -> Any:
    """The moved outreach's contact's column ``name``, as a subquery its UPDATE returns. Written
    out: SQLite renders RETURNING's columns without their table, which would leave the subquery's
    own columns ambiguous."""
    return literal_column(f"(SELECT contacts.{name} FROM enrollments JOIN contacts ON contacts.id = "
                          f"enrollments.contact_id WHERE enrollments.id = outreaches.enrollment_id)",
                          String).label(f"c_{name}")


# The approve's UPDATE answers the item's columns as they now are and its contact's: one statement
# for what took a read and a write.
_APPROVED_COLUMNS = (*ITEM_COLUMNS, *(_moved_contact(name) for name in ContactCols._fields))


async def approve(session: AsyncSession, who: Principal, outreach_id: str, *, version: int | None = None) -> InboxItem:
    """Approve a draft. Approving one already approved (or further along) changes nothing.

    The compare-and-set comes first, in the workspace, and answers the item with its contact: a
    draft awaiting approval is approved by that statement and the event's INSERT. Only when it
    moved nothing is the row read, to say why (not found, approved already, stale, not allowed)."""
    now = utcnow()
    moved = await move_workspace_outreach(session, who.workspace_id, outreach_id, OutreachAction.approve,
                                          *_APPROVED_COLUMNS, version=version, now=now,
                                          values={"approved_by": who.key_id, "approved_at": now})
    if moved is None:
        return await _not_approved(session, who, outreach_id, version)
    c = ContactCols._make(moved[-len(ContactCols._fields):])  # RETURNING ends with them (_APPROVED_COLUMNS)
    await activity.write_now(session, workspace_id=who.workspace_id, actor=who.key_id, kind="outreach.approved",
                             campaign_id=moved.campaign_id, contact_id=c.id, enrollment_id=moved.enrollment_id,
                             outreach_id=moved.id, payload={"version": moved.version}, now=now)
    return inbox_item(moved, c)


async def _not_approved(session: AsyncSession, who: Principal, outreach_id: str, version: int | None) -> InboxItem:
    """Why an approve's compare-and-set moved nothing: the item as it is when another approval is
    on record (approving it again changes nothing), else the refusal."""
    row = (await session.execute(_APPROVE_READ, {"oid": outreach_id, "ws": who.workspace_id})).first()
    if row is None:
        raise NotFound(f"no outreach {outreach_id}")
    o, c = _split(row)
    if o.status in APPROVED_ALREADY and row.approved_by is not None:
        return inbox_item(o, c)
    raise await refusal(session, who.workspace_id, o.id, OutreachAction.approve, version)


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


def _matching(workspace_id: str, want: BulkMatchIn, region: str, columns: tuple[Any, ...], dialect: str) -> Select:
    stmt = _filtered(_joined(*columns) if want.q else select(*columns).select_from(Outreach), workspace_id,
                     campaign_id=want.campaign_id, channel=want.channel, q=want.q, region=region, dialect=dialect)
    stmt = stmt.where(Outreach.status == OutreachStatus.awaiting_approval)
    if want.older_than_hours:
        stmt = stmt.where(Outreach.created_at <= utcnow() - dt.timedelta(hours=want.older_than_hours))
    return stmt


def _skip(o: Outreach | None, version: int, names: dict[str, str]) -> BulkItemResult:
    """Why a selected draft was not acted on, read after the compare-and-set refused it."""
    if o is None:
        return BulkItemResult(id="", outcome="skipped", code="not_found", detail="not in this workspace")
    if o.status in APPROVED_ALREADY and o.approved_by:
        who = names.get(o.approved_by, "another reviewer")
        return BulkItemResult(id=o.id, outcome="skipped", status=o.status, version=o.version,
                              code="already_approved", detail=f"already approved by {who}")
    if o.status != OutreachStatus.awaiting_approval:
        return BulkItemResult(id=o.id, outcome="skipped", status=o.status, version=o.version,
                              code="invalid_transition", detail=f"it is {o.status.replace('_', ' ')} now")
    return BulkItemResult(id=o.id, outcome="skipped", status=o.status, version=o.version, code="stale",
                          detail=f"changed since it was counted (version {version}, now {o.version})")


async def actor_names(session: AsyncSession, workspace_id: str, actors: Iterable[str]) -> dict[str, str]:
    """Key ids -> the key's name (its prefix only when it has none); the system actor is "Overture"."""
    ids = {a for a in actors if a and a != activity.SYSTEM}
    names = {activity.SYSTEM: "Overture"}
    if ids:
        rows = (await session.execute(select(ApiKey.id, ApiKey.name, ApiKey.prefix).where(
            ApiKey.workspace_id == workspace_id, ApiKey.id.in_(ids)))).all()
        names.update({r.id: r.name or f"key {r.prefix}…" for r in rows})
    return names


async def act_on_matching(session: AsyncSession, who: Principal, want: BulkMatchIn) -> BulkMatchOut:
    """Approve or reject the drafts awaiting approval that match ``want`` (or exactly ``want.items``).

    Bounded at ``want.limit`` per call, oldest first. Each draft moves by compare-and-set on its
    id, status and the version selected (or the one the caller counted): two callers racing on
    the same drafts approve each once, and a draft edited since it was counted is skipped.
    """
    region = await contacts.workspace_region(session, who.workspace_id) if want.q else "US"
    dialect = session.get_bind().dialect.name
    total = (await session.execute(_matching(who.workspace_id, want, region, (func.count(),), dialect))).scalar_one()
    if want.items is not None:
        wanted = dict(list(want.items.items())[:want.limit])
        chosen = {oid: v for oid, v in (await session.execute(select(Outreach.id, Outreach.version).where(
            Outreach.workspace_id == who.workspace_id, Outreach.id.in_(list(wanted))))).all()}
        selected = {oid: wanted[oid] for oid in wanted if oid in chosen}
        missing = [oid for oid in wanted if oid not in chosen]
    else:
        stmt = _matching(who.workspace_id, want, region, (Outreach.id, Outreach.version), dialect)
        selected = dict((await session.execute(stmt.order_by(Outreach.id).limit(want.limit))).all())
        missing = []
    answer = dict(action=want.action, dry_run=want.dry_run, matched=total, items=selected,
                  remaining=max(0, total - len(selected)))
    if want.dry_run:
        return BulkMatchOut(**answer, done=0, skipped=0, results=[])
    results: dict[str, BulkItemResult] = {}
    if want.action == "approve" and selected:
        rows = await move_outreaches(session, OutreachAction.approve,
                                     tuple_(Outreach.id, Outreach.version).in_(list(selected.items())),
                                     values={"approved_by": who.key_id, "approved_at": utcnow()})
        contact_of = dict((await session.execute(select(Enrollment.id, Enrollment.contact_id).where(
            Enrollment.id.in_([r.enrollment_id for r in rows])))).all()) if rows else {}
        for r in rows:
            results[r.id] = BulkItemResult(id=r.id, outcome="approved", status=OutreachStatus.approved,
                                           version=r.version)
        await activity.record_all(session, [dict(
            workspace_id=who.workspace_id, actor=who.key_id, kind="outreach.approved", outreach_id=r.id,
            campaign_id=cid, enrollment_id=r.enrollment_id, contact_id=contact_of.get(r.enrollment_id),
            payload={"version": r.version, "bulk": True}) for r, cid in zip(rows, await _campaigns_of(session, rows))])
    elif want.action == "reject":
        for oid, version in selected.items():
            try:
                item = await reject(session, who, oid, reason=want.reason, regenerate=want.regenerate,
                                    instruction=want.instruction, version=version)
            except OvertureError:
                # Refused at the draft's compare-and-set, nothing of it was written: skip it (read
                # back below with the reason). Refused after it moved (a redraft whose contact no
                # longer waits on it): the whole call rolls back, as a single reject would.
                now_at = (await session.execute(select(Outreach.status, Outreach.version).where(
                    Outreach.id == oid))).one_or_none()
                if now_at is not None and now_at.status in (OutreachStatus.rejected, OutreachStatus.superseded) \
                        and now_at.version == version + 1:
                    raise
                continue
            results[oid] = BulkItemResult(id=oid, outcome="redrafting" if want.regenerate else "rejected",
                                          status=item.status, version=item.version)
    refused = [oid for oid in selected if oid not in results]
    if refused:
        rows_by_id = {o.id: o for o in (await session.execute(
            select(Outreach).where(Outreach.id.in_(refused)).execution_options(populate_existing=True))).scalars()}
        names = await actor_names(session, who.workspace_id, [o.approved_by or "" for o in rows_by_id.values()])
        for oid in refused:
            results[oid] = _skip(rows_by_id.get(oid), selected[oid], names)
    ordered = [results[oid] for oid in selected] + [
        BulkItemResult(id=oid, outcome="skipped", code="not_found", detail="not in this workspace") for oid in missing]
    done = sum(r.outcome != "skipped" for r in ordered)
    return BulkMatchOut(**answer, done=done, skipped=len(ordered) - done, results=ordered)


async def _campaigns_of(session: AsyncSession, rows: list[Any]) -> list[str]:
    ids = [r.id for r in rows]
    found: dict[str, str] = {}
    for i in range(0, len(ids), _IN_CHUNK):
        found.update((await session.execute(select(Outreach.id, Outreach.campaign_id).where(
            Outreach.id.in_(ids[i:i + _IN_CHUNK])))).all())
    return [found[r.id] for r in rows]


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
    batch = send_batch()
    for i in range(0, len(rows), batch):
        enqueue(session, EXECUTOR_TASK, outreach_ids=[r.id for r in rows[i:i + batch]])
    return len(rows)
