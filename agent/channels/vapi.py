"""Outbound calls through Vapi (``POST /call``) whose assistant talks through our voice hook.

The assistant is the channel's saved one (config ``assistant_id``) with its model overridden, or
a transient one: either way its model is a "custom-llm" at ``{public_url}/v1/voice`` (Vapi appends
``/chat/completions``, the OpenAI base-URL convention), and ``metadataSendMode: variable`` makes
Vapi send the assistant's metadata, the call, the customer and our phone number with every turn.
The hook's Overture key is a Vapi custom-llm credential set up in Vapi, not sent per call.

Channel config keys read here: ``phone_number_id`` (Vapi's id of the caller number, required),
``assistant_id`` (optional). A campaign with caller numbers rotates them: each call goes out from
the chosen number's ``provider_number_id``.
"""

from __future__ import annotations

from typing import Any

from agent.channels.base import OutboundMessage, PermanentFailure
from agent.channels.voicecall import VoiceCallChannel, call_metadata
from agent.states import Substatus

HOOK_BASE_PATH = "/v1/voice"  # + Vapi's "/chat/completions" = api/routes/voice.py's route
HOOK_MODEL = "overture-voice"


class VapiChannel(VoiceCallChannel):
    name = "vapi"
    path = "/call"
    id_field = "id"
    sender_key = "phone_number_id"

    def payload(self, message: OutboundMessage) -> dict[str, Any]:
        rotated = message.metadata.get("caller_number")
        if rotated and not message.config.get("phone_number_id"):
            # Calling from the channel's own number would break the caps rotation just counted.
            raise PermanentFailure(f"vapi: the caller number {rotated} has no provider_number_id (Vapi's "
                                   "phoneNumberId); set it on the campaign's phone number",
                                   substatus=Substatus.identity_misconfigured, code="sender_missing")
        phone_number_id, number = self.parties(message)
        if not self.settings.public_url:
            # Without the hook the assistant would talk with Vapi's own model and no brief.
            raise self.not_configured("OVERTURE_PUBLIC_URL")
        model = {"provider": "custom-llm", "url": self.settings.public_url.rstrip("/") + HOOK_BASE_PATH,
                 "model": HOOK_MODEL, "metadataSendMode": "variable"}
        assistant = {"model": model, "metadata": call_metadata(message)}
        body: dict[str, Any] = {"phoneNumberId": phone_number_id, "customer": {"number": number}}
        if message.config.get("assistant_id"):
            body["assistantId"] = str(message.config["assistant_id"])
            body["assistantOverrides"] = assistant
        else:
            # The hook answers turns; the callee speaks first ("Hello?"), which gives it one.
            body["assistant"] = {**assistant, "firstMessageMode": "assistant-waits-for-user"}
        return body


VAPI = VapiChannel()
