"""CLI test fixtures: each test gets the dropkit logger it had and no ``DROPKIT_*`` settings."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def restore_dropkit_logger() -> Iterator[None]:
    """Commands configure the dropkit logger; give the next test the logger it had."""
    logger = logging.getLogger("dropkit")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    for handler in logger.handlers:
        if handler not in saved[0]:
            handler.close()
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("DROPKIT_") and not name.startswith("DROPKIT_TEST_"):
            monkeypatch.delenv(name)
