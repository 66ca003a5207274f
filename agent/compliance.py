"""Calling and texting rules that depend on where the contact is, applied at send time.

Florida, Oklahoma and Maryland ("mini-TCPA" laws) allow solicitation calls and texts only from
08:00 to 20:00 in the contact's zone and at most three per 24 hours per contact and campaign. The
state comes from the contact's own ``state`` property when they have one, else from their
number's area code (libphonenumber's offline geocoding data). A contact without a zone of their
own is held to the quiet hours of every zone their area code spans.

Pure functions over the contact; the executor and ``agent.scheduling.contact_window`` call them.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import phonenumbers
from phonenumbers import geocoder, timezone as number_timezone

if TYPE_CHECKING:
    from agent.models import Contact

STRICT_STATES = {"FL": "Florida", "OK": "Oklahoma", "MD": "Maryland"}
STRICT_QUIET_END = dt.time(20, 0)
STRICT_DAILY_CAP = 3  # calls and texts per contact and campaign, in any 24 hours
STRICT_CAP_WINDOW = dt.timedelta(hours=24)
_BY_NAME = {name.casefold(): code for code, name in STRICT_STATES.items()}


def _parsed(phone: str | None) -> phonenumbers.PhoneNumber | None:
    if not phone:
        return None
    try:
        return phonenumbers.parse(phone)
    except phonenumbers.NumberParseException:
        return None


def strict_state(contact: Contact) -> str | None:
    """The two-letter code of the contact's state when it has the stricter rules, else None."""
    own = str((contact.properties or {}).get("state") or "").strip()
    if own:
        code = own.upper() if own.upper() in STRICT_STATES else _BY_NAME.get(own.casefold())
        return code  # the contact's own address wins over the number's area code
    number = _parsed(contact.phone)
    if number is None or phonenumbers.region_code_for_number(number) != "US":
        return None
    return _BY_NAME.get(geocoder.description_for_number(number, "en").casefold())


def number_zones(phone: str | None) -> tuple[str, ...]:
    """The IANA zones the number's area code spans (none when unknown)."""
    number = _parsed(phone)
    if number is None:
        return ()
    zones = tuple(z for z in number_timezone.time_zones_for_number(number) if z != "Etc/Unknown")
    return zones
