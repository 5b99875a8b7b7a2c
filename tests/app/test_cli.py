"""The ``dropkit`` CLI: demo, migrate, worker and jobs, on SQLite and PostgreSQL.

Commands run in-process through typer's CliRunner (in a worker thread when the test itself is
async, since each command starts its own event loop), and ``dropkit worker`` as a real
subprocess because it listens for signals.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import pytest
from starlette.requests import Request
from starlette.responses import Response
from typer.testing import CliRunner, Result

from dropkit import Dropkit
from dropkit.app import demo, demo_receiver
from dropkit.app.cli import app
from dropkit.app.settings import Settings, load_object, load_settings
from dropkit.commerce import OutOfStockError
from dropkit.core.database import Database
from dropkit.core.errors import ConfigurationError, WebhookVerificationError
from dropkit.core.events import Event, StoredEvent
from dropkit.core.jobs import JobContext, JobRegistry, Jobs, JobState, LedgerOnlyDispatcher

DROPKIT = Path(sys.executable).parent / "dropkit"

registry = JobRegistry()


@registry.job(name="tests.always_fails", max_attempts=1)
async def always_fails(ctx: JobContext, sku: str) -> None:
    raise RuntimeError(f"supplier API is down for {sku}")


@registry.job(name="tests.later")
async def later(ctx: JobContext) -> None:
    return None


# Writes jobs to the ledger only, so the CLI under test is the one to act on them.
NoDispatch = LedgerOnlyDispatcher


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


async def ainvoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return await anyio.to_thread.run_sync(lambda: invoke(*args, env=env))


def assert_clean_error(result: Result, message: str) -> None:
    assert result.exit_code == 1, result.output
    assert message in result.stderr
    assert result.stderr.splitlines()[-1].startswith("error: ")
    assert "Traceback" not in result.output


async def dead_job(jobs: Jobs, sku: str) -> str:
    job = await jobs.enqueue(always_fails, {"sku": sku})
    claimed = await jobs.run_claimed(job.id)
    assert claimed is not None
    assert claimed.state is JobState.DEAD
    return job.id


# -- demo ---------------------------------------------------------------------------------------


def test_demo_runs_end_to_end_and_cleans_up(tmp_path: Path) -> None:
    result = invoke("demo", "--timeout", "20")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for expected in (
        "job succeeded",
        "subscriber ran: New: Aurora Desk Lamp, only 31.00 USD!",
        "delivered and verified",
        "demo.prepare_launch",
        "demo.launch_prepared",
        "signature verified",
    ):
        assert expected in out
    assert re.search(r"│ signature verified +│ yes +│", out)
    assert "Kept the demo data" not in out


def test_demo_runs_the_store(tmp_path: Path) -> None:
    result = invoke("demo", "--data-dir", str(tmp_path), "--timeout", "20")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for expected in (
        "store seeded: 2 vendors, 1 supplier, 4 products, 9 variants, 6 images",
        "checkout placed orders #1001, #1002, #1003 (manual gateway)",
        "order #1001 paid, split into 3 fulfilments, one shipped: partially_shipped",
        "Aurora Lighting (12% commission)",
        "Home > Lighting, Home > Desks",
        "LAMP-AURORA-01-WW",
        "was 39.00 USD",
        "+38 supplier",  # 40 offered, 2 routed to the supplier by order #1001
        "2 x PEND-HALO-L",
        "Lumen Supply",
        "cost 41.50 USD",
        "code LAUNCH10",
        "271.38 USD",  # 274.00 - 10% + 7.25% tax on the discounted lines + 6.90 shipping
        "UPS",
        "returned order",
        "order.placed of #1001",
        "signature verified: yes",
    ):
        assert expected in out, expected
    assert re.search(r"│ +│ 2 x PEND-HALO-L +│ supplier +│ +198.00 USD │ +21.38 USD │", out)
    assert re.search(r"│ #1003 +│ 2 x LAMP-AURORA-01-CW +│ own stock +│", out)
    assert re.search(r"│ +│ pending_payment +│ subtotal +│ +449.00 USD │", out)
    # The generated images are on disk, small, and were served from /media.
    images = sorted((tmp_path / "media").glob("*.png"))
    assert len(images) == 6
    assert all(0 < image.stat().st_size < 64_000 for image in images)
    assert images[0].read_bytes().startswith(b"\x89PNG")


def test_demo_keeps_a_given_data_dir(tmp_path: Path) -> None:
    result = invoke("demo", "--data-dir", str(tmp_path / "demo"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "demo" / "dropkit.db").exists()


def test_demo_fails_cleanly_when_checkout_fails(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async def sold_out(kit: Dropkit, store: object) -> object:
        raise OutOfStockError("PEND-HALO-L", 2, 1)

    monkeypatch.setattr(demo, "place_orders", sold_out)
    result = invoke("demo", "--data-dir", str(tmp_path))
    assert_clean_error(result, "PEND-HALO-L")


def test_demo_names_the_store_step_that_timed_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async def stalled(url: str) -> int:
        await anyio.sleep(60)
        return 0

    monkeypatch.setattr(demo, "_fetch_image", stalled)
    result = invoke("demo", "--data-dir", str(tmp_path), "--timeout", "1.5")
    assert_clean_error(result, "timed out after 1.5 s waiting for a product image from /media")


def test_demo_fails_cleanly_when_the_receiver_rejects_the_signature(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def reject(secret: str, headers: object, body: bytes) -> None:
        raise WebhookVerificationError("no webhook signature matches")

    monkeypatch.setattr(demo_receiver, "verify", reject)
    result = invoke("demo", "--data-dir", str(tmp_path))
    assert_clean_error(result, "webhook delivery failed: receiver answered HTTP 400")


def test_demo_times_out_cleanly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    async def unavailable(self: demo.Receiver, request: Request) -> Response:
        return Response(status_code=503)  # retried later: the delivery stays pending

    monkeypatch.setattr(demo.Receiver, "handle", unavailable)
    result = invoke("demo", "--data-dir", str(tmp_path), "--timeout", "1.5")
    assert_clean_error(result, "timed out after 1.5 s waiting for the webhook delivery")


# -- migrate ------------------------------------------------------------------------------------


async def test_migrate_applies_then_reports_up_to_date(database_url: str) -> None:
    first = await ainvoke("migrate", "--database-url", database_url)
    assert first.exit_code == 0, first.output
    assert "job ledger" in first.stdout
    assert "outbound webhooks" in first.stdout
    assert "core v3" in first.stdout

    again = await ainvoke("migrate", env={"DROPKIT_DATABASE_URL": database_url})
    assert again.exit_code == 0, again.output
    assert "Nothing to apply" in again.stdout
    assert "core v3" in again.stdout


def test_migrate_defaults_to_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    result = invoke("migrate", env={"DROPKIT_DATA_DIR": str(tmp_path / "data")})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "dropkit.db").exists()


def test_migrate_bad_url_is_a_clean_error() -> None:
    assert_clean_error(
        invoke("migrate", "--database-url", "mysql://db/shop"), "unsupported database URL"
    )


def test_unreachable_postgres_is_a_clean_error() -> None:
    # A subprocess: piccolo warns while connecting, and pytest turns warnings into errors.
    result = subprocess.run(
        [str(DROPKIT), "migrate", "--database-url", "postgresql://nobody@127.0.0.1:1/shop"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert "error: cannot connect to PostgreSQL at postgresql://127.0.0.1:1/shop" in result.stderr
    assert result.stderr.count("\n") == 1  # just the error line, no driver warnings


# -- jobs ---------------------------------------------------------------------------------------


async def test_jobs_list_show_retry_cancel(db: Database) -> None:
    url = db.url
    jobs = Jobs(db, registry, dispatcher=NoDispatch())
    dead_id = await dead_job(jobs, "LAMP-1")
    waiting = await jobs.enqueue(later, defer_by=3600)

    listed = await ainvoke("jobs", "list", "--state", "dead", "--database-url", url)
    assert listed.exit_code == 0, listed.output
    assert dead_id in listed.stdout
    assert "tests.always_fails" in listed.stdout
    assert "RuntimeError: supplier API is down for LAMP-1" in listed.stdout
    assert waiting.id not in listed.stdout
    assert "dead: 1" in listed.stdout

    by_function = await ainvoke(
        "jobs", "list", "--function", "tests.later", env={"DROPKIT_DATABASE_URL": url}
    )
    assert waiting.id in by_function.stdout
    assert dead_id not in by_function.stdout

    shown = await ainvoke("jobs", "show", dead_id, "--database-url", url)
    assert shown.exit_code == 0, shown.output
    assert "1 of 1" in shown.stdout
    assert '{"sku": "LAMP-1"}' in shown.stdout
    assert "last error:" in shown.stdout
    assert "Traceback" in shown.stdout  # the job's own traceback, printed on purpose

    retried = await ainvoke("jobs", "retry", dead_id, "--database-url", url)
    assert retried.exit_code == 0, retried.output
    assert f"retried {dead_id}" in retried.stdout
    assert (await jobs.get(dead_id)).state is JobState.QUEUED

    cancelled = await ainvoke("jobs", "cancel", waiting.id, "--database-url", url)
    assert cancelled.exit_code == 0, cancelled.output
    assert "cancelled" in cancelled.stdout
    assert (await jobs.get(waiting.id)).state is JobState.CANCELLED

    assert_clean_error(
        await ainvoke("jobs", "cancel", waiting.id, "--database-url", url),
        "is cancelled and cannot be cancelled",
    )


async def test_jobs_retry_all_dead(db: Database) -> None:
    jobs = Jobs(db, registry, dispatcher=NoDispatch())
    ids = [await dead_job(jobs, f"SKU-{n}") for n in range(3)]
    result = await ainvoke("jobs", "retry", "--all-dead", "--database-url", db.url)
    assert result.exit_code == 0, result.output
    for job_id in ids:
        assert f"retried {job_id}" in result.stdout
        assert (await jobs.get(job_id)).state is JobState.QUEUED
    none_left = await ainvoke("jobs", "retry", "--all-dead", "--database-url", db.url)
    assert none_left.exit_code == 0
    assert "No dead jobs." in none_left.stdout


async def test_jobs_bad_input(db: Database) -> None:
    url = db.url
    jobs = Jobs(db, registry, dispatcher=NoDispatch())
    queued = await jobs.enqueue(later, defer_by=3600)

    assert_clean_error(
        await ainvoke("jobs", "show", "no-such-job", "--database-url", url), "no job 'no-such-job'"
    )
    # One bad id does not stop the others, but the exit status says something failed.
    dead_id = await dead_job(jobs, "X")
    mixed = await ainvoke("jobs", "retry", queued.id, dead_id, "--database-url", url)
    assert mixed.exit_code == 1
    assert "only failed, dead or cancelled jobs can be retried" in mixed.stderr
    assert f"retried {dead_id}" in mixed.stdout
    assert_clean_error(
        await ainvoke("jobs", "retry", "--database-url", url), "give job ids or --all-dead"
    )


def test_jobs_commands_never_create_a_database(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    result = invoke("jobs", "list", "--database-url", f"sqlite:///{missing}")
    assert_clean_error(result, "run 'dropkit migrate' first")
    assert not missing.exists()


async def test_jobs_on_an_unmigrated_database_is_a_clean_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    async with Database.sqlite(path) as database:
        await database.execute_ddl("CREATE TABLE unrelated (id INTEGER)")
    result = await ainvoke("jobs", "list", "--database-url", f"sqlite:///{path}")
    assert_clean_error(result, "has no dropkit schema")


def test_bad_setting_in_the_environment_is_a_clean_error() -> None:
    result = invoke("jobs", "list", env={"DROPKIT_LOG_JSON": "sometimes"})
    assert_clean_error(result, "DROPKIT_LOG_JSON")


# -- worker -------------------------------------------------------------------------------------

TASKS = """
from dropkit.core.jobs import JobContext, JobRegistry

registry = JobRegistry()


@registry.job(name="tests.add")
async def add(ctx: JobContext, a: int, b: int) -> int:
    return a + b
"""


@registry.job(name="tests.add")
async def add(ctx: JobContext, a: int, b: int) -> int:
    raise AssertionError("runs in the worker process, from shop_tasks.py")


class Restocked(Event):
    type = "tests.restocked"


def run_worker_process(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (cwd / "shop_tasks.py").write_text(textwrap.dedent(TASKS))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DROPKIT_")}
    return subprocess.run(
        [str(DROPKIT), "worker", "--burst", "--jobs", "shop_tasks:registry", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_worker_runs_user_and_builtin_jobs_then_exits(
    database_url: str, tmp_path: Path
) -> None:
    kit = Dropkit(database_url=database_url, jobs=registry, dispatcher=NoDispatch())
    async with kit:
        job = await kit.jobs.enqueue(add, {"a": 2, "b": 3})
        event = await kit.events.publish(Restocked())

    done = await anyio.to_thread.run_sync(
        lambda: run_worker_process(tmp_path, "--database-url", database_url)
    )
    assert done.returncode == 0, done.stderr

    async with kit:
        assert (await kit.jobs.get(job.id)).result == 5
        assert (await kit.events.get(event.id)).dispatched_at is not None
    assert '"logger": "dropkit.worker"' in done.stderr  # structured logs by default


async def test_worker_with_redis(db: Database, redis_url: str, tmp_path: Path) -> None:
    from dropkit.core.jobs.arq_dispatch import ArqDispatcher

    async with Jobs(db, registry, dispatcher=ArqDispatcher(redis_url)) as jobs:
        job = await jobs.enqueue(add, {"a": 20, "b": 22})
    done = await anyio.to_thread.run_sync(
        lambda: run_worker_process(
            tmp_path, "--database-url", db.url, "--redis-url", redis_url, "--concurrency", "2"
        )
    )
    assert done.returncode == 0, done.stderr
    assert (await Jobs(db, registry).get(job.id)).result == 42


def test_worker_in_process(tmp_path: Path) -> None:
    """The same as above without a subprocess (signals need the main thread: a sync test)."""
    url = f"sqlite:///{tmp_path / 'w.db'}"

    async def enqueue() -> tuple[str, str]:
        async with Dropkit(database_url=url, jobs=registry, dispatcher=NoDispatch()) as kit:
            job = await kit.jobs.enqueue(later)
            event = await kit.events.publish(Restocked())
        return job.id, event.id

    job_id, event_id = anyio.run(enqueue)
    result = invoke("worker", "--burst", "--database-url", url, "--jobs", f"{__name__}:registry")
    assert result.exit_code == 0, result.output

    async def check() -> None:
        async with Dropkit(database_url=url, jobs=registry, dispatcher=NoDispatch()) as kit:
            assert (await kit.jobs.get(job_id)).state is JobState.SUCCEEDED
            assert (await kit.events.get(event_id)).dispatched_at is not None

    anyio.run(check)


SUBSCRIBER_RUNS: list[str] = []


async def on_restocked(event: StoredEvent) -> None:
    SUBSCRIBER_RUNS.append(event.id)


def app_setup(kit: Dropkit) -> None:
    """What an application passes as ``--app``: wiring shared by the app and its workers."""
    kit.events.subscribe(Restocked, on_restocked, name="tests.on_restocked")


def test_worker_runs_subscribers_registered_by_app_setup(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"

    async def publish() -> str:
        async with Dropkit(database_url=url, dispatcher=NoDispatch()) as kit:
            return (await kit.events.publish(Restocked())).id

    event_id = anyio.run(publish)
    result = invoke("worker", "--burst", "--database-url", url, "--app", f"{__name__}:app_setup")
    assert result.exit_code == 0, result.output
    assert event_id in SUBSCRIBER_RUNS
    assert_clean_error(
        invoke("worker", "--burst", "--database-url", url, "--app", f"{__name__}:SUBSCRIBER_RUNS"),
        "not callable",
    )


def test_worker_with_a_bad_import_path_is_a_clean_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    assert_clean_error(
        invoke("worker", "--burst", "--database-url", url, "--jobs", "no_such_module:jobs"),
        "no module named 'no_such_module'",
    )
    assert_clean_error(
        invoke("worker", "--burst", "--database-url", url, "--jobs", "dropkit:Dropkit"),
        "is a type, not a JobRegistry",
    )


# -- settings -----------------------------------------------------------------------------------


def test_settings_come_from_the_environment_and_flags_win(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DROPKIT_JOBS", "shop.tasks:registry, shop.mail:jobs")
    monkeypatch.setenv("DROPKIT_REDIS_URL", "")
    monkeypatch.setenv("DROPKIT_CONCURRENCY", "3")
    monkeypatch.setenv("DROPKIT_LOG_JSON", "false")
    settings = load_settings(concurrency=5, database_url=None)
    assert settings.jobs == ["shop.tasks:registry", "shop.mail:jobs"]
    assert settings.redis_url is None
    assert settings.concurrency == 5
    assert settings.log_json is False
    assert settings.resolved_database_url.endswith(".dropkit/dropkit.db")
    assert Settings(database_url="postgresql://h/db").resolved_database_url == "postgresql://h/db"


def test_bad_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DROPKIT_CONCURRENCY", "0")
    with pytest.raises(ConfigurationError, match="DROPKIT_CONCURRENCY"):
        load_settings()


def test_load_object() -> None:
    assert load_object("dropkit.core.jobs:JobRegistry") is JobRegistry
    assert load_object("dropkit.core.jobs:JobState.DEAD") is JobState.DEAD
    for path, message in [
        ("dropkit.core.jobs", "must look like"),
        ("dropkit.nope:x", "no module named 'dropkit.nope'"),
        ("dropkit.core.jobs:Nope", "has no attribute 'Nope'"),
    ]:
        with pytest.raises(ConfigurationError, match=message):
            load_object(path)
