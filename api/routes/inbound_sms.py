"""Twilio's webhooks: incoming texts and message status callbacks (no API key; Twilio's signature).

The raw form is read and ``X-Twilio-Signature`` checked before anything is parsed or stored, so
an unsigned or tampered request gets 401 problem+json and leaves no row. Both answer 200
``text/xml`` with an empty TwiML ``<Response/>``: Twilio's default opt-out handling (Advanced
Opt-Out, on for every long code and toll-free number) already texts the STOP/START/HELP
confirmations the carriers require, so a message of ours would be a second confirmation.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response

from agent.channels import twilio_signature
from agent.inbound.twilio import handle_incoming, handle_status
from agent.settings import get_settings
from agent.webhooks import SignatureError, WebhooksDisabled
from api.deps import SessionDep
from api.errors import ERROR_RESPONSES, problem
from api.idempotency import AnsweringRoute

router = APIRouter(tags=["inbound"], route_class=AnsweringRoute, responses=ERROR_RESPONSES)
INCOMING_PATH, STATUS_PATH = "/v1/inbound/sms", "/v1/inbound/sms/status"
MAX_BODY = 64_000  # a text is at most 1,600 characters; Twilio's form is a few hundred bytes more
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
_TWIML = {"content": {"text/xml": {"example": EMPTY_TWIML}}, "description": "Empty TwiML"}


async def _signed_form(request: Request) -> dict[str, str] | Response:
    """The POSTed form when Twilio signed it for our public URL; else the problem to answer."""
    settings = get_settings()
    token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else ""
    if not token or not settings.public_url:
        exc = WebhooksDisabled("Twilio webhooks need OVERTURE_TWILIO_AUTH_TOKEN and OVERTURE_PUBLIC_URL "
                               "(the URL Twilio signs); they are refused until both are set")
        return problem(exc.status, exc.code, exc.detail)
    body = await request.body()
    if len(body) > MAX_BODY:
        return problem(413, "payload_too_large", f"the body is over {MAX_BODY} bytes")
    try:
        params = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        params = []
    url = settings.public_url.rstrip("/") + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    try:
        if not params:
            raise SignatureError("the body is not a signed application/x-www-form-urlencoded form")
        twilio_signature.verify(url, params, request.headers.get(twilio_signature.HEADER), token)
    except SignatureError as exc:
        return problem(exc.status, exc.code, exc.detail,
                       headers={"WWW-Authenticate": f'Signature header="{twilio_signature.HEADER}"'})
    form = dict(params)
    if not form.get("MessageSid") and not form.get("SmsSid"):
        return problem(422, "validation_error", "MessageSid: field required",
                       [{"loc": ["body", "MessageSid"], "message": "field required"}])
    return form


def _twiml() -> Response:
    return Response(EMPTY_TWIML, media_type="text/xml")


@router.post(INCOMING_PATH, response_class=Response, responses={200: _TWIML},
             summary="Incoming SMS (Twilio webhook, X-Twilio-Signature)")
async def incoming_sms(request: Request, session: SessionDep) -> Response:
    """Twilio's incoming-message webhook (``From``, ``To``, ``Body``, ``MessageSid``...). STOP and the
    other opt-out words suppress the number on sms across the workspace; START/UNSTOP lift it;
    anything else is a reply. A redelivered ``MessageSid`` changes nothing."""
    form = await _signed_form(request)
    if isinstance(form, Response):
        return form
    await handle_incoming(session, form)
    return _twiml()


@router.post(STATUS_PATH, response_class=Response, responses={200: _TWIML},
             summary="SMS status callback (Twilio webhook, X-Twilio-Signature)")
async def sms_status(request: Request, session: SessionDep) -> Response:
    """Twilio's status callback (``MessageSid``, ``MessageStatus``, ``ErrorCode``): ``delivered`` ->
    outreach delivered, ``undelivered``/``failed`` -> failed, never backwards; 21610 opts the
    number out. A redelivered ``MessageSid`` + status changes nothing."""
    form = await _signed_form(request)
    if isinstance(form, Response):
        return form
    await handle_status(session, form)
    return _twiml()
