"""Recurring jobs on cron schedules, enqueued effectively once however many workers run.

Every sweep, each worker computes the schedule's most recent fire time and enqueues the job
with the idempotency key ``schedule:<name>:<slot>``: the first worker creates it, the others
find it. A slot missed while no worker ran is caught up once (the latest one only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

from dropkit.core.errors import ConfigurationError

__all__ = ["Schedule"]


@dataclass(frozen=True)
class Schedule:
    """Run ``function`` with ``args`` at every ``cron`` time (5 fields) in ``timezone``."""

    name: str
    function: str
    cron: str
    args: dict[str, Any] = field(default_factory=dict)
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if not croniter.is_valid(self.cron):
            raise ConfigurationError(
                f"schedule {self.name!r}: invalid cron expression {self.cron!r}"
            )
        try:  # valid syntax that never fires ("0 0 30 2 *") fails here, not in the sweeper
            croniter(self.cron, datetime(2000, 1, 1, tzinfo=self.zone())).get_next(datetime)
        except (CroniterBadDateError, CroniterBadCronError) as exc:
            raise ConfigurationError(
                f"schedule {self.name!r}: {self.cron!r} never fires ({exc})"
            ) from exc

    def zone(self) -> tzinfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigurationError(
                f"schedule {self.name!r}: unknown timezone {self.timezone!r}"
            ) from exc

    def latest_slot(self, now: datetime) -> datetime:
        """The most recent fire time at or before ``now``."""
        # get_prev is strictly before its start; start a second later so "now" itself counts.
        start = now.astimezone(self.zone()) + timedelta(seconds=1)
        previous: datetime = croniter(self.cron, start).get_prev(datetime)
        return previous

    def key(self, slot: datetime) -> str:
        return f"schedule:{self.name}:{int(slot.timestamp())}"
