"""The ``dropkit`` command line: demo, migrate, worker, job inspection and videos.

Every command reads :class:`~dropkit.app.settings.Settings` once (flags override ``DROPKIT_*``
variables) and passes plain values to the library. Errors dropkit raises on purpose
(:class:`~dropkit.core.errors.DropkitError`) print one red line and exit with status 1; a
traceback means a bug.
"""

from __future__ import annotations

import inspect
import json
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, TypeVar
from urllib.parse import unquote, urlsplit

import anyio
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from dropkit.app.cli_video import video_app
from dropkit.app.settings import Settings, load_object, load_settings
from dropkit.core.database import Database
from dropkit.core.errors import ConfigurationError, DropkitError, StorageError
from dropkit.core.jobs import (
    Dispatcher,
    Job,
    JobRegistry,
    Jobs,
    JobState,
    LedgerOnlyDispatcher,
)
from dropkit.core.logging import configure_logging

__all__ = ["app", "main"]

T = TypeVar("T")

app = typer.Typer(
    name="dropkit",
    help="Run a dropshipping business from Python: demo, database, workers, jobs, videos.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
jobs_app = typer.Typer(help="Inspect, replay and cancel durable jobs.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
app.add_typer(video_app, name="video")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)  # one line per error

STATE_STYLES = {
    JobState.QUEUED: "cyan",
    JobState.RUNNING: "blue",
    JobState.SUCCEEDED: "green",
    JobState.FAILED: "red",
    JobState.DEAD: "bold red",
    JobState.CANCELLED: "yellow",
}

DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="sqlite:///path.db or postgresql://... \\[env: DROPKIT_DATABASE_URL; "
        "default: SQLite in DROPKIT_DATA_DIR]",
        show_default=False,
    ),
]
RedisUrlOption = Annotated[
    str | None,
    typer.Option("--redis-url", help="redis://... \\[env: DROPKIT_REDIS_URL]", show_default=False),
]


# -- plumbing -----------------------------------------------------------------------------------


def _expected(exc: BaseException) -> DropkitError | None:
    """The DropkitError behind ``exc``, looking through single-error task-group wrappers."""
    if isinstance(exc, DropkitError):
        return exc
    if isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        return _expected(exc.exceptions[0])
    return None


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` in red on stderr; the caller raises the returned Exit(1)."""
    err.print(Text.assemble(("error: ", "bold red"), (message, "red")))
    return typer.Exit(1)


def run(fn: Callable[[], Awaitable[T]]) -> T:
    """Run an async command body; expected errors become one red line and exit status 1."""
    try:
        return anyio.run(fn)
    except Exception as exc:
        expected = _expected(exc)
        if expected is None:
            raise
        raise fail(str(expected)) from None


def settings_from(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except ConfigurationError as exc:
        raise fail(str(exc)) from None


def setup_logging(settings: Settings, default_level: str, *, default_json: bool = False) -> None:
    """Workers log JSON at INFO by default (for log pipelines); one-shot commands, read by a
    person, log only warnings, as text."""
    json_lines = default_json if settings.log_json is None else settings.log_json
    try:
        configure_logging(settings.log_level or default_level, json=json_lines)
    except ConfigurationError as exc:
        raise fail(str(exc)) from None


def _sqlite_file(url: str) -> Path | None:
    if urlsplit(url).scheme.split("+")[0] != "sqlite":
        return None
    rest = url.split("://", 1)[1]
    return Path(unquote(rest[1:])) if rest.startswith("/") else None


def redact(url: str) -> str:
    """``url`` without its password, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


@asynccontextmanager
async def open_existing(url: str) -> AsyncIterator[Database]:
    """Open a database that ``dropkit migrate`` (or an app) already set up; never create one."""
    path = _sqlite_file(url)
    if path is not None and not path.exists():
        raise ConfigurationError(f"no database at {path}; run 'dropkit migrate' first")
    async with Database(url) as database:
        try:
            await database.fetchval(
                "SELECT MAX(version) FROM dropkit_schema_migrations WHERE component = {}",
                "core",
            )
        except StorageError:
            raise ConfigurationError(
                "the database has no dropkit schema; run 'dropkit migrate' first"
            ) from None
        yield database


@asynccontextmanager
async def operator_jobs(settings: Settings) -> AsyncIterator[Jobs]:
    """The job service for inspection and replay; with Redis, replays wake workers at once."""
    async with open_existing(settings.resolved_database_url) as database:
        dispatcher: Dispatcher = LedgerOnlyDispatcher()
        if settings.redis_url:
            from dropkit.core.jobs.arq_dispatch import ArqDispatcher

            dispatcher = ArqDispatcher(settings.redis_url)
        async with Jobs(database, JobRegistry(), dispatcher=dispatcher) as jobs:
            yield jobs


# -- demo ---------------------------------------------------------------------------------------


@app.command()
def demo(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Where to keep the demo's SQLite database (default: a fresh temporary "
            "directory, deleted afterwards).",
            show_default=False,
        ),
    ] = None,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the temporary directory afterwards.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 60.0,
) -> None:
    """Show dropkit end to end, offline, in a few seconds.

    A durable job publishes a domain event that reaches a subscriber and, signed, a webhook
    receiver on loopback; then a store is seeded (two vendors, a supplier, products with
    generated images) and orders go through checkout to fulfilment; last, the launch: a product
    video rendered offline, a competitor price check and an email campaign linking the video.
    SQLite and in-process jobs: no keys, no services.
    """
    from dropkit.app.demo import render, run_demo

    setup_logging(settings_from(), "WARNING")
    temporary = data_dir is None
    directory = Path(tempfile.mkdtemp(prefix="dropkit-demo-")) if data_dir is None else data_dir
    try:
        report = run(lambda: run_demo(directory, console=out, timeout=timeout))
        render(report, out)
    finally:
        if temporary and not keep:
            shutil.rmtree(directory, ignore_errors=True)
        elif temporary:
            out.print(f"Kept the demo data in [cyan]{directory}[/]")


# -- migrate ------------------------------------------------------------------------------------


@app.command()
def migrate(database_url: DatabaseUrlOption = None) -> None:
    """Create or upgrade the database schema in place, then print the applied versions."""
    from dropkit import Dropkit
    from dropkit.core.migrations import Migrator

    settings = settings_from(database_url=database_url)
    setup_logging(settings, "WARNING")
    url = settings.resolved_database_url

    async def body() -> None:
        kit = Dropkit(database_url=url, data_dir=settings.data_dir)
        async with kit.database:
            applied = await kit.migrate()
            versions = await Migrator(kit.database, ()).applied()
        if applied:
            table = Table("component", "version", "migration", title="Applied migrations")
            for migration in applied:
                table.add_row(migration.component, str(migration.version), migration.name)
            out.print(table)
        else:
            out.print("Nothing to apply: the schema is up to date.")
        schema = ", ".join(f"{name} v{version}" for name, version in sorted(versions.items()))
        out.print(Text.assemble("Schema of ", (redact(url), "cyan"), f": {schema}"))

    run(body)


# -- worker -------------------------------------------------------------------------------------


def load_registries(paths: Sequence[str]) -> JobRegistry:
    """Merge the JobRegistry objects named by ``pkg.module:attr`` paths into one."""
    if str(Path.cwd()) not in sys.path and "" not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # like uvicorn: the project's modules import
    registry = JobRegistry()
    for path in paths:
        loaded = load_object(path)
        if not isinstance(loaded, JobRegistry):
            raise ConfigurationError(f"{path!r} is a {type(loaded).__name__}, not a JobRegistry")
        registry.include(loaded)
    return registry


@app.command()
def worker(
    database_url: DatabaseUrlOption = None,
    redis_url: RedisUrlOption = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency", min=1, help="Jobs run at once \\[env: DROPKIT_CONCURRENCY; default 8]"
        ),
    ] = None,
    jobs: Annotated[
        list[str] | None,
        typer.Option(
            "--jobs",
            help="Import path of a JobRegistry, e.g. myshop.tasks:registry; repeatable "
            "\\[env: DROPKIT_JOBS, comma-separated]",
            show_default=False,
        ),
    ] = None,
    app_hooks: Annotated[
        list[str] | None,
        typer.Option(
            "--app",
            help="Import path of a setup function called with the Dropkit before it starts, "
            "e.g. myshop.app:setup (registers subscribers, jobs, schedules); repeatable",
            show_default=False,
        ),
    ] = None,
    burst: Annotated[
        bool, typer.Option("--burst", help="Exit once no job is due instead of waiting.")
    ] = False,
) -> None:
    """Run durable jobs until stopped (Ctrl-C hands running jobs back).

    With a Redis URL the worker is rung through ARQ; without, it polls the database. The schema
    is migrated first. Give it the same --app setup as your application, so that event
    subscribers and jobs registered there run here too.
    """
    settings = settings_from(
        database_url=database_url, redis_url=redis_url, concurrency=concurrency, jobs=jobs
    )
    setup_logging(settings, "INFO", default_json=True)

    async def body() -> None:
        from dropkit import Dropkit
        from dropkit.core.jobs.worker import run_worker

        # A Dropkit, not bare Jobs: its built-in jobs (event dispatch, webhook delivery) must
        # run here too, and job functions reach the kit through Dropkit.of(ctx).
        kit = Dropkit(
            database_url=settings.resolved_database_url,
            data_dir=settings.data_dir,
            redis_url=settings.redis_url,
            run_jobs=True,
            jobs=load_registries(settings.jobs),
            concurrency=settings.concurrency,
            allow_private_webhooks=settings.allow_private_webhooks,
        )
        for path in app_hooks or ():
            hook = load_object(path)
            if not callable(hook):
                raise ConfigurationError(f"{path} is not callable")
            outcome = hook(kit)
            if inspect.isawaitable(outcome):
                await outcome
        async with kit:  # opens the database and migrates it
            await run_worker(kit.jobs, burst=burst)

    run(body)


# -- jobs ---------------------------------------------------------------------------------------


def wide_console() -> Console:
    """Piped or captured output is 80 columns by default: too narrow for whole job ids."""
    return out if out.is_terminal else Console(highlight=False, width=max(out.width, 160))


def _state(state: JobState) -> Text:
    return Text(state.value, style=STATE_STYLES[state])


def _error_summary(text: str | None, limit: int = 60) -> str:
    if not text:
        return ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    last = lines[-1].strip() if lines else ""  # a traceback's last line names the error
    return last if len(last) <= limit else last[: limit - 1] + "…"


def _when(job: Job) -> str:
    return job.updated_at.strftime("%Y-%m-%d %H:%M:%S")


@jobs_app.command("list")
def jobs_list(
    state: Annotated[
        list[JobState] | None,
        typer.Option("--state", help="Only jobs in this state; repeatable.", show_default=False),
    ] = None,
    function: Annotated[
        str | None, typer.Option("--function", help="Only jobs of this function.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    database_url: DatabaseUrlOption = None,
) -> None:
    """List jobs, newest first, with their state, attempts and last error."""
    settings = settings_from(database_url=database_url)
    setup_logging(settings, "WARNING")

    async def body() -> None:
        async with operator_jobs(settings) as jobs:
            found = await jobs.list(states=state or (), function=function, limit=limit)
            counts = await jobs.counts()
        table = Table(title=f"Jobs ({len(found)} shown)", title_justify="left")
        table.add_column("id", no_wrap=True, min_width=32)
        table.add_column("function", overflow="fold")
        table.add_column("state")
        table.add_column("attempts", justify="right")
        table.add_column("updated (UTC)", no_wrap=True)
        table.add_column("last error", overflow="fold")
        for job in found:
            table.add_row(
                job.id,
                job.function,
                _state(job.state),
                f"{job.attempts}/{job.max_attempts}",
                _when(job),
                _error_summary(job.last_error),
            )
        wide_console().print(table)
        summary = ", ".join(f"{name}: {n}" for name, n in sorted(counts.items()) if n)
        out.print(f"All jobs by state: {summary or 'none'}")

    run(body)


@jobs_app.command("show")
def jobs_show(
    job_id: Annotated[str, typer.Argument(help="The job's id.")],
    database_url: DatabaseUrlOption = None,
) -> None:
    """Show one job in full, including its arguments, result and last error."""
    settings = settings_from(database_url=database_url)
    setup_logging(settings, "WARNING")

    async def body() -> None:
        async with operator_jobs(settings) as jobs:
            job = await jobs.get(job_id)
        table = Table(show_header=False, title=f"Job {job.id}", title_justify="left")
        table.add_column("field", style="bold", no_wrap=True)
        table.add_column("value", overflow="fold")
        rows: list[tuple[str, str | Text]] = [
            ("function", job.function),
            ("state", _state(job.state)),
            ("queue", job.queue),
            ("attempts", f"{job.attempts} of {job.max_attempts}"),
            ("priority", str(job.priority)),
            ("arguments", json.dumps(job.args)),
            ("result", json.dumps(job.result)),
            ("idempotency key", job.idempotency_key or ""),
            ("worker", job.worker_id or ""),
            ("run at", job.run_at.isoformat()),
            ("created", job.created_at.isoformat()),
            ("started", job.started_at.isoformat() if job.started_at else ""),
            ("finished", job.finished_at.isoformat() if job.finished_at else ""),
            ("progress", json.dumps(job.progress) if job.progress is not None else ""),
        ]
        if job.cancel_requested:
            rows.append(("cancel requested", "yes"))
        for name, value in rows:
            table.add_row(name, value)
        out.print(table)
        if job.last_error:
            out.print(Text("last error:", style="bold red"))
            out.print(Text(job.last_error.rstrip()))

    run(body)


@jobs_app.command("retry")
def jobs_retry(
    job_ids: Annotated[
        list[str] | None, typer.Argument(help="Ids of failed, dead or cancelled jobs.")
    ] = None,
    all_dead: Annotated[bool, typer.Option("--all-dead", help="Replay every dead job.")] = False,
    database_url: DatabaseUrlOption = None,
    redis_url: RedisUrlOption = None,
) -> None:
    """Replay jobs with a fresh attempt budget: they go back to queued."""
    if bool(job_ids) == all_dead:
        raise fail("give job ids or --all-dead (not both)")
    settings = settings_from(database_url=database_url, redis_url=redis_url)
    setup_logging(settings, "WARNING")

    async def body() -> int:
        failures = 0
        async with operator_jobs(settings) as jobs:
            ids = list(job_ids or ())
            if all_dead:  # collect first: each retry takes a job out of the dead set
                while page := await jobs.list(states=[JobState.DEAD], limit=500, offset=len(ids)):
                    ids += [job.id for job in page]
                if not ids:
                    out.print("No dead jobs.")
            for job_id in ids:
                failures += await _retry_one(jobs, job_id)
        return failures

    if run(body):
        raise typer.Exit(1)


async def _retry_one(jobs: Jobs, job_id: str) -> int:
    try:
        job = await jobs.retry(job_id)
    except DropkitError as exc:
        fail(str(exc))
        return 1
    out.print(
        Text.assemble("retried ", (job.id, "bold"), " (", job.function, "): ", _state(job.state))
    )
    return 0


@jobs_app.command("cancel")
def jobs_cancel(
    job_id: Annotated[str, typer.Argument(help="The job's id.")],
    database_url: DatabaseUrlOption = None,
) -> None:
    """Cancel a queued job, or ask a running one to stop at its next await."""
    settings = settings_from(database_url=database_url)
    setup_logging(settings, "WARNING")

    async def body() -> Job:
        async with operator_jobs(settings) as jobs:
            return await jobs.cancel(job_id)

    job = run(body)
    if job.state is JobState.RUNNING:
        out.print(Text.assemble("cancel requested for running job ", (job.id, "bold")))
    else:
        out.print(Text.assemble("cancelled ", (job.id, "bold"), ": ", _state(job.state)))


def main() -> None:
    """Entry point of the ``dropkit`` console script."""
    app()
