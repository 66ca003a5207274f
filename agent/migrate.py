"""Apply Alembic migrations programmatically (``overture migrate``; ``serve`` on SQLite)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config

from agent.settings import get_settings

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url or get_settings().db_url)
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Migrate the database at ``url`` to ``revision``.

    Alembic's env runs its own event loop, so when called from inside a running loop the
    migration runs on a helper thread.
    """
    settings = get_settings()
    url = url or settings.db_url
    if url.startswith("sqlite"):
        db_path = Path(url.split("///", 1)[1])
        db_path.parent.mkdir(parents=True, exist_ok=True)
    cfg = alembic_config(url)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        command.upgrade(cfg, revision)
        return
    errors: list[BaseException] = []

    def target() -> None:
        try:
            command.upgrade(cfg, revision)
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if errors:
        raise errors[0]
