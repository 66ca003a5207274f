"""Normalise one raw contact row into the shape Overture stores.

Pure functions only: no database, no I/O.  Used by the CSV import (and any
other intake) to turn loosely formatted strings into a contact with an E.164
phone, a validated e-mail address, an IANA time zone and a dedup key, and to
report what was wrong with the row as machine-readable problems.

A row yields errors (the contact is skipped) or warnings (the contact is kept,
the offending value dropped).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone as dt_timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from phonenumbers import NumberParseException
from phonenumbers.timezone import UNKNOWN_TIMEZONE, time_zones_for_number

from agent.states import Priority

__all__ = ["ContactInput", "NormalizedContact", "RowProblem", "clean_tags", "normalize_contact", "split_tags"]

_E164 = phonenumbers.PhoneNumberFormat.E164

# Files that ZoneInfo will happily load from the system zoneinfo directory but
# which are not IANA zone names: their meaning depends on the server we run on.
_NOT_ZONES = frozenset({"localtime", "posixrules"})


@dataclass(frozen=True, slots=True)
class ContactInput:
    """One raw row after column mapping (all strings as given, maybe empty)."""

    first_name: str = ""
    last_name: str = ""
    name: str = ""  # a full name, split into first/last when first/last are empty
    email: str = ""
    phone: str = ""
    timezone: str = ""
    properties: dict[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    priority: str = ""  # high, normal or low (any case); empty when the row does not say


@dataclass(frozen=True, slots=True)
class NormalizedContact:
    first_name: str
    last_name: str
    email: str | None  # as normalised by email-validator
    email_key: str | None  # email.casefold(), the dedup key
    phone: str | None  # E.164
    timezone: str | None  # IANA name
    properties: dict[str, str]
    tags: tuple[str, ...] = ()  # trimmed, each once
    priority: Priority | None = None  # None when the row does not say


@dataclass(frozen=True, slots=True)
class RowProblem:
    row: int  # 1-based record number; in a CSV the header is row 1
    field: str | None  # "name", "email", "phone", "timezone" or None
    code: str  # stable machine code
    message: str  # human sentence


def normalize_contact(
    inp: ContactInput, *, region: str, row: int
) -> tuple[NormalizedContact | None, list[RowProblem], list[RowProblem]]:
    """Return (contact or None when the row is skipped, errors, warnings).

    ``region`` is the workspace's default region (e.g. "US"), used for phone
    numbers written without an international prefix.
    """
    errors: list[RowProblem] = []
    warnings: list[RowProblem] = []

    first = inp.first_name.strip()
    last = inp.last_name.strip()
    if not first and not last:
        parts = inp.name.split()
        if parts:
            first, last = parts[0], " ".join(parts[1:])
    if not first and not last:
        errors.append(RowProblem(row, "name", "missing_name", "The row has no first name, last name or full name."))

    # Phone: parse once and keep the PhoneNumber for time-zone inference.
    raw_phone = inp.phone.strip()
    phone: str | None = None
    parsed: phonenumbers.PhoneNumber | None = None
    phone_problem: str | None = None
    if raw_phone:
        try:
            candidate = phonenumbers.parse(raw_phone, region.upper() if region else None)
        except NumberParseException:
            candidate = None
        if candidate is not None and phonenumbers.is_valid_number(candidate):
            parsed = candidate
            phone = phonenumbers.format_number(candidate, _E164)
        else:
            phone_problem = f"phone {raw_phone!r} is not a valid number"

    raw_email = inp.email.strip()
    email: str | None = None
    email_problem: str | None = None
    if raw_email:
        try:
            email = validate_email(raw_email, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            email_problem = f"email {raw_email!r} is not a valid address ({exc})"

    if phone is None and email is None:
        if raw_phone or raw_email:
            # The detail goes into the error; separate warnings would only repeat it.
            detail = "; ".join(p for p in (phone_problem, email_problem) if p)
            errors.append(RowProblem(row, None, "invalid_phone_or_email", f"No usable contact point: {detail}."))
        else:
            errors.append(RowProblem(row, None, "missing_phone_or_email", "The row has neither a phone number nor an email address."))
    else:
        if phone_problem:
            warnings.append(RowProblem(row, "phone", "invalid_phone", f"The {phone_problem}; it was dropped."))
        if email_problem:
            warnings.append(RowProblem(row, "email", "invalid_email", f"The {email_problem}; it was dropped."))

    raw_tz = inp.timezone.strip()
    tz: str | None = None
    if raw_tz:
        if _is_zone(raw_tz):
            tz = raw_tz
        else:
            warnings.append(
                RowProblem(row, "timezone", "invalid_timezone", f"Time zone {raw_tz!r} is not an IANA time zone name; it was ignored.")
            )
    if tz is None and parsed is not None:
        tz = _unambiguous_zone(time_zones_for_number(parsed))

    priority: Priority | None = None
    if inp.priority.strip():
        try:
            priority = Priority(inp.priority.strip().lower())
        except ValueError:
            warnings.append(RowProblem(row, "priority", "invalid_priority",
                                       f"Priority {inp.priority.strip()!r} is not high, normal or low; it was ignored."))

    if errors:
        return None, errors, warnings

    properties = {k.strip(): v.strip() for k, v in inp.properties.items() if k.strip()}
    contact = NormalizedContact(
        first_name=first,
        last_name=last,
        email=email,
        email_key=email.casefold() if email is not None else None,
        phone=phone,
        timezone=tz,
        properties=properties,
        tags=clean_tags(inp.tags),
        priority=priority,
    )
    return contact, errors, warnings


def clean_tags(tags: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Trimmed, blanks dropped, each once in the order given (case kept, compared case-folded)."""
    seen: set[str] = set()
    out: list[str] = []
    for tag in (t.strip() for t in tags):
        if tag and tag.casefold() not in seen:
            seen.add(tag.casefold())
            out.append(tag)
    return tuple(out)


def split_tags(cell: str) -> tuple[str, ...]:
    """A spreadsheet cell of tags: separated by commas, semicolons or "|"."""
    return clean_tags(re.split(r"[,;|]", cell))


def _is_zone(key: str) -> bool:
    if key in _NOT_ZONES:
        return False
    try:
        ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a directory such as "America" exists in the zone database.
        return False
    return True


@lru_cache(maxsize=512)
def _unambiguous_zone(zones: tuple[str, ...]) -> str | None:
    """Pick a zone for a number, or None when the number does not pin one down.

    phonenumbers returns every zone of the country for numbers it cannot place
    (toll-free, many mobiles: "+1 800" gives 42 zones starting "America/Adak").
    The first entry is then a wrong guess, and a wrong zone makes us contact
    people at night; so several zones are only accepted when they keep the
    same clock (e.g. Europe/London and Europe/Jersey for a UK mobile).
    """
    zones = tuple(z for z in zones if z != UNKNOWN_TIMEZONE)
    if not zones:
        return None
    if len(zones) > 1:
        try:
            infos = [ZoneInfo(z) for z in zones]
        except (ZoneInfoNotFoundError, ValueError, OSError):
            return None
        # Weekly samples over a year catch differing offsets and DST dates.
        start = datetime(datetime.now(dt_timezone.utc).year, 1, 1, 12, tzinfo=dt_timezone.utc)
        for week in range(53):
            instant = start + timedelta(weeks=week)
            offsets = {instant.astimezone(info).utcoffset() for info in infos}
            if len(offsets) > 1:
                return None
    return zones[0]
