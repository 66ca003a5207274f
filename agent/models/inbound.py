"""What came back from recipients and providers: replies, bounces, opt-outs, receipts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from agent.models.base import (
    Base,
    StrEnumType,
    created_column,
    enum_check,
    fk,
    id_column,
    updated_column,
)
from agent.states import BounceType, InboundKind, InboundStatus, ReplyIntent


class InboundMessage(Base):
    """One delivery from outside, kept whole (``raw``) and applied once.

    ``external_id`` is the sender's own identity of the delivery (an email's Message-ID, or a hash
    of its bytes when it has none; Twilio's ``MessageSid``, with the status for a callback), so a
    provider that delivers the same thing twice finds the first row (unique per channel). The
    workspace is the matched outreach's; an unmatched message belongs to none.
    """

    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        Index("ix_inbound_messages_enrollment", "enrollment_id"),
        enum_check("kind", InboundKind), enum_check("status", InboundStatus),
        enum_check("bounce_type", BounceType, nullable=True), enum_check("intent", ReplyIntent, nullable=True),
    )
    id: Mapped[str] = id_column()
    workspace_id: Mapped[str | None] = fk("workspaces.id", nullable=True)
    channel: Mapped[str] = mapped_column(String(10))
    provider: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(300))
    kind: Mapped[InboundKind] = mapped_column(StrEnumType(InboundKind, 20))
    status: Mapped[InboundStatus] = mapped_column(StrEnumType(InboundStatus, 20))
    bounce_type: Mapped[BounceType | None] = mapped_column(StrEnumType(BounceType, 10))
    intent: Mapped[ReplyIntent | None] = mapped_column(StrEnumType(ReplyIntent, 20))
    from_address: Mapped[str | None] = mapped_column(String(320))
    to_address: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(Text)
    # The new text of a reply, without the quoted history (the conversation's turn).
    text: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    outreach_id: Mapped[str | None] = fk("outreaches.id", ondelete="SET NULL", nullable=True, index=False)
    enrollment_id: Mapped[str | None] = fk("enrollments.id", ondelete="SET NULL", nullable=True, index=False)
    contact_id: Mapped[str | None] = fk("contacts.id", ondelete="SET NULL", nullable=True)
    conversation_id: Mapped[str | None] = fk("conversations.id", ondelete="SET NULL", nullable=True, index=False)
    received_at: Mapped[dt.datetime] = created_column()
    created_at: Mapped[dt.datetime] = created_column()


class EmailImport(Base):
    """A campaign's import address (``import-<token>@`` the inbound domain): the one sender whose
    CSV attachments are imported there, and the column mapping they are read with."""

    __tablename__ = "email_imports"
    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = fk("workspaces.id", index=False)
    campaign_id: Mapped[str] = fk("campaigns.id", index=False)
    token: Mapped[str] = mapped_column(String(40), unique=True)
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    authorized_sender: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[dt.datetime] = created_column()
    updated_at: Mapped[dt.datetime] = updated_column()
    __table_args__ = (UniqueConstraint("campaign_id"),)
