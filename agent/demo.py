"""Demo data for ``overture serve --demo``: one workspace with a campaign, goals, analyses and contacts
(drafts appear as it plans), and a second campaign with two weeks of history (agent/demo_history.py)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity
from agent.auth import create_key, get_or_create_workspace, revoke_keys
from agent.lifecycle import campaigns as lifecycle
from agent.campaigns import service as campaigns
from agent.campaigns.schemas import CampaignCreate
from agent.contacts.normalize import ContactInput
from agent.contacts.service import add_contacts
from agent.demo_history import seed_history
from agent.ids import new_id
from agent.models import Analysis, Campaign, Goal
from agent.states import CampaignAction, Role

DEMO_WORKSPACE = "demo"
DEMO_KEY_NAME = "demo-serve"

_PEOPLE = [
    ("Maria", "Gonzalez", "maria.gonzalez@example.com", "+1 212 555 0101", {"clinic": "Midtown", "last_visit": "2026-05-02"}),
    ("James", "Carter", "james.carter@example.com", "+1 312 555 0102", {"clinic": "Loop", "last_visit": "2026-04-18"}),
    ("Aiko", "Tanaka", "aiko.tanaka@example.com", "+1 415 555 0103", {"clinic": "Mission", "last_visit": "2026-03-27"}),
    ("Samuel", "Okafor", "samuel.okafor@example.com", "+1 720 555 0104", {"clinic": "Denver", "last_visit": "2026-06-11"}),
    ("Priya", "Natarajan", "priya.n@example.com", "+1 617 555 0105", {"clinic": "Back Bay", "last_visit": "2026-02-09"}),
    ("Lukas", "Becker", "lukas.becker@example.com", "", {"clinic": "Midtown", "last_visit": "2026-01-30"}),
    ("Chloe", "Martin", "", "+1 206 555 0107", {"clinic": "Capitol Hill", "last_visit": "2026-05-21"}),
    ("Omar", "Haddad", "omar.haddad@example.com", "+1 713 555 0108", {"clinic": "Heights", "last_visit": "2026-04-04"}),
]


async def seed(session: AsyncSession) -> tuple[str, str]:
    """Seed the demo workspace on first start; every call issues a fresh admin key (older demo keys revoked).

    Returns (workspace id, raw admin key).
    """
    ws = await get_or_create_workspace(session, DEMO_WORKSPACE)
    has_campaigns = (await session.execute(select(func.count(Campaign.id)).where(Campaign.workspace_id == ws.id))).scalar_one()
    await revoke_keys(session, ws.id, DEMO_KEY_NAME)
    key, raw = await create_key(session, ws.id, Role.admin, name=DEMO_KEY_NAME)
    if not has_campaigns:
        campaign = await campaigns.create(session, ws.id, CampaignCreate(
            name="Annual check-up reminders",
            type="follow_up",
            channels=[{"kind": "email", "from_address": "care@clinic.example"}, {"kind": "sms"}, {"kind": "voice"}],
            # Plans itself as contacts arrive: a fresh demo shows drafts awaiting approval within seconds.
            execution_mode="on_contact_added",
            manual_review=True,
            timezone="America/New_York",
            brief=("Remind patients whose last visit was over six months ago to book their annual check-up. "
                   "Be warm and brief, mention their clinic, and offer to book a slot."),
        ), key.id)
        session.add(Goal(id=new_id("goal"), campaign_id=campaign.id, name="Appointment booked",
                         description="The patient agreed to a date and time for a check-up.", is_primary=True))
        session.add(Goal(id=new_id("goal"), campaign_id=campaign.id, name="Contact details confirmed",
                         description="The patient confirmed their phone and email are current."))
        session.add(Analysis(id=new_id("ana"), campaign_id=campaign.id, name="Preferred time of day",
                             type="single_choice", options=["morning", "afternoon", "evening"]))
        session.add(Analysis(id=new_id("ana"), campaign_id=campaign.id, name="Satisfaction", type="rating",
                             scale_min=1, scale_max=5))
        await add_contacts(session, campaign, [
            ContactInput(first_name=f, last_name=l, email=e, phone=p, properties=props)
            for f, l, e, p, props in _PEOPLE], actor=key.id, source="manual")
        await lifecycle.campaign_action(session, campaign, CampaignAction.go_live, key.id)
        activity.record(session, workspace_id=ws.id, actor=key.id, kind="demo.seeded", campaign_id=campaign.id)
        await seed_history(session, ws.id, key.id)
    return ws.id, raw
