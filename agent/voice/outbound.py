"""A placed outbound call: its outreach stays ``executing`` until the end-of-call report.

The create-call answer only says the provider is dialling. The outreach keeps ``executing``
(``dial``: the call id recorded, a lease long enough for the whole call) and the report
(:mod:`agent.voice.events`) makes it ``sent``, links the conversation, counts the attempt and
applies the retry settings to no answer, voicemail and busy. A report that never comes leaves
the lease to run out: the reconciler moves the outreach to ``unknown`` like any lost send.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity
from agent.campaigns.schemas import CampaignSettings
from agent.channels.base import SendResult
from agent.lifecycle.outreaches import move_outreach
from agent.models import Campaign, Outreach
from agent.numbers.pacing import interval_of
from agent.settings import get_settings
from agent.states import OutreachAction

REPORT_GRACE = dt.timedelta(minutes=5)  # the provider's end-of-call webhook may lag the hang-up


def call_lease(campaign: Campaign, now: dt.datetime) -> dt.datetime:
    """Until when a call placed now may still be running: ring, the longest call, the report."""
    ring = interval_of(CampaignSettings.model_validate(campaign.settings or {}).ring_timeout)
    return now + ring + dt.timedelta(seconds=get_settings().voice_max_call_s) + REPORT_GRACE


async def call_placed(s: AsyncSession, outreach: Outreach, campaign: Campaign, contact_id: str, claimed: int,
                      result: SendResult, now: dt.datetime) -> bool:
    """Record the call id and extend the lease; False when the outreach moved meanwhile."""
    lease = call_lease(campaign, now)
    if await move_outreach(s, outreach.id, OutreachAction.dial, version=claimed, values={
            "provider_message_id": result.provider_message_id, "lease_until": lease}) is None:
        return False
    activity.record(s, workspace_id=outreach.workspace_id, actor=activity.SYSTEM, kind="outreach.call_placed",
                    campaign_id=outreach.campaign_id, contact_id=contact_id, enrollment_id=outreach.enrollment_id,
                    outreach_id=outreach.id, payload={"provider": result.provider, "call_id": result.provider_message_id,
                                                      "lease_until": lease.isoformat()})
    return True
