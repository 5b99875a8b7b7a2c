"""The one exception tree of dropkit.

Every error dropkit raises on purpose derives from :class:`DropkitError`; driver errors (asyncpg,
aiosqlite, redis, httpx, av) are translated at the boundary so callers catch one family::

    DropkitError
    ├── ConfigurationError          bad arguments or settings given to a constructor
    ├── MissingDependencyError      an optional extra is not installed (names the extra)
    ├── ValidationError             input rejected at a boundary; nothing was written
    ├── NotFoundError               a record looked up by id or key does not exist
    ├── ConflictError               a state change that the record's current state forbids
    ├── StorageError                the database failed or refused (driver errors land here)
    │   ├── IntegrityError          a constraint (unique, foreign key, check) refused a write
    │   └── MigrationError          a schema migration could not be applied
    ├── JobError                    durable jobs
    │   ├── UnknownJobFunctionError no function registered under that name
    │   ├── JobArgumentsError       arguments are not JSON or fail the function's model
    │   ├── Retry                   raised by a job: run me again later (jobs.control)
    │   └── Abort                   raised by a job: fail now, no retry (jobs.control)
    ├── EventError                  domain events and subscribers
    ├── WebhookError                outbound webhooks
    │   ├── UnsafeTargetError       URL resolves to a private/loopback/link-local address
    │   └── WebhookVerificationError  bad signature, stale timestamp, malformed headers
    ├── MoneyError                  money arithmetic
    │   ├── CurrencyMismatchError   mixing currencies in one operation
    │   └── InvalidAmountError      unknown currency, too many decimals, non-finite, float
    ├── CommerceError               store (catalog, inventory, checkout, orders, payments)
    ├── MediaError                  video factory
    ├── OutreachError               email marketing
    └── CrawlError                  research bot
"""

from __future__ import annotations


class DropkitError(Exception):
    """Base of every error dropkit raises on purpose."""


class ConfigurationError(DropkitError):
    """A constructor or setting got a value it cannot work with."""


class MissingDependencyError(DropkitError, ImportError):
    """An optional dependency is missing; the message names the extra that provides it."""

    def __init__(self, package: str, extra: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"{package!r} is not installed; install it with: pip install 'dropkit[{extra}]'"
        )


class ValidationError(DropkitError, ValueError):
    """Input was rejected at a boundary; nothing was written."""


class NotFoundError(DropkitError, LookupError):
    """A record looked up by id or key does not exist."""


class ConflictError(DropkitError):
    """The record's current state forbids the requested change."""


class StorageError(DropkitError):
    """The database failed or refused an operation."""


class IntegrityError(StorageError):
    """A constraint (unique, foreign key, check) refused a write."""


class MigrationError(StorageError):
    """A schema migration could not be applied."""


class JobError(DropkitError):
    """Base of durable-job errors."""


class UnknownJobFunctionError(JobError, LookupError):
    """No job function is registered under the requested name."""


class JobArgumentsError(JobError, ValueError):
    """Job arguments are not JSON-serialisable or fail the function's argument model."""


class EventError(DropkitError):
    """Base of domain-event errors."""


class WebhookError(DropkitError):
    """Base of outbound-webhook errors."""


class UnsafeTargetError(WebhookError, ValueError):
    """The target resolves to a private, loopback, link-local or metadata address."""


class WebhookVerificationError(WebhookError, ValueError):
    """A received webhook has a bad signature, a stale timestamp or malformed headers."""


class MoneyError(DropkitError, ValueError):
    """Base of money errors."""


class CurrencyMismatchError(MoneyError):
    """Two amounts in different currencies were combined."""


class InvalidAmountError(MoneyError):
    """An amount or currency code is not acceptable (unknown code, excess decimals, float)."""


class CommerceError(DropkitError):
    """Base of store errors (catalog, inventory, checkout, orders, payments)."""


class MediaError(DropkitError):
    """Base of video-factory errors."""


class OutreachError(DropkitError):
    """Base of email-marketing errors."""


class CrawlError(DropkitError):
    """Base of research-bot errors."""


__all__ = [
    "CommerceError",
    "ConfigurationError",
    "ConflictError",
    "CrawlError",
    "CurrencyMismatchError",
    "DropkitError",
    "EventError",
    "IntegrityError",
    "InvalidAmountError",
    "JobArgumentsError",
    "JobError",
    "MediaError",
    "MigrationError",
    "MissingDependencyError",
    "MoneyError",
    "NotFoundError",
    "OutreachError",
    "StorageError",
    "UnknownJobFunctionError",
    "UnsafeTargetError",
    "ValidationError",
    "WebhookError",
    "WebhookVerificationError",
]
