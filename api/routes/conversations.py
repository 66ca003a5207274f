"""Conversations: the end-of-call report a voice platform sends (signed, no API key) and the
read API over the conversations (Bearer, any role, own workspace only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from pydantic import BaseModel

from agent import webhooks
from agent.settings import get_settings
from agent.states import AnswerStatus
from agent.voice.events import MAX_BODY
from agent.voice import conversations
from agent.voice.conversations import ConversationPage
from agent.voice.events import CallReport, report_call
from api.deps import Reader, SessionDep
from api.errors import ERROR_RESPONSES, PROBLEM, Problem, problem
from api.idempotency import AnsweringRoute
from evaluators import corrections
from evaluators.corrections import ConversationDetail




class SignedRoute(AnsweringRoute):
    """Checks ``X-Overture-Signature`` over the raw body before FastAPI parses it, so an unsigned
    caller learns nothing about the body's validation (401 comes first, like RequireBearer's)."""

    max_body = MAX_BODY

    def get_route_handler(self):  # noqa: ANN201 - Starlette's handler type
        handler = super().get_route_handler()

        async def signed(request: Request) -> Response:
            secret = get_settings().webhook_secret
            if secret is None or not secret.get_secret_value():
                raise webhooks.WebhooksDisabled("no webhook secret is configured (OVERTURE_WEBHOOK_SECRET); "
                                                "signed webhooks are refused until one is set")
            length = request.headers.get("content-length", "")
            cap = self.max_body
            if length.isdigit() and int(length) > cap:
                return problem(413, "payload_too_large", f"the body is over {cap} bytes")
            body = await request.body()  # cached: FastAPI parses these same bytes afterwards
            if len(body) > cap:
                return problem(413, "payload_too_large", f"the body is over {cap} bytes")
            try:
                webhooks.verify(request.headers.get(webhooks.HEADER), body, secret.get_secret_value())
            except webhooks.SignatureError as exc:
                return problem(exc.status, exc.code, exc.detail,
                               headers={"WWW-Authenticate": f'Signature header="{webhooks.HEADER}"'})
            return await handler(request)

        return signed


router = APIRouter(tags=["conversations"], route_class=AnsweringRoute, responses=ERROR_RESPONSES)
signed = APIRouter(tags=["conversations"], route_class=SignedRoute,
                   responses={**ERROR_RESPONSES,
                              503: {"model": Problem, "content": {PROBLEM: {}},
                                    "description": "No webhook secret is configured (`webhooks_disabled`)"}})


class VoiceEventAccepted(BaseModel):
    conversation_id: str


@signed.post("/v1/voice/events", status_code=202, response_model=VoiceEventAccepted,
             summary="End-of-call report (signed webhook)")
async def voice_event(body: CallReport, session: SessionDep) -> VoiceEventAccepted:
    """Signed with ``X-Overture-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``
    keyed with ``OVERTURE_WEBHOOK_SECRET``, no API key. 401 ``signature_missing`` /
    ``signature_invalid`` / ``signature_expired`` (over 5 minutes either way), 503
    ``webhooks_disabled`` without a secret, 404 ``unknown_call``. A repeat for the same call
    answers the same conversation id and changes nothing."""
    result = await report_call(session, body)
    return VoiceEventAccepted(conversation_id=result.conversation_id)


@router.get("/v1/conversations/{conversation_id}", response_model=ConversationDetail)
async def conversation(conversation_id: str, session: SessionDep, who: Reader) -> ConversationDetail:
    return await corrections.conversation_detail(session, who.workspace_id, conversation_id)


@router.get("/v1/campaigns/{campaign_id}/conversations", response_model=ConversationPage)
async def campaign_conversations(
    campaign_id: str, session: SessionDep, who: Reader,
    answer_status: AnswerStatus | None = None,
    contact_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> ConversationPage:
    """Newest first, each with its transcript."""
    return await conversations.list_conversations(session, who.workspace_id, campaign_id, answer_status=answer_status,
                                                  contact_id=contact_id, cursor=cursor, limit=limit)


router.include_router(signed)
