"""Contact-side queries: the text search filter, a contact's enrollment in a campaign, the
campaign's contact list, import jobs by id, and whether an address is suppressed."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import JSON, case, cast, exists, false, func, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from agent.contacts.normalize import ContactInput, normalize_contact
from agent.errors import NotFound
from agent.lookup import get_in_workspace
from agent.models import Contact, Conversation, Enrollment, ImportJob, Outreach, Suppression, Workspace
from agent.pagination import keyset, page
from agent.states import PRIORITY_ORDER, EnrollmentStatus, Priority, Substatus


class EnrolledContact(NamedTuple):
    enrollment: Enrollment
    contact: Contact


async def workspace_region(session: AsyncSession, workspace_id: str) -> str:
    return (await session.execute(select(Workspace.default_region).where(Workspace.id == workspace_id))).scalar_one()


def search_filter(q: str, region: str = "US"):
    """Text in a name, email or phone; a query that reads as a phone number also matches its E.164 form."""
    # Escape LIKE wildcards so "_" and "%" in the text match themselves.
    like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    clauses = [col.ilike(like, escape="\\") for col in (Contact.first_name, Contact.last_name, Contact.email,
                                                         Contact.phone)]
    phone = query_phone(q, region)
    if phone:
        clauses.append(Contact.phone == phone)
    return or_(*clauses)


def _rank():
    return case({p.value: i for i, p in enumerate(PRIORITY_ORDER)}, value=Contact.priority, else_=1)


def priority_rank(contact_id_col):
    """An ORDER BY term: the contact's priority as 0 (high), 1 (normal), 2 (low), read by its id."""
    return select(_rank()).where(Contact.id == contact_id_col).scalar_subquery()


def enrollment_priority_rank(enrollment_id_col):
    """:func:`priority_rank` of the contact of an enrollment, read by the enrollment's id."""
    return (select(_rank()).join(Enrollment, Enrollment.contact_id == Contact.id)
            .where(Enrollment.id == enrollment_id_col).scalar_subquery())


def tag_filter(tag: str, dialect: str):
    """Contacts carrying ``tag`` (exactly) in their JSON list of tags."""
    if dialect == "postgresql":
        return cast(Contact.tags, JSONB).contains(cast([tag], JSONB))
    each = func.json_each(Contact.tags).table_valued("value")
    return exists(select(1).select_from(each).where(each.c.value == tag))
def query_phone(q: str, region: str = "US") -> str | None:
    """The E.164 form of a query that reads as a phone number, else None."""
    phone, _, _ = normalize_contact(ContactInput(name="q", phone=q), region=region, row=0)
    return phone.phone if phone is not None and phone.phone else None


async def get_enrollment(session: AsyncSession, campaign_id: str, contact_id: str, *,
                         include_removed: bool = True, fresh: bool = False) -> EnrolledContact:
    """The contact's enrollment in the campaign (scope the campaign to the workspace first);
    ``fresh`` reads the row again even where the session already holds it."""
    row = (await session.execute(
        select(Enrollment, Contact).join(Contact, Contact.id == Enrollment.contact_id)
        .where(Enrollment.campaign_id == campaign_id, Enrollment.contact_id == contact_id)
        .execution_options(populate_existing=fresh))).first()
    if row is None or (not include_removed and row[0].status == EnrollmentStatus.removed):
        raise NotFound(f"contact {contact_id} is not in campaign {campaign_id}")
    return EnrolledContact(row[0], row[1])


async def list_enrollments(session: AsyncSession, workspace_id: str, campaign_id: str, *,
                           statuses: list[EnrollmentStatus] | None, substatus: str | None, q: str | None,
                           limit: int, cursor: str | None, tag: str | None = None,
                           priorities: list[Priority] | None = None) -> tuple[list[EnrolledContact], str | None]:
    """One page of the campaign's contacts, oldest enrollment first; removed ones only when named."""
    stmt = (select(Enrollment, Contact).join(Contact, Contact.id == Enrollment.contact_id)
            .where(Enrollment.campaign_id == campaign_id))
    if statuses is not None:
        stmt = stmt.where(Enrollment.status.in_(statuses))
    else:
        stmt = stmt.where(Enrollment.status != EnrollmentStatus.removed)
    if substatus:
        # An unknown word matches no enrollment: refused here rather than bound to the column.
        stmt = stmt.where(Enrollment.substatus == substatus if substatus in Substatus.__members__ else false())
    if q:
        stmt = stmt.where(search_filter(q, await workspace_region(session, workspace_id)))
    if tag:
        stmt = stmt.where(tag_filter(tag, session.bind.dialect.name))
    if priorities is not None:
        stmt = stmt.where(Contact.priority.in_(priorities))
    stmt = keyset(stmt, sort_col=None, id_col=Enrollment.id, cursor=cursor, descending=False, limit=limit)
    rows = (await session.execute(stmt)).all()
    kept, next_cursor = page(list(rows), limit, lambda r: (None, r[0].id))
    return [EnrolledContact(e, c) for e, c in kept], next_cursor


async def enrollment_outreaches(session: AsyncSession, enrollment_id: str) -> list[Outreach]:
    """Every outreach planned for the enrollment, oldest first."""
    return list((await session.execute(
        select(Outreach).where(Outreach.enrollment_id == enrollment_id).order_by(Outreach.id))).scalars())


async def list_import_jobs(session: AsyncSession, workspace_id: str, campaign_id: str) -> list[ImportJob]:
    """A campaign's imports, newest first (upload, API or email; a refused email shows as failed)."""
    return list((await session.scalars(select(ImportJob).where(
        ImportJob.workspace_id == workspace_id, ImportJob.campaign_id == campaign_id)
        .order_by(ImportJob.created_at.desc(), ImportJob.id.desc()).limit(500))).all())


async def get_import_job(session: AsyncSession, workspace_id: str, job_id: str) -> ImportJob:
    return await get_in_workspace(session, ImportJob, workspace_id, job_id, missing=f"no import {job_id}")


async def suppressed_on(session: AsyncSession, workspace_id: str, *, phone: str | None,
                        email_key: str | None) -> frozenset[str]:
    """The channels (``all`` or a kind) the phone or case-folded email is suppressed on."""
    keys = [Suppression.phone == phone] if phone else []
    keys += [Suppression.email_key == email_key] if email_key else []
    if not keys:
        return frozenset()
    q = select(Suppression.channel).where(Suppression.workspace_id == workspace_id, or_(*keys)).distinct()
    return frozenset((await session.execute(q)).scalars())


async def suppressions_of(session: AsyncSession, contacts: list[Contact]) -> set[tuple[str, str, str]]:
    """The suppression entries that touch any of ``contacts``, as (workspace, key, channel) with
    the key ``phone:...`` or ``email:...``: one query for a batch of sends, where
    :func:`is_suppressed` would ask once per contact (:func:`suppressed_in` reads the answer)."""
    found: set[tuple[str, str, str]] = set()
    for workspace_id in {c.workspace_id for c in contacts}:
        mine = [c for c in contacts if c.workspace_id == workspace_id]
        phones = sorted({c.phone for c in mine if c.phone})
        emails = sorted({c.email_key for c in mine if c.email_key})
        for i in range(0, max(len(phones), len(emails)), 400):
            keys = ([Suppression.phone.in_(phones[i:i + 400])] if phones[i:i + 400] else []) + (
                [Suppression.email_key.in_(emails[i:i + 400])] if emails[i:i + 400] else [])
            for phone, email_key, channel in (await session.execute(
                    select(Suppression.phone, Suppression.email_key, Suppression.channel).where(
                        Suppression.workspace_id == workspace_id, or_(*keys)))).all():
                if phone:
                    found.add((workspace_id, f"phone:{phone}", channel))
                if email_key:
                    found.add((workspace_id, f"email:{email_key}", channel))
    return found


def suppressed_in(found: set[tuple[str, str, str]], contact: Contact, channel: str) -> bool:
    """What :func:`is_suppressed` with ``channel`` answers, read from :func:`suppressions_of`."""
    keys = ([f"phone:{contact.phone}"] if contact.phone else []) + (
        [f"email:{contact.email_key}"] if contact.email_key else [])
    return any((contact.workspace_id, k, c) in found for k in keys for c in ("all", channel))


async def is_suppressed(session: AsyncSession, workspace_id: str, *, phone: str | None,
                        email_key: str | None, channel: str | None = None) -> bool:
    """Whether the phone or the case-folded email is on the workspace's opt-out / do-not-contact
    list: for every channel, or (given ``channel``) for that one; without ``channel``, any entry."""
    keys = [Suppression.phone == phone] if phone else []
    keys += [Suppression.email_key == email_key] if email_key else []
    if not keys:
        return False
    q = select(Suppression.id).where(Suppression.workspace_id == workspace_id, or_(*keys))
    if channel is not None:
        q = q.where(Suppression.channel.in_(["all", channel]))
    return (await session.execute(q.limit(1))).first() is not None


async def conversation_totals(session: AsyncSession, enrollment_ids: list[str]) -> dict[str, tuple[int, float]]:
    """Per enrollment: how many conversations it had and their total duration in seconds."""
    if not enrollment_ids:
        return {}
    rows = await session.execute(
        select(Conversation.enrollment_id, func.count(Conversation.id), func.coalesce(func.sum(Conversation.duration_s), 0))
        .where(Conversation.enrollment_id.in_(enrollment_ids)).group_by(Conversation.enrollment_id))
    return {eid: (int(n), float(total)) for eid, n, total in rows.all()}


async def status_counts(session: AsyncSession, campaign_id: str) -> dict[str, int]:
    """Enrollments per status (removed ones left out), for the contact table's status chips."""
    rows = await session.execute(
        select(Enrollment.status, func.count(Enrollment.id))
        .where(Enrollment.campaign_id == campaign_id, Enrollment.status != EnrollmentStatus.removed)
        .group_by(Enrollment.status))
    return {str(s): int(n) for s, n in rows.all()}
