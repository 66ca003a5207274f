"""Outbound calls through Retell (``POST /v2/create-phone-call``).

Retell's agent reaches our voice hook over its custom-LLM WebSocket, whose URL
(``{public_url}/v1/voice/retell``) is set on the Retell agent, not per call. The call carries
our ids in ``metadata`` and, as strings, in ``retell_llm_dynamic_variables``; Retell hands both
back in the ``call_details`` frame, where ``agent.voice.retell.call_info`` reads ``campaign_id``.

Channel config keys read here: ``from_number`` (a number bought or imported in Retell, required),
``assistant_id`` (optional: ``override_agent_id``; otherwise the number's outbound agent).
"""

from __future__ import annotations

from typing import Any

from agent.channels.base import OutboundMessage
from agent.channels.voicecall import VoiceCallChannel, call_metadata


class RetellChannel(VoiceCallChannel):
    name = "retell"
    path = "/v2/create-phone-call"
    id_field = "call_id"
    sender_key = "from_number"

    def payload(self, message: OutboundMessage) -> dict[str, Any]:
        from_number, to_number = self.parties(message)
        metadata = call_metadata(message)
        body: dict[str, Any] = {"from_number": from_number, "to_number": to_number,
                                "metadata": metadata, "retell_llm_dynamic_variables": metadata}
        if message.config.get("assistant_id"):
            body["override_agent_id"] = str(message.config["assistant_id"])
        return body


RETELL = RetellChannel()
