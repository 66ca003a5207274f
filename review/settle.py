"""Settling an ``unknown`` send: a person checked the provider and says whether it went out.

Nothing resends an unknown outreach by itself (the provider may have it). Settled as sent, it
counts as the contact's attempt and the sequence goes on as after any send; settled as not sent,
no attempt is counted and the contact goes back in the plan for a new draft.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from agent.auth import Principal
from agent.campaigns.schemas import CampaignSettings
from agent.db import utcnow
from agent.errors import InvalidTransition
from agent.lifecycle.enrollments import move_enrollment
from agent.lifecycle.outreaches import move_outreach
from agent.models import Enrollment
from agent.states import EnrollmentAction, EnrollmentStatus, OutreachAction, OutreachStatus, Substatus
from review import service
from review.schemas import InboxItem


async def settle(session: AsyncSession, who: Principal, outreach_id: str, *, sent: bool,
                 note: str | None) -> InboxItem:
    o, campaign, c = await service.get_item_rows(session, who.workspace_id, outreach_id)
    if o.status != OutreachStatus.unknown:
        raise InvalidTransition(f"only an unknown send is settled; this outreach is {o.status}",
                                current_status=o.status)
    now = utcnow()
    action = OutreachAction.settle_sent if sent else OutreachAction.settle_unsent
    values = {"sent_at": o.sent_at or o.updated_at} if sent else {}
    moved = await move_outreach(session, o.id, action, version=o.version,
                                values={**values, "error": f"settled by a person: {note}" if note else o.error})
    if moved is None:
        raise await service.refusal(session, who.workspace_id, o.id, action, o.version)
    service.record(session, who, o, c.id, "outreach.settled", {"sent": sent, "note": note, "version": moved})
    enrollment = await session.get(Enrollment, o.enrollment_id, populate_existing=True)
    if enrollment is not None and enrollment.status == EnrollmentStatus.error:
        settings = CampaignSettings.model_validate(campaign.settings or {})
        if not sent:
            await move_enrollment(session, enrollment, EnrollmentAction.settle, actor=who.key_id, now=now,
                                  outreach_id=o.id, values={"next_attempt_at": now}, payload={"sent": False})
        elif enrollment.attempts + 1 >= settings.max_attempts:
            await move_enrollment(session, enrollment, EnrollmentAction.finish, substatus=Substatus.max_attempts,
                                  actor=who.key_id, now=now, outreach_id=o.id, payload={"sent": True},
                                  values={"attempts": enrollment.attempts + 1, "last_attempt_at": now,
                                          "next_attempt_at": None})
        else:
            await move_enrollment(session, enrollment, EnrollmentAction.settle, substatus=Substatus.retry,
                                  actor=who.key_id, now=now, outreach_id=o.id, payload={"sent": True}, values={
                                      "attempts": enrollment.attempts + 1, "last_attempt_at": now,
                                      "next_attempt_at": now + dt.timedelta(seconds=settings.retry_interval.seconds)})
    return await service.get_item(session, who.workspace_id, o.id)
