"""Durable jobs: a database ledger, leases, retries, dead letters, local or ARQ dispatch."""

from dropkit.core.jobs.control import Abort, Retry
from dropkit.core.jobs.dispatch import Dispatcher, LedgerOnlyDispatcher, LocalDispatcher, Wakeup
from dropkit.core.jobs.models import Job, JobState
from dropkit.core.jobs.registry import JobFunction, JobRegistry, RetryPolicy
from dropkit.core.jobs.runner import JobContext
from dropkit.core.jobs.schedules import Schedule
from dropkit.core.jobs.service import Jobs

__all__ = [
    "Abort",
    "Dispatcher",
    "Job",
    "JobContext",
    "JobFunction",
    "JobRegistry",
    "JobState",
    "Jobs",
    "LedgerOnlyDispatcher",
    "LocalDispatcher",
    "Retry",
    "RetryPolicy",
    "Schedule",
    "Wakeup",
]
