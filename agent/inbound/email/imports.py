"""Import via email: a campaign's own address on the inbound domain takes CSV attachments from
its one authorized sender and runs each as an ordinary import job (``agent.contacts.imports``,
with its limits) read with the saved mapping. Mail from anyone else is refused and logged; it
still shows in the campaign's import history, as a failed job that imported nothing."""

from __future__ import annotations

import logging
import secrets
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agent.contacts import imports
from agent.db import utcnow
from agent.errors import OvertureError
from agent.ids import new_id
from agent.models import Campaign, EmailImport, ImportJob, InboundMessage
from agent.settings import get_settings
from agent.states import InboundStatus, JobStatus

log = logging.getLogger(__name__)
PREFIX = "import-"
ACTOR = "email"


class InboundDomainMissing(OvertureError):
    status, code, title = 409, "inbound_domain_not_set", "Conflict"


def address_of(row: EmailImport) -> str:
    domain = get_settings().inbound_domain
    if not domain:
        raise InboundDomainMissing("set OVERTURE_INBOUND_DOMAIN to give campaigns import addresses")
    return f"{PREFIX}{row.token}@{domain}"


async def configure(session: AsyncSession, campaign: Campaign, *, mapping: dict[str, str],
                    authorized_sender: str) -> EmailImport:
    """The campaign's import address, made on first use and kept after (a sender may have saved it)."""
    address_of(EmailImport(token=""))  # refuses before anything is written
    row = (await session.scalars(select(EmailImport).where(EmailImport.campaign_id == campaign.id))).first()
    if row is None:
        row = EmailImport(id=new_id("eim"), workspace_id=campaign.workspace_id, campaign_id=campaign.id,
                          token=secrets.token_hex(8))
        session.add(row)
    row.mapping, row.authorized_sender = dict(mapping), authorized_sender.strip().lower()
    await session.flush()
    return row


async def find_for(session: AsyncSession, addresses: list[str]) -> EmailImport | None:
    """The import configuration one of ``addresses`` names, if any."""
    domain = (get_settings().inbound_domain or "").lower()
    tokens = [local[len(PREFIX):] for local, _, host in (a.lower().partition("@") for a in addresses)
              if local.startswith(PREFIX) and (not domain or host == domain)]
    if not tokens:
        return None
    return (await session.scalars(select(EmailImport).where(EmailImport.token.in_(tokens)))).first()


async def take_import(session: AsyncSession, config: EmailImport, message: InboundMessage, raw: bytes,
                      sender: str | None) -> list[ImportJob]:
    """Each CSV attachment as an import job, or one refused record when the sender is not the one."""
    campaign = await session.get(Campaign, config.campaign_id)
    message.workspace_id = config.workspace_id
    files = csv_attachments(raw)
    if (sender or "").lower() != config.authorized_sender:
        log.warning("import mail for campaign %s refused: %s is not its authorized sender", config.campaign_id,
                    sender)
        message.status = InboundStatus.refused
        job = _failed(config, files[0][0] if files else "", "sender_not_authorized",
                      f"{sender or 'an unknown sender'} may not import into this campaign")
        session.add(job)
        return [job]
    jobs: list[ImportJob] = []
    for filename, data in files:
        try:
            jobs.append(await imports.create_job(session, campaign, data, filename=filename, mapping=config.mapping,
                                                 actor=ACTOR))
        except OvertureError as exc:  # a file refused whole (size, header, mapping): its record says why
            job = _failed(config, filename, exc.code, exc.detail)
            session.add(job)
            jobs.append(job)
    if not files:
        job = _failed(config, "", "no_csv_attachment", "the message carries no CSV attachment")
        session.add(job)
        jobs.append(job)
    message.status = InboundStatus.applied
    message.detail = {**(message.detail or {}), "import_job_ids": [j.id for j in jobs]}
    await session.flush()
    return jobs


def csv_attachments(raw: bytes) -> list[tuple[str, bytes]]:
    message = message_from_bytes(raw, policy=default_policy)
    assert isinstance(message, EmailMessage)
    found = []
    for part in message.iter_attachments():
        name = part.get_filename() or ""
        if part.get_content_type() in ("text/csv", "application/csv", "application/vnd.ms-excel") or \
                name.lower().endswith(".csv"):
            found.append((name or "attachment.csv", part.get_payload(decode=True) or b""))
    return found


def _failed(config: EmailImport, filename: str, code: str, detail: str) -> ImportJob:
    now = utcnow()
    return ImportJob(id=new_id("imp"), workspace_id=config.workspace_id, campaign_id=config.campaign_id,
                     status=JobStatus.failed, filename=filename[:255], content=None, mapping=config.mapping,
                     total=0, created_by=ACTOR, errors=[{"code": code, "message": detail}], warnings=[],
                     error_code=code[:60], started_at=now, finished_at=now)
