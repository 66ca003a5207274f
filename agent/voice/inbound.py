"""Inbound callers who are not contacts yet: whether a campaign takes them in, and doing it.

A campaign with ``add_inbound_contacts`` on admits an unknown caller when the caller matches its
``inbound_rules`` (JSON, all keys optional, an empty object admits everyone)::

    {"allowed_countries": ["US", "CA"],      # region of the caller's number (ISO 3166-1 alpha-2);
                                             # empty or absent: any country
     "blocked_countries": ["RU"],            # never these regions
     "required_fields": ["name", "email"]}   # what the voice platform must tell us about the caller
                                             # (its ``customer`` object): name, first_name,
                                             # last_name, email (a valid address)

An admitted caller becomes a contact (through the same dedup and enrollment path as every other
intake, source ``inbound``); anyone else is answered with the campaign's inbound prompt and
nothing about them is stored beyond the conversation itself. Suppressed numbers are never added.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from agent import activity
from agent.contacts.normalize import ContactInput, normalize_contact
from agent.contacts.repository import is_suppressed
from agent.contacts.service import AddResult, enroll, workspace_region
from agent.models import Campaign, Contact, Enrollment
from agent.states import CAMPAIGN_ACCEPTS_CONTACTS, CampaignStatus

log = logging.getLogger(__name__)

RequiredField = Literal["name", "first_name", "last_name", "email"]
_REGIONS = frozenset(phonenumbers.SUPPORTED_REGIONS)
_ALIASES = {"firstName": "first_name", "lastName": "last_name"}


class InboundRules(BaseModel):
    """Who a campaign admits as a new contact when they call in (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")
    allowed_countries: list[str] = Field(default_factory=list, max_length=300,
                                         description="Regions (ISO 3166-1 alpha-2) admitted; empty: any.")
    blocked_countries: list[str] = Field(default_factory=list, max_length=300,
                                         description="Regions (ISO 3166-1 alpha-2) never admitted.")
    required_fields: list[RequiredField] = Field(default_factory=list, max_length=4,
                                          description="Caller details the voice platform must send.")

    @field_validator("allowed_countries", "blocked_countries")
    @classmethod
    def _regions(cls, values: list[str]) -> list[str]:
        out: list[str] = []
        for value in values:
            code = value.strip().upper()
            if code not in _REGIONS:
                raise ValueError(f"{value!r} is not a region code phone numbers use (e.g. 'US', 'GB')")
            if code not in out:
                out.append(code)
        return out

    @model_validator(mode="after")
    def _disjoint(self) -> InboundRules:
        both = sorted(set(self.allowed_countries) & set(self.blocked_countries))
        if both:
            raise ValueError(f"{', '.join(both)} both allowed and blocked")
        return self


def parse_rules(raw: Mapping[str, Any] | None) -> InboundRules:
    """The rules as stored on a campaign (``None`` means no rules: everyone)."""
    return InboundRules.model_validate(dict(raw or {}))


@dataclass(frozen=True, slots=True)
class Decision:
    eligible: bool
    reason: str  # "eligible" or why not: invalid_number, country_not_allowed, missing_email, ...


def caller_details(customer: Mapping[str, Any]) -> dict[str, str]:
    """The caller fields the rules can ask for, as strings, camelCase keys folded."""
    out: dict[str, str] = {}
    for key, value in customer.items():
        key = _ALIASES.get(key, key)
        if key in ("name", "first_name", "last_name", "email") and isinstance(value, str) and value.strip():
            out[key] = value.strip()
    return out


def check(rules: InboundRules, number: str | None, customer: Mapping[str, Any]) -> Decision:
    """Whether a caller from ``number`` who the platform describes as ``customer`` is admitted."""
    try:
        parsed = phonenumbers.parse(number or "", None)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        return Decision(False, "invalid_number")
    region = phonenumbers.region_code_for_number(parsed)
    if rules.allowed_countries and region not in rules.allowed_countries:
        return Decision(False, "country_not_allowed")
    if region in rules.blocked_countries:
        return Decision(False, "country_blocked")
    details = caller_details(customer)
    for needed in rules.required_fields:
        if needed == "name":
            present = any(details.get(k) for k in ("name", "first_name", "last_name"))
        elif needed == "email":
            present = _valid_email(details.get("email"))
        else:
            present = bool(details.get(needed))
        if not present:
            return Decision(False, f"missing_{needed}")
    return Decision(True, "eligible")


def _valid_email(value: str | None) -> bool:
    if not value:
        return False
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


async def admit(session: AsyncSession, campaign: Campaign, number: str | None,
                customer: Mapping[str, Any]) -> tuple[str, str] | None:
    """Create (or find) and enroll the caller when ``campaign`` admits them: (contact id, enrollment id)."""
    if not campaign.add_inbound_contacts or CampaignStatus(campaign.status) not in CAMPAIGN_ACCEPTS_CONTACTS:
        return None
    try:
        rules = parse_rules(campaign.inbound_rules)
    except ValidationError:
        # Rules written before validation existed: admit no one rather than guess.
        log.warning("campaign %s has invalid inbound_rules; inbound caller not added", campaign.id)
        return None
    decision = check(rules, number, customer)
    if not decision.eligible:
        log.info("inbound caller not added to campaign %s: %s", campaign.id, decision.reason)
        return None
    details = caller_details(customer)
    named = any(details.get(k) for k in ("name", "first_name", "last_name"))
    # A contact needs a name to normalise; a caller who gave none keeps empty names, not a made-up one.
    inp = ContactInput(first_name=details.get("first_name", ""), last_name=details.get("last_name", ""),
                       name=details.get("name", "" if named else "-"), email=details.get("email", ""),
                       phone=number or "")
    region = await workspace_region(session, campaign.workspace_id)
    contact, _, _ = normalize_contact(inp, region=region, row=0)
    if contact is None or contact.phone is None:
        return None
    if not named:
        contact = replace(contact, first_name="", last_name="")
    if await is_suppressed(session, campaign.workspace_id, phone=contact.phone, email_key=contact.email_key):
        log.info("inbound caller not added to campaign %s: suppressed", campaign.id)
        return None
    result = await enroll(session, campaign, [(0, contact)], actor=activity.SYSTEM, source="inbound",
                          result=AddResult())
    if result.errors:  # removed from this campaign before: never re-added
        return None
    # enroll() may have matched an existing contact by email rather than by this number.
    match = Contact.phone == contact.phone if contact.email_key is None else or_(
        Contact.phone == contact.phone, Contact.email_key == contact.email_key)
    contact_id = (await session.execute(select(Contact.id).where(Contact.workspace_id == campaign.workspace_id, match)
                                        .order_by((Contact.phone == contact.phone).desc()).limit(1))).scalar_one()
    enrollment_id = (await session.execute(select(Enrollment.id).where(
        Enrollment.campaign_id == campaign.id, Enrollment.contact_id == contact_id))).scalar_one()
    return contact_id, enrollment_id
