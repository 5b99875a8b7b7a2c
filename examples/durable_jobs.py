"""Durable jobs, events and a subscriber on the embedded defaults (SQLite, in-process workers).

Run it: ``python examples/durable_jobs.py``. It enqueues an idempotent job, retries a flaky one,
publishes a domain event from inside a job, and prints what happened.
"""

from __future__ import annotations

import tempfile

import anyio

from dropkit import Dropkit
from dropkit.core.events import Event
from dropkit.core.jobs import JobContext, JobRegistry, RetryPolicy

registry = JobRegistry()


class StockSynced(Event):
    """Published when a supplier's stock figures were refreshed."""

    type = "supplier.stock_synced"
    supplier: str
    skus: int


@registry.job(
    name="supplier.sync_stock", retry=RetryPolicy(max_attempts=5, base_delay=0.1, jitter=False)
)
async def sync_supplier_stock(ctx: JobContext, supplier: str) -> int:
    """Pretend to call a supplier API that fails once, then publish what changed."""
    if ctx.attempt == 1:
        raise ConnectionError(f"{supplier} API timed out")
    kit = Dropkit.of(ctx)
    await kit.events.publish(StockSynced(supplier=supplier, skus=42))
    return 42


async def main() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        async with Dropkit(data_dir=data_dir, jobs=registry, poll_interval=0.1) as kit:
            synced = anyio.Event()

            @kit.events.subscriber(StockSynced)
            async def on_synced(event: StockSynced) -> None:
                print(f"event {event.type}: {event.supplier} has {event.skus} SKUs")
                synced.set()

            first = await kit.jobs.enqueue(sync_supplier_stock, {"supplier": "acme"}, key="acme")
            again = await kit.jobs.enqueue(sync_supplier_stock, {"supplier": "acme"}, key="acme")
            print(f"same idempotency key, same job: {first.id == again.id}")
            done = await kit.jobs.wait(first.id, timeout=30)
            print(f"job {done.function}: {done.state.value} after {done.attempts} attempts")
            print(f"result: {done.result}")
            with anyio.fail_after(30):
                await synced.wait()


if __name__ == "__main__":
    anyio.run(main)
