"""The outreach–campaign–contact(–enrollment) join that review, the executor and the inbox read."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from sqlalchemy import Join, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from agent.errors import NotFound
from agent.models import Campaign, Contact, Enrollment, Outreach


class OutreachInContext(NamedTuple):
    """An outreach with the rows every decision about it reads (in the executor's tuple order)."""

    outreach: Outreach
    campaign: Campaign
    contact: Contact
    enrollment: Enrollment


def with_contact(*columns: Any) -> Select:
    """``select(*columns)`` over outreaches joined to their enrollment and contact (the inbox rows)."""
    return (select(*columns).select_from(Outreach)
            .join(Enrollment, Enrollment.id == Outreach.enrollment_id)
            .join(Contact, Contact.id == Enrollment.contact_id))


def contact_join() -> Join:
    """:func:`with_contact`'s join as tables: a select over it is SQLAlchemy Core's, which builds
    plain rows without the ORM's compile step and row loading (for column rows read often)."""
    o, e, c = Outreach.__table__, Enrollment.__table__, Contact.__table__
    return o.join(e, e.c.id == o.c.enrollment_id).join(c, c.c.id == e.c.contact_id)


# The columns a send never reads (the draft's making, its costs, names and timestamps of record):
# the executor's claim loads the rest, and reading one of these from its rows raises at once
# instead of loading it lazily. Loading a column costs the ORM a value's conversion per row.
_NOT_FOR_SENDING = [defer(column, raiseload=True) for column in (
    Outreach.planning_run_id, Outreach.supersedes_id, Outreach.rationale, Outreach.instruction, Outreach.model,
    Outreach.prompt_version, Outreach.input_tokens, Outreach.output_tokens, Outreach.cost_usd,
    Outreach.provider_message_id, Outreach.error, Outreach.sent_at, Outreach.created_at,
    Contact.first_name, Contact.last_name, Contact.tags, Contact.crm_id, Contact.owner_id, Contact.created_at,
    Contact.updated_at,
    Enrollment.next_attempt_at, Enrollment.last_attempt_at, Enrollment.lease_until, Enrollment.source,
    Enrollment.created_at, Enrollment.updated_at)]


async def find_outreach(session: AsyncSession, outreach_id: str, *, workspace_id: str | None = None,
                        refresh: bool = False) -> OutreachInContext | None:
    """The outreach with its campaign, contact and enrollment, or None.

    ``refresh`` reloads rows already in the session, so a caller that just moved the outreach
    with a bulk UPDATE reads the new state rather than the identity map's stale copy.
    """
    q = (with_contact(Outreach, Campaign, Contact, Enrollment)
         .join(Campaign, Campaign.id == Outreach.campaign_id)
         .where(Outreach.id == outreach_id))
    if workspace_id is not None:
        q = q.where(Outreach.workspace_id == workspace_id)
    if refresh:
        q = q.execution_options(populate_existing=True)
    row = (await session.execute(q)).first()
    return None if row is None else OutreachInContext(*row)


async def find_outreaches(session: AsyncSession, outreach_ids: list[str], *,
                          status: str | None = None, refresh: bool = True,
                          for_sending: bool = False) -> list[OutreachInContext]:
    """:func:`find_outreach` for a batch (read fresh, in one query per chunk), optionally only
    those in ``status``; in the order of ``outreach_ids``, the missing ones left out.

    ``refresh=False`` is for a session that holds none of these rows yet (the executor's claim
    opens one per batch): the rows are fresh anyway, and a campaign repeated on every row is then
    built once instead of re-populated (its JSON decoded again) for each. ``for_sending`` leaves
    out what a send never reads (:data:`_NOT_FOR_SENDING`): for a session of the executor's own."""
    q = _find_statement(status is not None, refresh, for_sending)
    found: dict[str, OutreachInContext] = {}
    for i in range(0, len(outreach_ids), 500):
        params = {"ids": outreach_ids[i:i + 500], **({"status": status} if status is not None else {})}
        rows = await session.execute(q, params)
        found.update((row[0].id, OutreachInContext(*row)) for row in rows.all())
    return [found[i] for i in dict.fromkeys(outreach_ids) if i in found]


@functools.lru_cache(maxsize=8)
def _find_statement(by_status: bool, refresh: bool, for_sending: bool) -> Select:
    """:func:`find_outreaches`' query, built once per variant and run with the ids (and status)
    bound: building the four-entity join and its cache key again for every batch cost the
    executor's claim about 0.4 ms of its ~1.4 ms read of ten outreaches."""
    q = (with_contact(Outreach, Campaign, Contact, Enrollment)
         .join(Campaign, Campaign.id == Outreach.campaign_id)
         .where(Outreach.id.in_(bindparam("ids", expanding=True))))
    if by_status:
        q = q.where(Outreach.status == bindparam("status"))
    if refresh:
        q = q.execution_options(populate_existing=True)
    return q.options(*_NOT_FOR_SENDING) if for_sending else q


async def get_outreach(session: AsyncSession, workspace_id: str, outreach_id: str) -> OutreachInContext:
    """The workspace's outreach in context, read fresh; NotFound for any other."""
    found = await find_outreach(session, outreach_id, workspace_id=workspace_id, refresh=True)
    if found is None:
        raise NotFound(f"no outreach {outreach_id}")
    return found
