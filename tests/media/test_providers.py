"""OpenAI (chat + speech) through the openai SDK and Pexels through httpx, on loopback."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from fake_servers import FakeOpenAI, FakePexels, serve
from media_helpers import small_spec

from dropkit.media import (
    OpenAIScriptWriter,
    OpenAIVoice,
    PexelsFootage,
    ProductBrief,
    ProviderError,
    VideoFactory,
    load_audio,
    load_manifest,
)
from dropkit.media.pexels import best_rendition

LOOPBACK = ("127.0.0.0/8",)
GOOD = json.dumps(
    {
        "scenes": [
            {"sentence": "Light up your desk.", "search_terms": ["lamp"], "emphasis": ["Light"]},
            {"sentence": "Order today.", "search_terms": ["desk"], "emphasis": []},
        ]
    }
)


def _wav(media_assets: Path) -> bytes:
    return (media_assets / "speech.wav").read_bytes()


async def test_llm_script_and_tts_voice_through_the_sdk(tmp_path: Path, media_assets: Path) -> None:
    fake = FakeOpenAI(["Sure! here it is", "```json\n" + GOOD + "\n```"], _wav(media_assets))
    async with serve(fake.app()) as base:
        writer = OpenAIScriptWriter(api_key="sk-test", base_url=f"{base}/v1", model="m")
        voice = OpenAIVoice(tmp_path / "tts", api_key="sk-test", base_url=f"{base}/v1")
        factory = VideoFactory(tmp_path / "data", script_writer=writer, voice=voice)
        try:
            spec = small_spec(script=None, product=ProductBrief(title="Aurora Lamp"))
            result = await factory.render(spec)
            again = await voice.speak("Light up your desk.")  # cached: no new request
        finally:
            await factory.aclose()
    manifest = load_manifest(Path(result.videos[0].manifest))
    assert [s.text for s in manifest.scenes] == ["Light up your desk.", "Order today."]
    chats = [r for r in fake.requests if "messages" in r]
    assert len(chats) == 2  # the malformed first answer was retried
    assert "not valid" in chats[1]["messages"][-1]["content"]
    assert chats[0]["response_format"] == {"type": "json_object"}
    speeches = [r for r in fake.requests if "input" in r]
    assert [s["input"] for s in speeches] == ["Light up your desk.", "Order today."]
    assert again == Path(manifest.audio.voice[0].path)
    assert len(load_audio(again)) > 0


async def test_llm_gives_up_after_malformed_answers(tmp_path: Path) -> None:
    fake = FakeOpenAI(["nope", '{"scenes": []}', "{"], b"")
    async with serve(fake.app()) as base:
        writer = OpenAIScriptWriter(api_key="sk-test", base_url=f"{base}/v1", attempts=3)
        try:
            with pytest.raises(ProviderError, match="after 3 attempts") as caught:
                await writer.write(small_spec(script=None, prompt="A lamp."))
            bad_key = OpenAIScriptWriter(api_key="wrong", base_url=f"{base}/v1")
            with pytest.raises(ProviderError, match="LLM request failed"):
                await bad_key.write(small_spec(script=None, prompt="A lamp."))
            await bad_key.aclose()
            voice = OpenAIVoice(tmp_path, api_key="sk-test", base_url=f"{base}/v1")
            with pytest.raises(ProviderError, match="not WAV"):
                await voice.speak("Hello.")
            await voice.aclose()
        finally:
            await writer.aclose()
    assert caught.value.stage == "script"


async def test_pexels_search_download_cache_and_attribution(
    tmp_path: Path, media_assets: Path
) -> None:
    fake = FakePexels(media_assets / "lamp.mp4")
    async with serve(fake.app()) as base:
        fake.base = base
        pexels = PexelsFootage("px-key", tmp_path / "stock", base_url=base, allow_networks=LOOPBACK)
        factory = VideoFactory(tmp_path / "data", footage=[pexels])
        try:
            result = await factory.render(small_spec())
            rng = random.Random(1)
            again = await pexels.find(("lamp",), 1.0, (180, 320), rng)
            wrong = PexelsFootage("bad", tmp_path / "stock", base_url=base)
            with pytest.raises(ProviderError, match="search failed"):
                await wrong.find(("lamp",), 1.0, (180, 320), rng)
            await wrong.aclose()
        finally:
            await factory.aclose()
    assert fake.searches[0]["orientation"] == "portrait"
    assert fake.downloads == 1  # both scenes and the extra search hit the cache
    manifest = load_manifest(Path(result.videos[0].manifest))
    assert manifest.scenes[0].source.kind == "video"
    assert manifest.attributions == (
        "Video by Ada Lens on Pexels (https://www.pexels.com/video/lamp-42/)",
    )
    assert result.videos[0].attributions == manifest.attributions
    assert again is not None and again.path == manifest.scenes[0].source.path


async def test_pexels_links_are_checked_and_capped(tmp_path: Path, media_assets: Path) -> None:
    fake = FakePexels(media_assets / "lamp.mp4")
    rng = random.Random(1)
    async with serve(fake.app()) as base:
        fake.base = base
        # The link the API hands out points at a private (loopback) address: refused.
        guarded = PexelsFootage("px-key", tmp_path / "stock", base_url=base)
        capped = PexelsFootage(
            "px-key", tmp_path / "stock", base_url=base, allow_networks=LOOPBACK, max_bytes=1000
        )
        try:
            with pytest.raises(ProviderError, match="refused download link") as caught:
                await guarded.find(("lamp",), 1.0, (180, 320), rng)
            assert caught.value.file == f"{base}/files/clip.mp4"
            with pytest.raises(ProviderError, match="over 1,000 bytes"):
                await capped.find(("lamp",), 1.0, (180, 320), rng)
        finally:
            await guarded.aclose()
            await capped.aclose()
    assert fake.downloads == 1  # the refused link was never fetched
    stock = tmp_path / "stock"
    assert not stock.exists() or list(stock.iterdir()) == []  # no partial file left


def test_best_rendition_picks_the_smallest_covering_file() -> None:
    files = [
        {"file_type": "video/mp4", "width": 640, "height": 360, "link": "a"},
        {"file_type": "video/mp4", "width": 1920, "height": 1080, "link": "b"},
        {"file_type": "video/mp4", "width": 3840, "height": 2160, "link": "c"},
        {"file_type": "video/webm", "width": 1280, "height": 720, "link": "d"},
    ]
    assert best_rendition(files, (1080, 1920))["link"] == "b"  # type: ignore[index]
    assert best_rendition(files, (2160, 4096))["link"] == "c"  # type: ignore[index]
    assert best_rendition(files[3:], (10, 10)) is None
