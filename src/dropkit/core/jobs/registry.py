"""Job functions: plain ``async def fn(ctx, ...)`` registered by name with their policies.

Arguments are JSON only, never pickle. At registration dropkit builds a pydantic model from the
function's signature, so arguments are validated when the job is *enqueued* (bad input fails
there and nothing is written) and re-validated into rich types (pydantic models, datetimes...)
when the job runs.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, get_type_hints, overload

from pydantic import BaseModel, ConfigDict, create_model
from pydantic import ValidationError as PydanticValidationError

from dropkit.core.errors import (
    ConfigurationError,
    JobArgumentsError,
    UnknownJobFunctionError,
)
from dropkit.core.jobs.schedules import Schedule
from dropkit.core.jsontext import dumps_strict

__all__ = ["JobFunction", "JobRegistry", "RetryPolicy"]

JobCallable = Callable[..., Awaitable[Any]]
F = TypeVar("F", bound=JobCallable)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: attempt n waits about ``base * factor**(n-1)``.

    With ``jitter`` the wait is drawn uniformly from [wait/2, wait] ("equal jitter"): retries
    of many jobs that failed together spread out, yet none retries sooner than half the step.
    """

    max_attempts: int = 5
    base_delay: float = 1.0
    factor: float = 2.0
    max_delay: float = 3600.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigurationError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.factor < 1:
            raise ConfigurationError("delays must be >= 0 and factor >= 1")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        wait = min(self.max_delay, self.base_delay * self.factor ** max(0, attempt - 1))
        if self.jitter and wait > 0:
            wait = (rng or random).uniform(wait / 2, wait)
        return wait


def _arguments_model(name: str, fn: JobCallable) -> type[BaseModel]:
    signature = inspect.signature(fn)
    params = list(signature.parameters.values())
    if not params or params[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        raise ConfigurationError(f"job function {name!r} must take the context as first argument")
    try:
        hints = get_type_hints(fn)
    except Exception:  # unresolvable forward references: validate as Any
        hints = {}
    fields: dict[str, Any] = {}
    for param in params[1:]:
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.POSITIONAL_ONLY):
            raise ConfigurationError(
                f"job function {name!r}: arguments are passed by name; "
                f"{param.name!r} cannot be positional-only or *args"
            )
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            continue
        annotation = hints.get(param.name, Any)
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, default)
    config = (
        ConfigDict(extra="allow")
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
        else ConfigDict(extra="forbid")
    )
    model: type[BaseModel] = create_model(f"{name}_args", __config__=config, **fields)
    return model


@dataclass(frozen=True)
class JobFunction:
    """A registered job function and the policy it runs under."""

    name: str
    fn: JobCallable
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float | None = None
    lease: float = 30.0
    queue: str = "default"
    arguments: type[BaseModel] = field(default=BaseModel, repr=False)

    def validate(self, args: Mapping[str, Any] | BaseModel | None) -> dict[str, Any]:
        """Check arguments at enqueue time and return their JSON form."""
        if isinstance(args, BaseModel):
            args = args.model_dump(mode="json")
        try:
            model = self.arguments.model_validate(dict(args or {}))
            data: dict[str, Any] = model.model_dump(mode="json")
            dumps_strict(data)
        except PydanticValidationError as exc:
            raise JobArgumentsError(f"bad arguments for job {self.name!r}: {exc}") from exc
        except (TypeError, ValueError) as exc:
            raise JobArgumentsError(
                f"arguments of job {self.name!r} are not JSON-serialisable: {exc}"
            ) from exc
        return data

    def bind(self, stored: Mapping[str, Any]) -> dict[str, Any]:
        """Turn stored JSON arguments back into the function's typed keyword arguments."""
        try:
            model = self.arguments.model_validate(dict(stored))
        except PydanticValidationError as exc:
            raise JobArgumentsError(
                f"stored arguments of {self.name!r} no longer fit: {exc}"
            ) from exc
        values = {name: getattr(model, name) for name in type(model).model_fields}
        values.update(model.model_extra or {})
        return values


class JobRegistry:
    """Maps job names to functions; compose several with :meth:`include`."""

    def __init__(self, functions: Iterable[JobFunction | JobCallable] = ()) -> None:
        self._functions: dict[str, JobFunction] = {}
        self._schedules: dict[str, Schedule] = {}
        for item in functions:
            if isinstance(item, JobFunction):
                self._add(item)
            else:
                self.register(item)

    def _add(self, function: JobFunction) -> JobFunction:
        existing = self._functions.get(function.name)
        if existing is not None and existing.fn is not function.fn:
            raise ConfigurationError(f"job name {function.name!r} is registered twice")
        self._functions[function.name] = function
        return function

    def register(
        self,
        fn: JobCallable,
        *,
        name: str | None = None,
        max_attempts: int | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        lease: float = 30.0,
        queue: str = "default",
    ) -> JobFunction:
        """Register ``fn`` under ``name`` (default: ``module.qualname``)."""
        if not inspect.iscoroutinefunction(fn):
            raise ConfigurationError(f"job function {fn!r} must be 'async def'")
        job_name = name or f"{fn.__module__}.{fn.__qualname__}"
        policy = retry or RetryPolicy()
        if max_attempts is not None:
            policy = RetryPolicy(
                max_attempts=max_attempts,
                base_delay=policy.base_delay,
                factor=policy.factor,
                max_delay=policy.max_delay,
                jitter=policy.jitter,
            )
        if lease < 1:
            raise ConfigurationError("lease must be at least one second")
        if timeout is not None and timeout <= 0:
            raise ConfigurationError("timeout must be positive")
        return self._add(
            JobFunction(
                name=job_name,
                fn=fn,
                retry=policy,
                timeout=timeout,
                lease=lease,
                queue=queue,
                arguments=_arguments_model(job_name, fn),
            )
        )

    @overload
    def job(self, fn: F, /) -> F: ...

    @overload
    def job(
        self,
        *,
        name: str | None = None,
        max_attempts: int | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        lease: float = 30.0,
        queue: str = "default",
    ) -> Callable[[F], F]: ...

    def job(  # type: ignore[misc]  # mypy cannot match a TypeVar bound only in the return
        self,
        fn: F | None = None,
        /,
        *,
        name: str | None = None,
        max_attempts: int | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        lease: float = 30.0,
        queue: str = "default",
    ) -> F | Callable[[F], F]:
        """Decorator form of :meth:`register`; the function itself is returned unchanged."""

        def decorate(function: F) -> F:
            self.register(
                function,
                name=name,
                max_attempts=max_attempts,
                retry=retry,
                timeout=timeout,
                lease=lease,
                queue=queue,
            )
            return function

        return decorate(fn) if fn is not None else decorate

    def schedule(
        self,
        function: str | JobCallable,
        *,
        cron: str,
        args: Mapping[str, Any] | BaseModel | None = None,
        name: str | None = None,
        timezone: str = "UTC",
    ) -> Schedule:
        """Run a registered job function at every ``cron`` time (e.g. ``"0 9 * * *"``).

        Arguments are validated now; ``name`` (default: the function's name) keys the runs, so
        keep it stable across deployments.
        """
        registered = self.get(function)
        schedule = Schedule(
            name=name or registered.name,
            function=registered.name,
            cron=cron,
            args=registered.validate(args),
            timezone=timezone,
        )
        if schedule.name in self._schedules:
            raise ConfigurationError(f"schedule {schedule.name!r} is registered twice")
        self._schedules[schedule.name] = schedule
        return schedule

    @property
    def schedules(self) -> list[Schedule]:
        return list(self._schedules.values())

    def include(self, other: JobRegistry) -> None:
        """Add every function and schedule of ``other`` (names must not clash)."""
        for function in other:
            self._add(function)
        for schedule in other.schedules:
            if self._schedules.get(schedule.name, schedule) != schedule:
                raise ConfigurationError(f"schedule {schedule.name!r} is registered twice")
            self._schedules[schedule.name] = schedule

    def get(self, name_or_fn: str | JobCallable) -> JobFunction:
        name = name_or_fn if isinstance(name_or_fn, str) else self.name_of(name_or_fn)
        try:
            return self._functions[name]
        except KeyError:
            raise UnknownJobFunctionError(f"no job function registered as {name!r}") from None

    def name_of(self, fn: JobCallable) -> str:
        for function in self._functions.values():
            if function.fn is fn:
                return function.name
        raise UnknownJobFunctionError(f"{fn!r} is not a registered job function")

    def __contains__(self, name: object) -> bool:
        return name in self._functions

    def __iter__(self) -> Any:
        return iter(list(self._functions.values()))

    def __len__(self) -> int:
        return len(self._functions)
