"""Status columns typed with their enums: members come back, plain words still go in, and a
word outside the enum is refused before the statement reaches the database."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, StatementError

from agent import bulk
from agent.db import session_scope
from agent.ids import new_id
from agent.models import Campaign, Contact, Enrollment, Workspace
from agent.states import CampaignStatus, EnrollmentStatus, Priority, Substatus


async def _campaign_and_enrollment() -> tuple[str, str]:
    async with session_scope() as s:
        ws = Workspace(id=new_id("ws"), name="acme")
        campaign = Campaign(id=new_id("cmp"), workspace_id=ws.id, name="c", type="one_time", status="draft",
                            execution_mode="manual")
        contact = Contact(id=new_id("ct"), workspace_id=ws.id)
        for row in (ws, campaign, contact):  # no relationships to order the inserts by
            s.add(row)
            await s.flush()
        enrollment = Enrollment(id=new_id("enr"), workspace_id=ws.id, campaign_id=campaign.id,
                                contact_id=contact.id, status="waiting", substatus="scheduled")
        s.add(enrollment)
    return campaign.id, enrollment.id


async def test_plain_words_go_in_and_members_come_out(settings) -> None:
    campaign_id, enrollment_id = await _campaign_and_enrollment()
    async with session_scope() as s:
        campaign = await s.get(Campaign, campaign_id)
        enrollment = await s.get(Enrollment, enrollment_id)
        contact = await s.get(Contact, enrollment.contact_id)
    assert campaign.status is CampaignStatus.draft
    assert enrollment.status is EnrollmentStatus.waiting and enrollment.substatus is Substatus.scheduled
    assert contact.priority is Priority.normal
    assert campaign.status == "draft"  # StrEnum: comparisons with the word still hold


async def test_an_unknown_word_is_refused_before_the_database(settings) -> None:
    campaign_id, enrollment_id = await _campaign_and_enrollment()
    with pytest.raises(StatementError) as caught:
        async with session_scope() as s:
            await s.execute(update(Enrollment).where(Enrollment.id == enrollment_id).values(substatus="bogus"))
    # Not the database's CHECK: the value never left Python.
    assert not isinstance(caught.value, IntegrityError)
    assert isinstance(caught.value.orig, ValueError)
    with pytest.raises(StatementError):
        async with session_scope() as s:
            (await s.get(Campaign, campaign_id)).status = "live"
    async with session_scope() as s:
        assert (await s.get(Campaign, campaign_id)).status is CampaignStatus.draft
        assert (await s.scalar(select(Enrollment.substatus).where(Enrollment.id == enrollment_id))) == "scheduled"


async def test_bulk_inserts_refuse_an_unknown_word_too(settings) -> None:
    campaign_id, enrollment_id = await _campaign_and_enrollment()
    async with session_scope() as s:
        enrollment = await s.get(Enrollment, enrollment_id)
        row = {"id": new_id("enr"), "workspace_id": enrollment.workspace_id, "campaign_id": campaign_id,
               "contact_id": enrollment.contact_id, "status": "sleeping", "attempts": 0, "source": "api",
               "version": 1}
        with pytest.raises(ValueError, match="sleeping"):
            await bulk.insert_rows(s, Enrollment.__table__, [row])
