"""Live calls as conversations: who is calling, for which campaign, and the turns said so far.

A voice platform names a call by its own id; the first request that mentions it opens the
conversation (channel ``voice``, status ``open``) and every later one finds it again. Opening is
idempotent per (workspace, call id) even when two requests race: the row is claimed with an
``INSERT ... ON CONFLICT DO NOTHING`` before anything else is written, so the loser reads the
winner's row instead of failing. Turns are appended by position (``seq``) the same way.

Opening is two steps for the live-call hook, which must not write before the model's first
token: ``resolve_call`` reads (who calls, for which campaign) and ``claim_call`` writes the row
later, in the transaction that records the turns; ``open_call`` does both at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import phonenumbers
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from agent.contacts.service import workspace_region
from agent.db import utcnow
from agent.errors import NotFound, ValidationFailed
from agent.ids import new_id
from agent.lookup import get_in_workspace
from agent.models import CallerNumber, Campaign, Contact, Conversation, ConversationTurn, Enrollment
from agent.states import CampaignStatus, ChannelKind, ConversationStatus, EnrollmentStatus
from agent.voice import inbound

OUTBOUND, INBOUND = "outbound", "inbound"
_CALL_ID_MAX = Conversation.external_id.type.length
_NUMBER_MAX = Conversation.from_number.type.length
# Vapi's call types; a web call has no phone side, so its direction is left to open_call.
_VAPI_TYPES = {"inboundPhoneCall": INBOUND, "outboundPhoneCall": OUTBOUND}
_NAME_KEYS = ("name", "first_name", "firstName", "last_name", "lastName", "email")


@dataclass(frozen=True, slots=True)
class CallInfo:
    call_id: str  # the platform's call id (Conversation.external_id)
    from_number: str | None  # E.164 when it parses, as sent otherwise
    to_number: str | None
    campaign_id: str | None
    direction: str | None  # "outbound" | "inbound" | None (unknown: inferred by open_call)
    customer: dict[str, Any] = field(default_factory=dict)  # what the platform says about the caller


@dataclass(frozen=True, slots=True)
class CallContext:
    conversation_id: str
    workspace_id: str
    campaign_id: str | None
    contact_id: str | None
    enrollment_id: str | None
    direction: str  # "outbound" | "inbound"
    known_contact: bool  # False: an inbound caller answered with the inbound prompt, no contact
    created: bool  # this call opened the conversation


# -- reading a request -----------------------------------------------------------------------

def _object(body: Mapping[str, Any], key: str, loc: tuple[str, ...]) -> dict[str, Any]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationFailed(f"{'.'.join(loc[1:])} must be an object",
                               errors=[{"loc": list(loc), "message": "must be an object"}])
    return dict(value)


def _text(value: Any, loc: list[str], *, limit: int | None = None) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValidationFailed(f"{'.'.join(loc[1:])} must be a string", errors=[{"loc": loc, "message": "must be a string"}])
    text = str(value).strip()
    if limit is not None and len(text) > limit:
        raise ValidationFailed(f"{'.'.join(loc[1:])} is longer than {limit} characters",
                               code="invalid_call_id" if loc[-1] in ("call_id", "id") else None,
                               errors=[{"loc": loc, "message": f"at most {limit} characters"}])
    return text or None


def normalize_number(raw: str | None, region: str | None = None) -> str | None:
    """E.164 when ``raw`` is a valid number (national forms need ``region``), else ``raw`` as sent."""
    if not raw:
        return None
    raw = raw.strip()[:_NUMBER_MAX]
    try:
        parsed = phonenumbers.parse(raw, region.upper() if region else None)
    except phonenumbers.NumberParseException:
        return raw or None
    if phonenumbers.is_valid_number(parsed):
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return raw or None


def _number(obj: Mapping[str, Any], loc: list[str]) -> str | None:
    return normalize_number(_text(obj.get("number"), [*loc, "number"]))


def parse_call(body: Mapping[str, Any]) -> CallInfo:
    """The call a chat-completions request belongs to, from ``metadata`` and/or Vapi's objects.

    ``metadata`` (``call_id``, ``from``, ``to``, ``campaign_id``, ``direction``) wins over what the
    ``call`` object implies, since it is what the integrator set on purpose.
    """
    meta = _object(body, "metadata", ("body", "metadata"))
    call = _object(body, "call", ("body", "call"))
    call_meta = _object(call, "metadata", ("body", "call", "metadata"))
    phone = _object(body, "phoneNumber", ("body", "phoneNumber")) or _object(call, "phoneNumber", ("body", "call", "phoneNumber"))
    customer = {**_object(call, "customer", ("body", "call", "customer")), **_object(body, "customer", ("body", "customer"))}

    call_id = (_text(meta.get("call_id"), ["body", "metadata", "call_id"], limit=_CALL_ID_MAX)
               or _text(call.get("id"), ["body", "call", "id"], limit=_CALL_ID_MAX)
               or _text(call.get("callId"), ["body", "call", "callId"], limit=_CALL_ID_MAX)
               or _text(call_meta.get("call_id"), ["body", "call", "metadata", "call_id"], limit=_CALL_ID_MAX))
    if call_id is None:
        raise ValidationFailed("the request names no call: send metadata.call_id or a call object with its id",
                               code="call_id_required",
                               errors=[{"loc": ["body", "metadata", "call_id"], "message": "required"}])

    direction = _VAPI_TYPES.get(str(call.get("type") or ""))
    given = _text(meta.get("direction"), ["body", "metadata", "direction"])
    if given is not None:
        if given not in (INBOUND, OUTBOUND):
            raise ValidationFailed("metadata.direction must be 'inbound' or 'outbound'",
                                   errors=[{"loc": ["body", "metadata", "direction"], "message": "inbound or outbound"}])
        direction = given

    # The platform's view: the customer is the other party, phoneNumber is ours.
    theirs = _number(customer, ["body", "customer"])
    ours = _number(phone, ["body", "phoneNumber"])
    from_number, to_number = (theirs, ours) if direction == INBOUND else (ours, theirs)
    from_number = normalize_number(_text(meta.get("from"), ["body", "metadata", "from"])) or from_number
    to_number = normalize_number(_text(meta.get("to"), ["body", "metadata", "to"])) or to_number

    campaign_id = None
    for source, loc in ((meta, ["body", "metadata"]), (call_meta, ["body", "call", "metadata"])):
        for key in ("campaign_id", "campaignId"):
            campaign_id = campaign_id or _text(source.get(key), [*loc, key], limit=40)
    details = {k: v for k, v in customer.items() if k in _NAME_KEYS and isinstance(v, str)}
    return CallInfo(call_id=call_id, from_number=from_number, to_number=to_number, campaign_id=campaign_id,
                    direction=direction, customer=details)


# -- opening a call --------------------------------------------------------------------------

async def find_call(session: AsyncSession, call_id: str, *, workspace_id: str | None = None) -> Conversation | None:
    q = select(Conversation).where(Conversation.external_id == call_id)
    if workspace_id is not None:
        q = q.where(Conversation.workspace_id == workspace_id)
    return (await session.execute(q.order_by(Conversation.created_at).limit(1))).scalar_one_or_none()


def _context(row: Conversation, *, created: bool) -> CallContext:
    return CallContext(conversation_id=row.id, workspace_id=row.workspace_id, campaign_id=row.campaign_id,
                       contact_id=row.contact_id, enrollment_id=row.enrollment_id, direction=row.direction,
                       known_contact=row.contact_id is not None, created=created)


def insert_ignoring_conflicts(session: AsyncSession, table: Any, rows: list[dict[str, Any]], keys: list[str]) -> Any:
    """``INSERT ... ON CONFLICT (keys) DO NOTHING`` for the session's backend (rowcount = rows written)."""
    dialect = session.get_bind().dialect.name
    builder = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return session.execute(builder(table).values(rows).on_conflict_do_nothing(index_elements=keys))


async def _our_numbers(session: AsyncSession, workspace_id: str, numbers: set[str]) -> list[Any]:
    if not numbers:
        return []
    q = (select(CallerNumber.campaign_id, CallerNumber.number, Campaign.status)
         .join(Campaign, Campaign.id == CallerNumber.campaign_id)
         .where(Campaign.workspace_id == workspace_id, CallerNumber.number.in_(numbers)))
    return list(await session.execute(q))


async def _contacts_by_phone(session: AsyncSession, workspace_id: str, numbers: set[str]) -> dict[str, str]:
    if not numbers:
        return {}
    q = select(Contact.phone, Contact.id).where(Contact.workspace_id == workspace_id, Contact.phone.in_(numbers))
    return {r.phone: r.id for r in await session.execute(q)}


async def _enrollment(session: AsyncSession, campaign_ids: list[str], contact_id: str | None) -> Any:
    if contact_id is None or not campaign_ids:
        return None
    q = (select(Enrollment.id, Enrollment.campaign_id)
         .where(Enrollment.campaign_id.in_(campaign_ids), Enrollment.contact_id == contact_id,
                Enrollment.status != EnrollmentStatus.removed)
         .order_by(Enrollment.id.desc()))
    return (await session.execute(q)).first()


def _pick_campaign(rows: list[Any], enrolled_in: str | None) -> str:
    """Several campaigns share the number: the contact's own, else a live one, else the newest."""
    ids = {r.campaign_id for r in rows}
    if enrolled_in in ids:
        return enrolled_in
    live = sorted({r.campaign_id for r in rows if r.status == CampaignStatus.active})
    return live[-1] if live else sorted(ids)[-1]


@dataclass(frozen=True, slots=True)
class Opening:
    """A call read but not yet stored (``resolve_call``): ``claim_call`` writes it. ``context``
    already carries the conversation id the row will get, unless a concurrent request wins."""

    context: CallContext
    row: dict[str, Any]
    campaign: Campaign
    admit_number: str | None  # an inbound caller the campaign may still admit (a write: contact, enrollment)

    @property
    def must_admit(self) -> bool:
        return self.context.direction == INBOUND and self.context.enrollment_id is None


async def resolve_call(session: AsyncSession, workspace_id: str, call: CallInfo, *,
                       now: dt.datetime | None = None) -> CallContext | Opening:
    """The call's conversation when stored, else what opening it will write; reads only."""
    existing = await find_call(session, call.call_id, workspace_id=workspace_id)
    if existing is not None:
        return _context(existing, created=False)

    # parse_call already wrote international numbers as E.164; only national ones need the region.
    national = [n for n in (call.from_number, call.to_number) if n and not n.startswith("+")]
    region = await workspace_region(session, workspace_id) if national else None
    from_n, to_n = normalize_number(call.from_number, region), normalize_number(call.to_number, region)
    campaign: Campaign | None = None
    if call.campaign_id:
        campaign = await get_in_workspace(session, Campaign, workspace_id, call.campaign_id, code="unknown_call",
                                          missing=f"no campaign {call.campaign_id} for call {call.call_id}")
    ours = await _our_numbers(session, workspace_id, {n for n in (from_n, to_n) if n})
    our_set = {r.number for r in ours if campaign is None or r.campaign_id == campaign.id} or {r.number for r in ours}

    direction = call.direction
    if direction is None:
        direction = INBOUND if to_n in our_set else OUTBOUND if from_n in our_set else None
    if direction is None:
        known = await _contacts_by_phone(session, workspace_id, {n for n in (from_n, to_n) if n})
        direction = INBOUND if from_n in known and to_n not in known else OUTBOUND
    other, own = (to_n, from_n) if direction == OUTBOUND else (from_n, to_n)
    contact_id = (await _contacts_by_phone(session, workspace_id, {other} if other else set())).get(other or "")

    if campaign is None:
        rows = [r for r in ours if r.number == own]
        if not rows:
            raise NotFound(f"call {call.call_id} names no campaign and no number of this workspace",
                           code="unknown_call")
        enrolled = await _enrollment(session, sorted({r.campaign_id for r in rows}), contact_id)
        campaign_id = _pick_campaign(rows, enrolled.campaign_id if enrolled else None)
        campaign = (await session.execute(select(Campaign).where(Campaign.id == campaign_id))).scalar_one()
        enrollment_id = enrolled.id if enrolled and enrolled.campaign_id == campaign_id else None
    else:
        enrolled = await _enrollment(session, [campaign.id], contact_id)
        enrollment_id = enrolled.id if enrolled else None

    conversation_id = new_id("cnv")
    row = {"id": conversation_id, "workspace_id": workspace_id, "campaign_id": campaign.id,
           "enrollment_id": enrollment_id, "contact_id": contact_id, "external_id": call.call_id,
           "channel": ChannelKind.voice.value, "direction": direction, "status": ConversationStatus.open,
           "from_number": from_n, "to_number": to_n, "started_at": now or utcnow(), "created_at": utcnow()}
    context = CallContext(conversation_id=conversation_id, workspace_id=workspace_id, campaign_id=campaign.id,
                          contact_id=contact_id, enrollment_id=enrollment_id, direction=direction,
                          known_contact=contact_id is not None, created=True)
    return Opening(context=context, row=row, campaign=campaign, admit_number=other)


async def rehearse_resolve(session: AsyncSession, ctx: CallContext) -> CallInfo:
    """``resolve_call``'s reads for ``ctx``'s (absent) rows, each once: a call naming no
    campaign, one naming ``ctx.campaign_id``, and the enrollment and campaign look-ups they
    lead to for a stored caller (``engine.warm_reads``). The call read; nothing matches."""
    call = CallInfo(call_id="warm-up", from_number="+12125550199", to_number="+13125550100", campaign_id=None,
                    direction=None)
    for attempt in (call, replace(call, campaign_id=ctx.campaign_id)):
        try:
            await resolve_call(session, ctx.workspace_id, attempt)
        except NotFound:
            pass
    await _enrollment(session, [str(ctx.campaign_id)], ctx.contact_id)
    await session.execute(select(Campaign).where(Campaign.id == ctx.campaign_id))
    return call


async def claim_call(session: AsyncSession, opening: Opening, call: CallInfo) -> CallContext:
    """Store a resolved call (idempotent per call id, see the module docstring). The caller commits."""
    claimed = await insert_ignoring_conflicts(session, Conversation.__table__, [opening.row],
                                              ["workspace_id", "external_id"])
    if claimed.rowcount != 1:  # a concurrent request opened it first
        winner = await find_call(session, call.call_id, workspace_id=opening.context.workspace_id)
        assert winner is not None, "conflicting conversation insert but no row"
        return _context(winner, created=False)
    ctx = opening.context
    if opening.must_admit:
        admitted = await inbound.admit(session, opening.campaign, opening.admit_number, call.customer)
        if admitted is not None:
            contact_id, enrollment_id = admitted
            await session.execute(update(Conversation).where(Conversation.id == ctx.conversation_id)
                                  .values(contact_id=contact_id, enrollment_id=enrollment_id))
            ctx = replace(ctx, contact_id=contact_id, enrollment_id=enrollment_id, known_contact=True)
    return ctx


async def open_call(session: AsyncSession, workspace_id: str, call: CallInfo, *,
                    now: dt.datetime | None = None) -> CallContext:
    """The call's conversation, opened on first sight (see the module docstring). The caller commits."""
    found = await resolve_call(session, workspace_id, call, now=now)
    return found if isinstance(found, CallContext) else await claim_call(session, found, call)


# -- turns -----------------------------------------------------------------------------------

async def record_turns(session: AsyncSession, conversation_id: str, turns: Sequence[tuple[str, str]]) -> int:
    """Append the turns past those already stored (seq = position from 0); how many were added.

    ``turns`` is the whole conversation so far, so a repeated request adds nothing, and a turn
    another request wrote at the same position meanwhile is kept as it is, with one exception: the
    caller's last stored sentence, when ``turns`` has it grown (a platform sends "So I", then
    supersedes that request with "So I was wondering..."), is completed in place.
    """
    last = (await session.execute(
        select(ConversationTurn.id, ConversationTurn.seq, ConversationTurn.role, ConversationTurn.content)
        .where(ConversationTurn.conversation_id == conversation_id)
        .order_by(ConversationTurn.seq.desc()).limit(1))).first()
    start = 0 if last is None else last.seq + 1
    if last is not None and last.role == "user" and last.seq < len(turns):
        role, content = turns[last.seq]
        if role == "user" and len(content) > len(last.content) and content.startswith(last.content):
            await session.execute(update(ConversationTurn).where(
                ConversationTurn.id == last.id, ConversationTurn.content == last.content)
                .values(content=content).execution_options(synchronize_session=False))
    if len(turns) <= start:
        return 0
    now = utcnow()
    rows = [{"id": new_id("turn"), "conversation_id": conversation_id, "seq": seq, "role": role, "content": content,
             "created_at": now} for seq, (role, content) in enumerate(turns) if seq >= start]
    result = await insert_ignoring_conflicts(session, ConversationTurn.__table__, rows, ["conversation_id", "seq"])
    return max(int(result.rowcount or 0), 0)
