"""Structured logging for the processes that run dropkit (workers, the CLI, the reference app).

dropkit logs through standard :mod:`logging` under the ``dropkit`` logger tree and never
configures anything by itself: an embedding application keeps full control. Edges (the CLI,
a worker process) call :func:`configure_logging` once to get one JSON object per line::

    {"ts": "2024-05-01T12:00:00.123Z", "level": "INFO", "logger": "dropkit.jobs",
     "msg": "job 01H... succeeded", "job_id": "01H...", "function": "send", "attempt": 1}

Fields passed with ``extra=`` (``job_id``, ``function``, ``attempt``...) become top-level keys, so
log pipelines can filter on them without parsing messages.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from dropkit.core.errors import ConfigurationError

__all__ = ["JsonFormatter", "TextFormatter", "configure_logging"]

LOGGER_NAME = "dropkit"

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in _RECORD_ATTRS and not key.startswith("_")
    }


def _timestamp(record: logging.LogRecord) -> str:
    when = datetime.fromtimestamp(record.created, UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """Formats each record as one line of JSON: ts, level, logger, msg, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in _extras(record).items():
            data.setdefault(key, value)  # standard keys win: consumers rely on them
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            data["exc"] = record.exc_text
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        # default=str: an extra that is not JSON (a datetime, a Path) must not lose the line.
        return json.dumps(data, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Human-readable lines for terminals, with extras appended as ``key=value``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = _extras(record)
        if not extras:
            return line
        head, sep, tail = line.partition("\n")  # keep a traceback below the extras
        fields = " ".join(f"{key}={value}" for key, value in extras.items())
        return f"{head} {fields}{sep}{tail}"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is *now*, so a swapped stderr is never cached."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:  # StreamHandler.__init__ assigns it
        pass


def configure_logging(
    level: int | str = "INFO",
    *,
    json: bool = True,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send the ``dropkit`` loggers to ``stream`` (default: stderr) as JSON or text lines.

    Only the ``dropkit`` logger is touched, never the root logger: the host application's
    logging stays as it was. Records stop propagating to the root so they are not printed twice.
    Calling it again replaces the handler it installed before (idempotent). Returns the handler.
    """
    if isinstance(level, str):
        resolved = logging.getLevelName(level.upper())
        if not isinstance(resolved, int):
            raise ConfigurationError(f"unknown log level {level!r}")
        level = resolved
    logger = logging.getLogger(LOGGER_NAME)
    for old in [h for h in logger.handlers if getattr(h, "_dropkit", False)]:
        logger.removeHandler(old)
        old.close()
    handler: logging.Handler = _StderrHandler() if stream is None else logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if json else TextFormatter())
    handler._dropkit = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return handler
