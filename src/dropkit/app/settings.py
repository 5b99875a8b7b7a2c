"""Settings of the reference app, read from ``DROPKIT_*`` environment variables.

This is the one place dropkit reads the environment (design principle 2): the CLI builds a
:class:`Settings` once, applies its flags on top, and passes plain values down to ``Dropkit``,
``Database`` and the worker. The library itself never looks at the environment.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from dropkit.core.errors import ConfigurationError

__all__ = ["Settings", "load_object", "load_settings"]


class Settings(BaseSettings):
    """Everything an operator can set for the CLI, the worker and the reference server."""

    model_config = SettingsConfigDict(env_prefix="DROPKIT_", extra="ignore", frozen=True)

    database_url: str | None = None
    """``sqlite:///path.db`` or ``postgresql://...``; default: SQLite in ``data_dir``."""
    data_dir: Path = Path(".dropkit")
    """Where the embedded defaults keep their files (the SQLite database, media...)."""
    redis_url: str | None = None
    """With Redis, jobs are handed to ``dropkit worker`` processes through ARQ."""
    concurrency: int = Field(default=8, ge=1)
    """Jobs one worker process runs at once."""
    log_level: str | None = None
    """Unset: INFO for long-running processes (worker), WARNING for one-shot commands."""
    log_json: bool | None = None
    """One JSON object per log line, or plain text; unset: JSON for the worker, text else."""
    allow_private_webhooks: bool = False
    """Let endpoints opt in to private/loopback targets (self-hosted receivers)."""
    jobs: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Import paths (``pkg.module:registry``) of the JobRegistry objects a worker runs."""

    @field_validator("jobs", mode="before")
    @classmethod
    def _split_jobs(cls, value: Any) -> Any:
        # DROPKIT_JOBS="a.b:jobs, c.d:jobs" -- comma-separated is what people type in a shell.
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("database_url", "redis_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        # DROPKIT_REDIS_URL= (set but empty) in a compose file means "not configured".
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to the SQLite file in :attr:`data_dir`."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'dropkit.db').absolute()}"


def load_object(path: str) -> Any:
    """Import ``"package.module:attribute"`` (attribute may be dotted) and return the object.

    Every failure is a :class:`ConfigurationError` that says which part of the path is wrong,
    since the path usually comes from a command line or an environment variable.
    """
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigurationError(f"import path {path!r} must look like 'package.module:attribute'")
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise ConfigurationError(
                f"cannot import {path!r}: no module named {exc.name!r}"
            ) from exc
        raise ConfigurationError(f"importing {module_name!r} failed: {exc}") from exc
    except Exception as exc:
        raise ConfigurationError(
            f"importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ConfigurationError(
                f"cannot import {path!r}: {module_name!r} has no attribute {attribute!r}"
            ) from None
    return target


def load_settings(**overrides: Any) -> Settings:
    """Read the environment once; ``overrides`` (CLI flags; ``None`` = not given) win.

    A bad value (``DROPKIT_CONCURRENCY=many``) is a :class:`ConfigurationError` naming the
    variable, not a pydantic traceback.
    """
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except PydanticValidationError as exc:
        problems = "; ".join(
            f"DROPKIT_{'_'.join(str(p) for p in error['loc'][:1]).upper()}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigurationError(f"invalid settings: {problems}") from None
