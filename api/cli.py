"""The ``overture`` command line: serve, worker, scheduler, migrate, keys, import and plan (the top edge)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from agent.settings import get_settings
from agent.states import Role
from api.cli_support import open_database


class _Overture(typer.Typer):
    """The command group, turning a database that cannot be opened into one line naming the setting to fix."""

    def __call__(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN204
        from api.cli_support import database_problem

        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:
            message = database_problem(exc)
            if message is None:
                raise
            _err(message)
            sys.exit(2)


app = _Overture(help="Overture: self-hosted AI outreach with a human review queue.", no_args_is_help=True,
                add_completion=False, pretty_exceptions_enable=False)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
workspaces_app = typer.Typer(help="Workspaces.", no_args_is_help=True)
app.add_typer(workspaces_app, name="workspaces")
campaigns_app = typer.Typer(help="Campaigns.", no_args_is_help=True)
app.add_typer(campaigns_app, name="campaigns")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"overture {version('overture')}")
        raise typer.Exit()


@app.callback()
def _main(_version_flag: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                      help="Print the version and exit")] = False) -> None:
    """Overture: self-hosted AI outreach with a human review queue."""


def _err(message: str) -> None:
    typer.echo(message, err=True)


def _run(coro):  # noqa: ANN001, ANN202 - a coroutine in, its result out
    """Run ``coro`` on a fresh loop and close that loop's engines before it ends."""
    from agent.db import dispose_engines

    async def main():  # noqa: ANN202
        try:
            return await coro
        finally:
            await dispose_engines()

    return asyncio.run(main())


@app.command()
def migrate() -> None:
    """Apply database migrations."""
    from agent.migrate import upgrade

    upgrade()
    _err("database is up to date")


# A voice platform keeps its connection between a call's turns (3-5 s apart); uvicorn's 5 s
# default closed it under the next turn's request now and then ("server disconnected").
KEEP_ALIVE_S = 75


@app.command()
def serve(host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
          demo: Annotated[bool, typer.Option("--demo", help="Seed a demo workspace and print an admin key")] = False,
          workers: Annotated[int, typer.Option(min=1, max=64, help="Server processes sharing the port (the live-call "
                                               "hook's capacity grows with them)")] = 1,
          access_log: Annotated[bool, typer.Option(help="Log every request")] = True) -> None:
    """Run the API and inbox (and, on the embedded defaults, the worker) in this process, or in
    ``--workers N`` processes: each runs its own in-process worker for the work its requests
    enqueue; the scheduler runs in one of them at a time (a lock under the data directory).
    SQLite serves them all in WAL mode, writers waiting their turn up to its busy timeout."""
    import uvicorn

    from agent.migrate import upgrade
    from api.app import create_app

    settings = get_settings()
    if settings.is_sqlite:
        upgrade()
    base = settings.public_url or f"http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}"
    if demo:
        from agent.db import session_scope
        from agent.demo import seed

        async def do_seed() -> str:
            async with session_scope() as session:
                _, raw = await seed(session)
            return raw

        key = _run(do_seed())
        typer.echo(f"Overture demo is starting.\n  Inbox:     {base}/inbox\n  API:       {base}/v1\n"
                   f"  Admin key: {key}\n(The key is shown once; a new one is issued on each --demo start.)")
    else:
        typer.echo(f"Overture is starting.\n  Inbox: {base}/inbox\n  API:   {base}/v1")
    where = settings.db_url.split("@")[-1] if not settings.is_sqlite else settings.db_url.split("///")[-1]
    _err(f"database: {where}; broker: {'in-process' if settings.embedded_broker else 'external'}; model: {settings.model}")
    from agent import logs

    if workers > 1:
        # Each process builds its app from the same environment (api.app.serve_app).
        uvicorn.run("api.app:serve_app", factory=True, workers=workers, host=host, port=port, log_level="info",
                    log_config=logs.configure(settings), access_log=access_log, timeout_keep_alive=KEEP_ALIVE_S)
        return
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", log_config=logs.configure(settings),
                access_log=access_log, timeout_keep_alive=KEEP_ALIVE_S)


@app.command("mail-receiver")
def mail_receiver(host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
                  port: Annotated[int, typer.Option(help="SMTP port to listen on")] = 2525) -> None:
    """Receive replies and bounces by SMTP (point the inbound domain's MX here)."""
    from agent.inbound.email import receiver
    from agent.migrate import upgrade

    if get_settings().is_sqlite:
        upgrade()
    _err(f"mail receiver listening on {host}:{port}")
    _run(receiver.serve_forever(host, port))


@app.command()
def worker(threads: Annotated[int | None, typer.Option(help="Worker threads")] = None) -> None:
    """Consume the queue on the broker named by OVERTURE_BROKER_URL (scaled deployments)."""
    from agent.queue import setup_broker, start_worker
    from api.app import TASK_MODULES

    settings = get_settings()
    if settings.embedded_broker:
        _err("OVERTURE_BROKER_URL is not set: the in-memory queue lives inside `overture serve`, "
             "which already runs its worker. Set a redis:// or amqp:// URL to run separate workers.")
        raise typer.Exit(2)
    broker = setup_broker(settings, TASK_MODULES)
    w = start_worker(broker, threads)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    _err(f"worker consuming with {w.worker_threads} threads; Ctrl-C to stop")
    stop.wait()
    w.stop()


@app.command("scheduler")
def scheduler_cmd(interval: Annotated[float | None, typer.Option(
        help="Seconds between ticks (default OVERTURE_RECONCILE_INTERVAL_S)")] = None) -> None:
    """Start due planning runs and re-enqueue lost work (run one next to `overture worker`)."""
    from agent.queue import setup_broker
    from api.app import SCHEDULED_DUTIES, TASK_MODULES
    from planner import scheduler

    settings = get_settings()
    if settings.embedded_broker:
        _err("OVERTURE_BROKER_URL is not set: `overture serve` already runs the scheduler on the embedded "
             "defaults. Set a redis:// or amqp:// URL to run it separately.")
        raise typer.Exit(2)
    setup_broker(settings, TASK_MODULES)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        _err(f"scheduler ticking every {interval or settings.reconcile_interval_s:g} s; Ctrl-C to stop")
        await scheduler.run_forever(interval, stop, duties=SCHEDULED_DUTIES)

    _run(main())


@app.command("plan")
def plan_cmd(campaign_id: Annotated[str, typer.Argument(help="The campaign to plan")],
             wait: Annotated[bool, typer.Option("--wait", help="Wait for the run, with a progress bar")] = False) -> None:
    """Start a planning run for the campaign's plannable contacts; prints the run as JSON."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from agent.errors import OvertureError
    from agent.queue import setup_broker
    from api.app import TASK_MODULES
    from planner import local

    settings = get_settings()
    open_database()
    setup_broker(settings, TASK_MODULES)
    in_process = settings.embedded_broker

    async def go() -> dict:
        started = await local.start(campaign_id, actor="cli", queue=not in_process)
        if not wait and not in_process:
            return (await local.state(started.workspace_id, started.run_id)).as_dict()
        with Progress(TextColumn("planning"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=_console()) as bar:
            task = bar.add_task("plan", total=len(started.enrollment_ids))
            if in_process:
                # No worker shares this process's in-memory queue: the run is planned here.
                await local.plan_here(started, lambda: bar.advance(task))
            else:
                await local.follow(started, lambda done: bar.update(task, completed=done))
        return (await local.state(started.workspace_id, started.run_id)).as_dict()

    try:
        result = _run(go())
    except OvertureError as exc:
        _err(f"error: {exc.code}: {exc.detail}")
        raise typer.Exit(1) from None
    typer.echo(json.dumps(result, indent=2))


@keys_app.command("create")
def keys_create(workspace: Annotated[str, typer.Option(help="Workspace name (must exist unless --create-workspace)")],
                role: Annotated[Role, typer.Option(help="admin, approver or viewer")],
                name: Annotated[str, typer.Option(help="Who holds the key; shown as the actor in review")] = "",
                create_workspace: Annotated[bool, typer.Option("--create-workspace",
                                                               help="Create the workspace if it is new")] = False) -> None:
    """Create an API key and print it once on stdout (nothing else goes to stdout)."""
    from agent.auth import create_key, get_or_create_workspace
    from agent.db import session_scope
    from agent.keys import service as keys

    async def make() -> str | None:
        async with session_scope() as session:
            if create_workspace:
                ws = await get_or_create_workspace(session, workspace)
            elif (ws := await keys.find_workspace(session, workspace)) is None:
                return None
            _, raw = await create_key(session, ws.id, role, name=name)
        return raw

    open_database(create=True)
    raw = _run(make())
    if raw is None:
        _err(f"error: no workspace named {workspace!r} (see `overture workspaces list`); "
             "add --create-workspace to create it")
        raise typer.Exit(2)
    typer.echo(raw)


@keys_app.command("list")
def keys_list(workspace: Annotated[str, typer.Option(help="Workspace name")],
              as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False) -> None:
    """The workspace's keys (never the secrets), revoked ones included."""
    from agent.db import session_scope
    from agent.keys import service as keys

    async def go() -> list | None:
        async with session_scope() as session:
            ws = await keys.find_workspace(session, workspace)
            return None if ws is None else await keys.list_keys(session, ws.id)

    open_database()
    items = _run(go())
    if items is None:
        _err(f"error: no workspace named {workspace!r} (see `overture workspaces list`)")
        raise typer.Exit(2)
    _print_rows([k.model_dump(mode="json") for k in items], ["id", "name", "role", "prefix", "created_at",
                                                             "revoked_at"], as_json)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (from `overture keys list`)")]) -> None:
    """Revoke a key: requests with it answer 401 at once."""
    from agent.db import session_scope
    from agent.errors import NotFound
    from agent.keys import service as keys

    async def go() -> str:
        async with session_scope() as session:
            workspace_id = await keys.key_workspace(session, key_id)
            if workspace_id is None:
                raise NotFound(f"no key {key_id}")
            return (await keys.revoke(session, workspace_id, key_id, "cli")).revoked_at.isoformat()

    open_database()
    try:
        when = _run(go())
    except NotFound as exc:
        _err(f"error: {exc.detail} (see `overture keys list`)")
        raise typer.Exit(2) from None
    _err(f"revoked {key_id} at {when}")


@workspaces_app.command("list")
def workspaces_list(as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False) -> None:
    """Every workspace with its number of live keys."""
    from agent.db import session_scope
    from agent.keys import service as keys

    async def go() -> list:
        async with session_scope() as session:
            return await keys.list_workspaces(session)

    open_database()
    _print_rows([w.model_dump(mode="json") for w in _run(go())], ["id", "name", "keys", "created_at"], as_json)


@campaigns_app.command("list")
def campaigns_list(workspace: Annotated[str | None, typer.Option(help="Only this workspace")] = None,
                   as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False) -> None:
    """Campaigns (archived ones left out), newest first, with their workspace."""
    from agent.campaigns import service as campaigns
    from agent.db import session_scope
    from agent.keys import service as keys

    async def go() -> list[dict] | None:
        rows: list[dict] = []
        async with session_scope() as session:
            spaces = await keys.list_workspaces(session)
            if workspace is not None:
                spaces = [w for w in spaces if w.name == workspace]
                if not spaces:
                    return None
            for ws in spaces:
                items, _ = await campaigns.list_campaigns(session, ws.id, statuses=None, q=None, sort="-created_at",
                                                          cursor=None, limit=200)
                rows += [{"id": c.id, "workspace": ws.name, "name": c.name, "status": c.status,
                          "contacts": c.contacts_count} for c in items]
        return rows

    open_database()
    rows = _run(go())
    if rows is None:
        _err(f"error: no workspace named {workspace!r} (see `overture workspaces list`)")
        raise typer.Exit(2)
    _print_rows(rows, ["id", "workspace", "name", "status", "contacts"], as_json)


def _print_rows(rows: list[dict], columns: list[str], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row[c]) for c in columns))
    Console(width=200).print(table)


@app.command("import")
def import_csv(campaign_id: Annotated[str, typer.Argument(help="The campaign to add contacts to")],
               file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
               mapping: Annotated[str | None, typer.Option(help='JSON column -> field, e.g. {"Mobile": "phone"}')] = None) -> None:
    """Import a CSV into a campaign with a progress bar; prints the result as JSON."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from agent.campaigns.repository import get_any_campaign
    from agent.contacts import imports
    from agent.contacts import repository as contact_repo
    from agent.db import session_scope
    from agent.errors import OvertureError

    open_database()
    parsed_mapping = json.loads(mapping) if mapping else None
    data = file.read_bytes()

    async def go() -> dict:
        async with session_scope() as session:
            campaign = await get_any_campaign(session, campaign_id)
            job = await imports.create_job(session, campaign, data, filename=file.name, mapping=parsed_mapping,
                                           actor="cli", queue=False)
            job_id, total = job.id, job.total
        with Progress(TextColumn("importing {task.fields[name]}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=_console()) as bar:
            task = bar.add_task("import", total=total, name=file.name)

            async def on_progress(done: int, _total: int) -> None:
                bar.update(task, completed=done)

            await imports.run_job(job_id, on_progress)
        async with session_scope() as session:
            job = await contact_repo.get_import_job(session, campaign.workspace_id, job_id)
            return {"job_id": job.id, "status": job.status, "total": job.total, "added": job.added,
                    "updated": job.updated, "duplicates": job.duplicates, "errors": job.errors,
                    "error_code": job.error_code}

    try:
        result = _run(go())
    except OvertureError as exc:
        _err(f"error: {exc.code}: {exc.detail}")
        for e in exc.errors or []:
            _err(f"  {e}")
        raise typer.Exit(1) from None
    typer.echo(json.dumps(result, indent=2))
    if result["status"] != "succeeded":
        raise typer.Exit(1)


def _console():  # noqa: ANN202
    from rich.console import Console

    return Console(file=sys.stderr)
