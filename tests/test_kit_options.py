"""``Dropkit(media=, crawl=, outreach=)``: typed options that reach their subsystem, unknown keys
refused up front, and each options TypedDict kept in step with its constructor."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import dropkit.kit
from dropkit import Dropkit
from dropkit.commerce.service import Commerce
from dropkit.core.errors import ConfigurationError
from dropkit.crawl import Crawl, Crawler, CrawlOptions
from dropkit.media import EspeakVoice, MediaOptions, VideoFactory
from dropkit.outreach import LocalRateLimiter, Outreach, OutreachOptions, RateLimit

# What Dropkit passes to each constructor itself; everything else belongs in the options.
MEDIA_WIRED = {"data_dir", "database", "jobs", "events"}
CRAWL_WIRED = {"database", "events", "commerce", "redis_url", "allow_private"}
OUTREACH_WIRED = {
    "database",
    "events",
    "jobs",
    "provider",
    "outbox_dir",
    "tracking_secret",
    "public_url",
    "redis_url",
}

SUBSYSTEMS: list[tuple[str, Any, list[Callable[..., object]], set[str]]] = [
    ("media", MediaOptions, [VideoFactory.__init__], MEDIA_WIRED),
    # Crawl forwards its **crawler_options to Crawler, so both constructors count.
    ("crawl", CrawlOptions, [Crawl.__init__, Crawler.__init__], CRAWL_WIRED),
    ("outreach", OutreachOptions, [Outreach.__init__], OUTREACH_WIRED),
]


def _parameters(constructor: Callable[..., object]) -> dict[str, inspect.Parameter]:
    return {
        name: parameter
        for name, parameter in inspect.signature(constructor).parameters.items()
        if name != "self" and parameter.kind is not inspect.Parameter.VAR_KEYWORD
    }


@pytest.mark.parametrize(
    ("subsystem", "options", "constructors", "wired"), SUBSYSTEMS, ids=[s[0] for s in SUBSYSTEMS]
)
def test_options_name_every_constructor_argument_the_kit_does_not_wire(
    subsystem: str,
    options: Any,
    constructors: list[Callable[..., object]],
    wired: set[str],
) -> None:
    accepted: set[str] = set()
    for constructor in constructors:
        accepted |= set(_parameters(constructor))
    keys = set(options.__annotations__)
    assert not keys & wired, f"{subsystem} options repeat what the kit wires"
    assert keys | wired == accepted


@pytest.mark.parametrize(
    ("subsystem", "options", "constructors", "wired"), SUBSYSTEMS, ids=[s[0] for s in SUBSYSTEMS]
)
def test_options_have_the_constructor_parameter_types(
    subsystem: str,
    options: Any,
    constructors: list[Callable[..., object]],
    wired: set[str],
) -> None:
    expected: dict[str, object] = {}
    for constructor in reversed(constructors):  # the first constructor's own type wins
        hints = typing.get_type_hints(constructor, localns={"Commerce": Commerce})
        expected.update({name: hints[name] for name in _parameters(constructor)})
    for name, annotation in typing.get_type_hints(options).items():
        assert annotation == expected[name], f"{subsystem} option {name!r}"


@pytest.mark.parametrize(
    ("subsystem", "typo", "suggestion", "a_valid_name"),
    [
        ("media", "voise", "voice", "script_writer"),
        ("crawl", "obey_robot", "obey_robots", "per_site_concurrency"),
        ("outreach", "from_adress", "from_address", "sendgrid_public_key"),
    ],
)
def test_an_unknown_key_is_refused_before_anything_is_built(
    subsystem: str,
    typo: str,
    suggestion: str,
    a_valid_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def built(*args: object, **kwargs: object) -> None:
        raise AssertionError("the kit started building before checking its options")

    monkeypatch.setattr(dropkit.kit, "Database", built)
    options: dict[str, Any] = {subsystem: {typo: 1}}  # untyped, as from a settings file
    with pytest.raises(ConfigurationError) as caught:
        Dropkit(data_dir=tmp_path, **options)
    message = str(caught.value)
    assert repr(typo) in message
    assert f"did you mean {suggestion!r}" in message
    assert suggestion in message.split("takes:")[1]
    assert a_valid_name in message.split("takes:")[1]


def test_a_key_the_kit_wires_itself_is_not_an_option(tmp_path: Path) -> None:
    wired: Any = {"redis_url": "redis://127.0.0.1:6379"}  # Dropkit(redis_url=) sets it
    with pytest.raises(ConfigurationError, match=r"'redis_url'.*takes: .*from_address"):
        Dropkit(data_dir=tmp_path, outreach=wired)


def test_options_reach_their_subsystem(tmp_path: Path) -> None:
    voice = EspeakVoice(tmp_path / "voice")
    kit = Dropkit(
        data_dir=tmp_path,
        media={"voice": voice, "output_root": tmp_path / "exports"},
        crawl={"schedule": "*/5 * * * *", "delay": 0.25, "obey_robots": False},
        outreach={
            "from_address": "Shop <news@shop.example>",
            "rate_limit": RateLimit(per_second=14),
            "attribution_days": 3.0,
        },
    )
    assert kit.media.pipeline.voice is voice
    assert kit.media.output_root == tmp_path / "exports"
    assert kit.crawl.schedule == "*/5 * * * *"
    assert kit.crawl.crawler.delay == 0.25
    assert kit.crawl.crawler.obey_robots is False
    assert kit.outreach.transactional.from_address == "Shop <news@shop.example>"
    (limiter,) = kit.outreach.limiters
    assert isinstance(limiter, LocalRateLimiter)
    assert kit.outreach.conversions.window == 3.0 * 86400
