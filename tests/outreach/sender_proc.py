"""A campaign sender: ``python sender_proc.py DB_URL SMTP_PORT CAMPAIGN_ID RATE LEASE [GO]``.

Sends the campaign through SMTP (rate-limited so a test can kill it mid-campaign) and prints
``done <sent>`` at the end. With ``GO`` (a path), it prints ``ready`` once connected and starts
only when that file exists, so two processes start together however slow their imports are.
"""

from __future__ import annotations

import sys
import time

import anyio
from outreach_support import make_outreach

from dropkit.core.database import Database
from dropkit.outreach import RateLimit, SmtpProvider


async def main(
    url: str, port: int, campaign_id: str, rate: int, lease: float, go: str | None
) -> None:
    async with Database(url) as db:
        provider = SmtpProvider("127.0.0.1", port, connections=2)
        service = make_outreach(
            db, provider, rate_limit=RateLimit(per_second=rate), lease=lease, batch_size=20
        )
        try:
            if go is not None:
                print("ready", flush=True)
                deadline = time.monotonic() + 30
                while not await anyio.Path(go).exists() and time.monotonic() < deadline:
                    await anyio.sleep(0.01)
            report = await service.sender.run(campaign_id)
        finally:
            await service.aclose()
    print(f"done {report.sent}", flush=True)


if __name__ == "__main__":
    url, port, campaign_id, rate, lease = sys.argv[1:6]
    go = sys.argv[6] if len(sys.argv) > 6 else None
    anyio.run(main, url, int(port), campaign_id, int(rate), float(lease), go)
