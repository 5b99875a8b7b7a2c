"""Each subpackage's public namespace is exactly its ``__all__``, and every name resolves."""

from __future__ import annotations

import importlib
import types

import pytest

import dropkit

PACKAGES = [
    "dropkit",
    "dropkit.core",
    "dropkit.core.events",
    "dropkit.core.jobs",
    "dropkit.core.webhooks",
    "dropkit.commerce",
    "dropkit.commerce.payments",
    "dropkit.commerce.graphql",
    "dropkit.media",
    "dropkit.outreach",
    "dropkit.crawl",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_public_names_are_exactly_all(name: str) -> None:
    module = importlib.import_module(name)
    exported = {n for n in module.__all__ if not n.startswith("_")}
    public = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_") and not isinstance(value, types.ModuleType)
    }
    public.discard("annotations")
    assert public == exported
    for attr in exported:
        assert getattr(module, attr) is not None


def test_version_is_exposed() -> None:
    assert dropkit.__version__.count(".") == 2
