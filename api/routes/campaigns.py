"""Campaign endpoints: CRUD, lifecycle actions and channel actions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from agent.campaigns import service as campaigns
from agent.campaigns import remarketing, versions
from agent.campaigns.remarketing import RemarketingIn
from agent.campaigns.schemas import (CampaignBulkIn, CampaignBulkOut, CampaignCreate, CampaignOut, CampaignUpdate,
                                     ChannelOut)
from agent.errors import OvertureError
from agent.filters import parse_statuses
from agent.lifecycle import campaigns as lifecycle
from agent.reports import stats
from agent.states import (CAMPAIGN_TRANSITIONS, CHANNEL_TRANSITIONS, SYSTEM_CAMPAIGN_ACTIONS, CampaignAction,
                          CampaignStatus, ChannelAction)
from api.deps import Admin, Reader, SessionDep
from api.errors import ERROR_RESPONSES, documented
from api.idempotency import AnsweringRoute

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"], route_class=AnsweringRoute, responses=ERROR_RESPONSES)


class CampaignPage(BaseModel):
    items: list[CampaignOut]
    next_cursor: str | None


@router.post("", status_code=201, response_model=CampaignOut)
async def create_campaign(body: CampaignCreate, session: SessionDep, who: Admin) -> CampaignOut:
    campaign = await campaigns.create(session, who.workspace_id, body, who.key_id)
    return await campaigns.to_out(session, campaign, 0)


@router.get("", response_model=CampaignPage)
async def list_campaigns(
    session: SessionDep, who: Reader,
    status: Annotated[str | None, Query(description="Comma-separated statuses; archived only when named")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text in the name or notes")] = None,
    sort: Annotated[str, Query(description="name, status, created_at, start_at (undated last) or contacts_count; "
                                            "'-' prefix for descending")] = "-created_at",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> CampaignPage:
    statuses = parse_statuses(status, CampaignStatus)
    items, next_cursor = await campaigns.list_campaigns(session, who.workspace_id, statuses=statuses, q=q, sort=sort,
                                                        cursor=cursor, limit=limit)
    return CampaignPage(items=items, next_cursor=next_cursor)


@router.post("/bulk", response_model=CampaignBulkOut, responses={
    200: {"description": "One result per distinct id, in the order sent: ok, the status it left, and for a refused "
                         "one the error code (invalid_transition, not_found, provider_not_configured...)"}})
async def bulk_campaign_action(body: CampaignBulkIn, session: SessionDep, who: Admin) -> CampaignBulkOut:
    """Pause, resume or archive several campaigns at once, each on its own: a campaign the move does not
    apply to (or another workspace's, which reads as not_found) is reported and left as it was while the
    others move. The same rules as the single-campaign actions apply."""
    return await lifecycle.bulk_action(session, who.workspace_id, body.ids, CampaignAction(body.action), who.key_id)


@router.get("/{campaign_id}", response_model=CampaignOut)
async def get_campaign(campaign_id: str, session: SessionDep, who: Reader) -> CampaignOut:
    return await campaigns.to_out(session, await campaigns.get(session, who.workspace_id, campaign_id))


@router.patch("/{campaign_id}", response_model=CampaignOut)
async def update_campaign(campaign_id: str, body: CampaignUpdate, session: SessionDep, who: Admin) -> CampaignOut:
    campaign = await campaigns.get(session, who.workspace_id, campaign_id, for_update=True)
    await campaigns.update(session, campaign, body, who.key_id)
    return await campaigns.to_out(session, campaign)


@router.delete("/{campaign_id}", status_code=204, response_class=Response,
               responses=documented(428, "Without ?confirm=true (code confirmation_required)"))
async def delete_campaign(
    campaign_id: str, session: SessionDep, who: Admin,
    confirm: Annotated[bool, Query(description="Must be true: deleting removes channels and enrollments")] = False,
) -> Response:
    campaign = await campaigns.get(session, who.workspace_id, campaign_id, for_update=True)
    if not confirm:
        raise OvertureError("deleting a campaign removes its channels and enrollments for good; "
                            "repeat with ?confirm=true (or archive it instead)", code="confirmation_required",
                            status=428, errors=[{"loc": ["query", "confirm"], "message": "must be true"}])
    await campaigns.remove(session, campaign, who.key_id)
    return Response(status_code=204)


@router.post("/{campaign_id}/duplicate", status_code=201, response_model=CampaignOut)
async def duplicate_campaign(campaign_id: str, session: SessionDep, who: Admin) -> CampaignOut:
    source = await campaigns.get(session, who.workspace_id, campaign_id)
    return await campaigns.to_out(session, await campaigns.duplicate(session, source, who.key_id), 0)


def _campaign_action_route(action: CampaignAction) -> None:
    async def endpoint(campaign_id: str, session: SessionDep, who: Admin) -> CampaignOut:
        campaign = await campaigns.get(session, who.workspace_id, campaign_id, for_update=True)
        await lifecycle.campaign_action(session, campaign, action, who.key_id)
        return await campaigns.to_out(session, campaign)

    allowed, to = CAMPAIGN_TRANSITIONS[action]
    router.add_api_route(
        f"/{{campaign_id}}/{action.value}", endpoint, methods=["POST"], response_model=CampaignOut,
        name=f"campaign_{action.name}", summary=f"{action.value.capitalize()} a campaign",
        description=f"Moves a campaign from {', '.join(sorted(s.value for s in allowed))} to {to.value}; "
                    "any other status answers 409 invalid_transition and changes nothing.")


REMARKETING_START = (" Starting a remarketing channel (one made by POST .../channels) reopens its audience (see "
                     "that endpoint) and makes a completed campaign active again; the channel.start event counts "
                     "who was reopened and who was excluded, by reason.")


def _channel_action_route(action: ChannelAction) -> None:
    async def endpoint(campaign_id: str, channel_id: str, session: SessionDep, who: Admin) -> CampaignOut:
        campaign = await campaigns.get(session, who.workspace_id, campaign_id, for_update=True)
        channel = await campaigns.get_channel(session, campaign, channel_id)
        await lifecycle.channel_action(session, campaign, channel, action, who.key_id)
        return await campaigns.to_out(session, campaign)

    allowed, to = CHANNEL_TRANSITIONS[action]
    router.add_api_route(
        f"/{{campaign_id}}/channels/{{channel_id}}/{action.value}", endpoint, methods=["POST"],
        response_model=CampaignOut, name=f"channel_{action.name}", summary=f"{action.value.capitalize()} a channel",
        description=f"Moves a channel from {', '.join(sorted(s.value for s in allowed))} to {to.value}; the "
                    "campaign's status then follows its channels. Answers the campaign."
                    + (REMARKETING_START if action == ChannelAction.start else ""))


for _action in CampaignAction:
    if _action not in SYSTEM_CAMPAIGN_ACTIONS:  # "remarket" follows from starting a remarketing channel
        _campaign_action_route(_action)
# "finish" is the workers' move (a channel ran out of contacts), not a user's.
for _action in (ChannelAction.start, ChannelAction.pause, ChannelAction.resume, ChannelAction.stop):
    _channel_action_route(_action)


@router.get("/{campaign_id}/stats")
async def campaign_stats(campaign_id: str, session: SessionDep, who: Reader) -> dict:
    """The campaign's figures (formulas in agent/reports/stats.py and docs/reports.md); every role reads them."""
    return await stats.campaign_stats(session, await campaigns.get(session, who.workspace_id, campaign_id))


@router.get("/{campaign_id}/versions", response_model=versions.CampaignVersionPage)
async def list_campaign_versions(campaign_id: str, session: SessionDep, who: Reader,
                                 limit: Annotated[int, Query(ge=1, le=200)] = 50,
                                 cursor: str | None = None) -> versions.CampaignVersionPage:
    """The campaign's settings versions, newest first: one per edit made while it was active or paused,
    with who made it, when, and each changed field's old and new value (settings as `settings.<key>`).
    An edit applies to outreaches planned after it; each outreach carries the `settings_version` it was
    planned under. A draft's edits make no versions, so a campaign never edited live lists none."""
    campaign = await campaigns.get(session, who.workspace_id, campaign_id)
    return await versions.list_versions(session, campaign, cursor=cursor, limit=limit)


class RemarketingOut(ChannelOut):
    contacts: int = Field(description="Contacts the channel is for (its audience, fixed when it was made)")


@router.post("/{campaign_id}/channels", status_code=201, response_model=RemarketingOut,
             responses={409: ERROR_RESPONSES[409] | {"description": "The campaign is a draft (campaign_not_live), "
                                                                    "cancelled or archived (campaign_final) or has "
                                                                    "no primary goal to choose by (no_primary_goal)"}})
async def add_remarketing_channel(campaign_id: str, body: RemarketingIn, session: SessionDep,
                                  who: Admin) -> RemarketingOut:
    """Remarketing: a new channel on an active, paused or completed campaign for a chosen set of
    its contacts, by enrollment status, primary goal result or contact id (each filter given
    narrows the set). The channel starts `ready`; starting it reopens its audience (finished,
    replied, waiting and campaign_paused contacts wait again with a fresh attempt count; never the
    opted-out, bounced, blocked or suppressed) and makes a completed campaign active again.
    422 `empty_audience` when no contact matches, `unknown_contacts` for ids not in the campaign."""
    campaign = await campaigns.get(session, who.workspace_id, campaign_id, for_update=True)
    channel, contacts = await remarketing.add_channel(session, campaign, body, who.key_id)
    return RemarketingOut(id=channel.id, kind=channel.kind, status=channel.status, position=channel.position,
                          config=channel.config, contacts=contacts)
