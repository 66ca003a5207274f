"""Workspaces, their API keys and idempotency records."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from agent.models.base import Base, created_column, fk, id_column


class Workspace(Base):
    __tablename__ = "workspaces"
    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(200), unique=True)
    default_region: Mapped[str] = mapped_column(String(2), default="US")
    created_at: Mapped[dt.datetime] = created_column()


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = fk("workspaces.id")
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20))
    prefix: Mapped[str] = mapped_column(String(16))  # shown in listings; the key itself never is
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = created_column()
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


class IdempotencyRecord(Base):
    """The first answer to a mutating POST sent with an ``Idempotency-Key``."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("workspace_id", "key"),)
    id: Mapped[str] = id_column()
    workspace_id: Mapped[str] = fk("workspaces.id", index=False)
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    headers: Mapped[dict[str, Any] | None]
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = created_column()


class WebSession(Base):
    """A signed-in inbox browser: the cookie carries a random token, the table only its hash.

    The API key the person signed in with is never stored in the browser; revoking that key ends
    every session made with it.
    """

    __tablename__ = "web_sessions"
    id: Mapped[str] = id_column()
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_id: Mapped[str] = fk("api_keys.id")
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = created_column()
    expires_at: Mapped[dt.datetime]
