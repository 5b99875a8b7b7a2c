"""dropkit core: storage, durable jobs, events, webhooks, money and the error tree.

Subsystems build on these; each name here is re-exported from the module that defines it.
"""

from dropkit.core.database import Database
from dropkit.core.errors import DropkitError
from dropkit.core.events import Event, EventBus, StoredEvent
from dropkit.core.jobs import Job, JobContext, JobRegistry, Jobs, JobState, Retry, RetryPolicy
from dropkit.core.migrations import Migration, Migrator
from dropkit.core.money import Money
from dropkit.core.webhooks import Webhooks

__all__ = [
    "Database",
    "DropkitError",
    "Event",
    "EventBus",
    "Job",
    "JobContext",
    "JobRegistry",
    "JobState",
    "Jobs",
    "Migration",
    "Migrator",
    "Money",
    "Retry",
    "RetryPolicy",
    "StoredEvent",
    "Webhooks",
]
