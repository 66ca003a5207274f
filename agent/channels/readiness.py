"""Whether a channel's provider has the process settings it needs before the channel may start.

Pure: the lifecycle calls ``provider_configured`` when a channel would move to running (go-live,
channel start, resume) and refuses with ``provider_not_configured`` rather than starting a channel
whose every send would fail.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.settings import Settings

# provider -> the settings it cannot work without, by attribute name. The sandbox and the manual
# task list need none. Every real provider needs the public URL: email for its unsubscribe link,
# SMS for its status callback, voice for the assistant's hook.
REQUIRED_SETTINGS: dict[str, tuple[str, ...]] = {
    "smtp": ("smtp_url", "public_url"),
    "twilio": ("twilio_account_sid", "twilio_auth_token", "public_url"),
    "vapi": ("vapi_api_key", "public_url"),
    "retell": ("retell_api_key", "public_url"),
}


def provider_configured(kind: str, config: Mapping[str, Any] | None, settings: Settings) -> str | None:
    """The environment variable the channel's provider still needs (e.g. ``OVERTURE_SMTP_URL``),
    or ``None`` when it can start. ``kind`` is accepted for symmetry with ``channel_for``."""
    provider = (config or {}).get("provider") or "sandbox"
    for name in REQUIRED_SETTINGS.get(provider, ()):
        # getattr with a default: a provider whose settings this build does not define yet is
        # simply not configured.
        value = getattr(settings, name, None)
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        if not value:
            return f"OVERTURE_{name.upper()}"
    return None
