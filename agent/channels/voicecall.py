"""What the voice providers (Vapi, Retell) share: a create-call POST with a bearer key and a JSON
body, answered with the call's id, and the metadata that lets our voice hook find the contact.

Neither provider has an idempotency key for creating a call; the executor's claim is what keeps a
call from being placed twice, and a create whose answer was lost is ``AmbiguousFailure``.
"""

from __future__ import annotations

from typing import Any

import httpx

from agent.channels.base import AmbiguousFailure, OutboundMessage, PermanentFailure, SendResult
from agent.channels.rest import DEFAULT_TIMEOUT, ProviderClient, detail_of, json_body, scrub, status_failure
from agent.settings import Settings, get_settings
from agent.states import Substatus


def call_metadata(message: OutboundMessage) -> dict[str, str]:
    """The ids the call carries back to the voice hook and the end-of-call report.

    The hook (``agent.voice.calls.parse_call`` / ``agent.voice.retell.call_info``) reads
    ``campaign_id`` and ``direction``; the contact is found by the number dialled, the
    enrollment by campaign and contact. The outreach id rides along for the report.
    """
    return {**{k: str(v) for k, v in message.metadata.items()},
            "outreach_id": message.outreach_id, "direction": "outbound"}


class VoiceCallChannel:
    """A provider's create-call endpoint; subclasses name it and build its body."""

    name: str  # also names its settings: ``{name}_api_key``, ``{name}_base_url``
    path: str  # appended to the provider's base URL
    id_field: str  # where the answer carries the call id
    sender_key: str  # the channel config key naming the caller number

    def __init__(self, settings: Settings | None = None, *, timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> None:
        self._settings = settings  # None: the process settings at each send
        self.http = ProviderClient(self.name, timeout=timeout)

    @property
    def settings(self) -> Settings:
        return self._settings or get_settings()

    def payload(self, message: OutboundMessage) -> dict[str, Any]:
        raise NotImplementedError

    def credentials(self) -> tuple[str, str]:
        """(base URL, API key) from the settings; refuses when the key is not set."""
        key = getattr(self.settings, f"{self.name}_api_key")
        if key is None:
            raise self.not_configured(f"OVERTURE_{self.name.upper()}_API_KEY")
        return getattr(self.settings, f"{self.name}_base_url"), key.get_secret_value()

    def not_configured(self, setting: str) -> PermanentFailure:
        return PermanentFailure(f"{self.name}: {setting} is not set", substatus=Substatus.channel_disconnected,
                                code="provider_not_configured")

    def parties(self, message: OutboundMessage) -> tuple[str, str]:
        """(our caller, the number dialled); refuses a channel or a message missing either."""
        sender = message.config.get(self.sender_key)
        if not sender:
            raise PermanentFailure(f"{self.name}: the voice channel names no {self.sender_key}",
                                   substatus=Substatus.identity_misconfigured, code="sender_missing")
        if not message.to:
            raise PermanentFailure(f"{self.name}: the call has no number to dial", substatus=Substatus.missing_phone)
        return str(sender), message.to

    async def send(self, message: OutboundMessage) -> SendResult:
        base, key = self.credentials()
        response = await self.http.post(base.rstrip("/") + self.path, json=self.payload(message),
                                        headers={"Authorization": f"Bearer {key}"})
        body = json_body(response)
        if response.is_success:
            call_id = body.get(self.id_field)
            if not isinstance(call_id, str) or not call_id:
                raise AmbiguousFailure(f"{self.name} accepted the call ({response.status_code}) without an id")
            return SendResult(provider=self.name, provider_message_id=call_id, awaits_report=True)
        raise status_failure(self.name, response, scrub(detail_of(body, "message", "error_message", "error"), (key,)))
