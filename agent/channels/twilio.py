"""SMS through Twilio's Messages API: one form-encoded POST per message, its status reported
later to our status webhook (``StatusCallback``).

Twilio has no idempotency key for Messages: a repeated POST is a second text. What keeps a
message from going out twice is the executor's claim (one send per claimed outreach) and this
adapter never retrying; a send that may have reached Twilio is ``AmbiguousFailure``, never resent.

Channel config keys read here: ``from_number`` (E.164 sender) or ``messaging_service_sid``
(a Messaging Service picks the sender); one of them is required.
"""

from __future__ import annotations

from typing import Any

import httpx

from agent.channels.base import AmbiguousFailure, OutboundMessage, PermanentFailure, SendResult
from agent.channels.rest import DEFAULT_TIMEOUT, ProviderClient, json_body, scrub, status_failure
from agent.channels.rules import SMS_OPT_OUT_LINE, carries_sms_opt_out
from agent.settings import Settings, get_settings
from agent.states import Substatus

STATUS_PATH = "/v1/inbound/sms/status"  # api/routes/inbound_sms.py

# Twilio's error codes with a meaning for the contact; any other refusal is typed by HTTP status.
_REFUSALS: dict[int, Substatus] = {
    21610: Substatus.opted_out,  # the recipient replied STOP: Twilio blocks every later message
    21211: Substatus.failed,  # not a valid phone number
    21614: Substatus.failed,  # not a mobile number (a landline cannot take a text)
}


def with_opt_out(body: str) -> str:
    """The body as sent: the opt-out line appended when the text does not already say STOP."""
    return body if carries_sms_opt_out(body) else f"{body.rstrip()}\n{SMS_OPT_OUT_LINE}"


class TwilioChannel:
    name = "twilio"

    def __init__(self, settings: Settings | None = None, *, timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> None:
        self._settings = settings  # None: the process settings at each send
        self.http = ProviderClient("twilio", timeout=timeout)

    @property
    def settings(self) -> Settings:
        return self._settings or get_settings()

    def form(self, message: OutboundMessage) -> dict[str, str]:
        """The Messages API fields for ``message``."""
        config = message.config
        if not message.to:
            raise PermanentFailure("twilio: the message has no recipient number", substatus=Substatus.missing_phone)
        form = {"To": message.to, "Body": with_opt_out(message.body)}
        if config.get("messaging_service_sid"):
            form["MessagingServiceSid"] = str(config["messaging_service_sid"])
        elif config.get("from_number"):
            form["From"] = str(config["from_number"])
        else:
            raise PermanentFailure("twilio: the SMS channel names no from_number or messaging_service_sid",
                                   substatus=Substatus.identity_misconfigured, code="sender_missing")
        if self.settings.public_url:
            form["StatusCallback"] = self.settings.public_url.rstrip("/") + STATUS_PATH
        return form

    async def send(self, message: OutboundMessage) -> SendResult:
        settings = self.settings
        sid, token = settings.twilio_account_sid, settings.twilio_auth_token
        if not sid or token is None:
            raise PermanentFailure("twilio: OVERTURE_TWILIO_ACCOUNT_SID and OVERTURE_TWILIO_AUTH_TOKEN are not set",
                                   substatus=Substatus.channel_disconnected, code="provider_not_configured")
        secret = token.get_secret_value()
        url = f"{settings.twilio_base_url.rstrip('/')}/2010-04-01/Accounts/{sid}/Messages.json"
        response = await self.http.post(url, data=self.form(message), auth=(sid, secret))
        body = json_body(response)
        if response.is_success:
            message_sid = body.get("sid")
            if not isinstance(message_sid, str) or not message_sid:
                raise AmbiguousFailure(f"twilio accepted the message ({response.status_code}) without a sid")
            return SendResult(provider=self.name, provider_message_id=message_sid)
        raise _failure(response, body, (secret,))


def _failure(response: httpx.Response, body: dict[str, Any], secrets: tuple[str, ...]) -> Exception:
    """Twilio's error body (``code``, ``message``, ``more_info``, ``status``) as a channel failure."""
    code = body.get("code")
    detail = scrub(str(body.get("message") or ""), secrets)
    substatus = _REFUSALS.get(code) if isinstance(code, int) else None
    if substatus is not None:
        return PermanentFailure(f"twilio refused the message ({code}): {detail}", substatus=substatus, code=str(code))
    return status_failure("twilio", response, detail, code=str(code) if code is not None else None)


TWILIO = TwilioChannel()
