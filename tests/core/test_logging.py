"""Structured logging: one JSON object per line, on the dropkit logger only."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from datetime import datetime

import pytest

from dropkit.core.errors import ConfigurationError
from dropkit.core.logging import JsonFormatter, TextFormatter, configure_logging


@pytest.fixture(autouse=True)
def restore_dropkit_logger() -> Iterator[None]:
    """configure_logging changes process-wide state; put it back for the other tests."""
    logger = logging.getLogger("dropkit")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    for handler in logger.handlers:
        if handler not in saved[0]:
            handler.close()
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_line_has_standard_fields_and_extras() -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    logging.getLogger("dropkit.jobs").info(
        "job %s succeeded",
        "j1",
        extra={"job_id": "j1", "function": "send", "attempt": 2},
    )
    (record,) = lines(stream)
    assert record["level"] == "INFO"
    assert record["logger"] == "dropkit.jobs"
    assert record["msg"] == "job j1 succeeded"
    assert (record["job_id"], record["function"], record["attempt"]) == ("j1", "send", 2)
    ts = str(record["ts"])
    assert ts.endswith("Z")
    assert datetime.fromisoformat(ts).utcoffset() is not None


def test_exception_is_a_string_and_stays_on_one_line() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("dropkit.x").exception("it failed")
    assert len(stream.getvalue().splitlines()) == 1
    (record,) = lines(stream)
    assert isinstance(record["exc"], str)
    assert "RuntimeError: boom" in record["exc"]
    assert "Traceback" in record["exc"]


def test_non_json_extras_and_reserved_names_do_not_break_the_line() -> None:
    formatter = JsonFormatter()
    record = logging.LogRecord("dropkit.t", logging.WARNING, __file__, 1, "hi", None, None)
    record.when = datetime(2024, 1, 1)
    record.level = "spoofed"
    data = json.loads(formatter.format(record))
    assert data["when"] == "2024-01-01 00:00:00"
    assert data["level"] == "WARNING"


def test_level_filters_and_only_the_dropkit_logger_is_touched() -> None:
    root = logging.getLogger()
    root_state = (list(root.handlers), root.level)
    stream = io.StringIO()
    configure_logging("WARNING", stream=stream)
    logging.getLogger("dropkit.a").info("hidden")
    logging.getLogger("dropkit.a").warning("shown")
    logging.getLogger("someone.else").warning("not ours")
    assert [r["msg"] for r in lines(stream)] == ["shown"]
    assert (list(root.handlers), root.level) == root_state


def test_configure_is_idempotent() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(stream=first)
    configure_logging(stream=second)
    configure_logging(stream=second)
    logging.getLogger("dropkit").info("once")
    assert first.getvalue() == ""
    assert len(second.getvalue().splitlines()) == 1
    ours = [h for h in logging.getLogger("dropkit").handlers if getattr(h, "_dropkit", False)]
    assert len(ours) == 1


def test_text_mode_appends_extras() -> None:
    stream = io.StringIO()
    handler = configure_logging("INFO", json=False, stream=stream)
    assert isinstance(handler.formatter, TextFormatter)
    logging.getLogger("dropkit.jobs").info("done", extra={"job_id": "j9"})
    line = stream.getvalue().strip()
    assert "INFO" in line
    assert "dropkit.jobs: done job_id=j9" in line


def test_default_stream_follows_the_current_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    configure_logging()
    swapped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", swapped)
    logging.getLogger("dropkit").warning("to the new stderr")
    assert json.loads(swapped.getvalue())["msg"] == "to the new stderr"


def test_unknown_level_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="unknown log level"):
        configure_logging("LOUD")
