"""What the CLI says when it cannot reach its database: one line naming the setting to fix.

Run from another folder, the embedded SQLite path (``./overture-data`` by default) points at a
directory that does not exist; with a wrong ``OVERTURE_DATABASE_URL`` the driver fails to
connect. Either way a traceback helps nobody: the operator needs the path or URL that was tried
(password hidden) and which setting chooses it.
"""

from __future__ import annotations

import socket
from pathlib import Path

import typer
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from agent.settings import get_settings

FIX = "set OVERTURE_DATA_DIR to the folder holding overture.db, or OVERTURE_DATABASE_URL"


def shown_url() -> str:
    """The database the settings name, password hidden."""
    try:
        return make_url(get_settings().db_url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return "an unparsable URL"


def open_database(create: bool = False) -> None:
    """Check the embedded SQLite file exists (``create``: migrate it into being, as ``keys create`` does).

    A read-only command must not leave an empty database in whatever folder it was run from.
    """
    settings = get_settings()
    if not settings.is_sqlite:
        return
    path = Path(settings.db_url.split("///", 1)[1])
    if create:
        from agent.migrate import upgrade

        upgrade()
        return
    if not path.exists():
        typer.echo(f"error: no Overture database at {path}; {FIX}", err=True)
        raise typer.Exit(2)


def database_problem(exc: BaseException) -> str | None:
    """The one-line message for an exception that means "the database cannot be opened", else None."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        reason = _reason(exc)
        if reason:
            return f"error: cannot open the database ({shown_url()}): {reason}; {FIX}"
        exc = exc.__cause__ or exc.__context__
    return None


def _reason(exc: BaseException) -> str | None:
    if isinstance(exc, (sa_exc.ArgumentError, sa_exc.NoSuchModuleError)):
        return "OVERTURE_DATABASE_URL is not a database URL Overture can use"
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)):
        return str(exc.orig).splitlines()[0] if exc.orig is not None else str(exc).splitlines()[0]
    if isinstance(exc, (ConnectionError, socket.gaierror, TimeoutError)):
        return str(exc).splitlines()[0] or type(exc).__name__
    if type(exc).__module__.startswith("asyncpg") and "Error" in type(exc).__name__:
        return str(exc).splitlines()[0]
    return None
