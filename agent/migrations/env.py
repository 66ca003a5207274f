"""Alembic environment: runs migrations over the async engine for the configured URL."""

from __future__ import annotations

import asyncio

from typing import Any

from alembic import context
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from agent.db import make_engine
from agent.models import Base
from agent.models.base import StrEnumType
from agent.search import not_in_models

config = context.config
target_metadata = Base.metadata


def _render_item(kind: str, obj: Any, autogen_context: Any) -> str | bool:
    # A migration is a frozen record: an enum-typed column is written as the VARCHAR it is, so
    # a later change to the enum never rewrites history (its CHECK lists the words literally).
    if kind == "type" and isinstance(obj, StrEnumType):
        return f"sa.String(length={obj.impl.length})"
    return False


def _run(connection) -> None:  # noqa: ANN001
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch migrations recreate a table (copy, DROP, rename); with foreign keys on, the DROP
        # cascades to every child row. The pragma is ignored inside a transaction, so it is set
        # before the migration's transaction begins (the driver opens none for a PRAGMA).
        connection.execute(text("PRAGMA foreign_keys=OFF"))
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=sqlite,
        render_item=_render_item,
        compare_type=True,
        include_name=not_in_models,  # the search indexes live beside the models (0011_search)
    )
    with context.begin_transaction():
        context.run_migrations()
        if sqlite:
            broken = connection.execute(text("PRAGMA foreign_key_check")).fetchall()
            if broken:
                raise RuntimeError(f"the migration left rows whose parent is missing: {broken[:5]}")


async def _run_async(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.run_sync(_run)
        await conn.commit()
    await engine.dispose()


def run() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    asyncio.run(_run_async(engine))


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `overture migrate`")
run()
