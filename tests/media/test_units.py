"""The pieces on their own: text layout, captions, loudness, scripts, footage, planning."""

from __future__ import annotations

import random
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from media_helpers import small_spec

from dropkit.media import (
    Aspect,
    EspeakVoice,
    GeneratedBackground,
    LocalFolderFootage,
    MediaInputError,
    ProductBrief,
    TemplateScriptWriter,
    integrated_loudness,
    load_audio,
    srt,
    vtt,
)
from dropkit.media.audio import SAMPLE_RATE
from dropkit.media.planner import cue_chunks, plan_manifest
from dropkit.media.spec import frame_size
from dropkit.media.sprites import place, safe_zone
from dropkit.media.textimage import default_font, render_text
from dropkit.media.timeline import Manifest, Scene, Source, TextLayer


def _text(text: str, **kw: object) -> tuple[int, int, int]:
    values: dict[str, object] = {
        "max_width": 160,
        "max_height": 120,
        "size": 40,
        "font": default_font(),
        "color": "#ffffff",
        "stroke_color": "#000000",
        "stroke": 0.1,
    }
    values.update(kw)
    block = render_text(text, **values)  # type: ignore[arg-type]
    width, height = block.image.size
    return width, height, len({box[1] for box in block.word_boxes})


def test_text_wraps_between_words_and_shrinks_to_fit() -> None:
    width, height, lines = _text("A short cue that needs several lines here")
    assert width <= 160 and height <= 120 and 2 <= lines <= 3
    width, height, _ = _text("Supercalifragilisticexpialidocious")  # one long word: smaller font
    assert width <= 160
    _, _, lines = _text("one two three four five six seven", max_lines=1, box_color="#000000a0")
    assert lines == 1
    with pytest.raises(MediaInputError, match="empty"):
        _text("   ")
    with pytest.raises(MediaInputError, match="does not fit"):
        _text("word " * 200, max_height=10)
    with pytest.raises(MediaInputError, match="bad colour"):
        _text("hi", color="not-a-colour")


def test_placement_stays_in_the_safe_zone() -> None:
    zone = safe_zone(1080, 1920)
    assert (zone.top, zone.bottom) == (230, 1536)
    assert place((200, 100), zone, "bottom") == (440, 1436)
    assert place((200, 100), zone, "top") == (440, 230)
    assert place((200, 100), zone, "center")[1] == 230 + (1306 - 100) // 2
    assert safe_zone(1920, 1080).top == 86
    assert frame_size(Aspect.LANDSCAPE, 1080) == (1920, 1080)


def test_captions_share_the_cue_timing() -> None:
    manifest = Manifest(
        width=64,
        height=64,
        fps=10,
        duration=4000.0 / 1000,
        scenes=(Scene(text="x", start=0, duration=4, source=Source(kind="gradient")),),
        texts=(
            TextLayer(role="subtitle", text="second", start=1.5, end=3.25),
            TextLayer(role="price", text="$9", start=0, end=4),
            TextLayer(role="subtitle", text="first", start=0, end=1.5),
        ),
    )
    assert srt(manifest) == (
        "1\n00:00:00,000 --> 00:00:01,500\nfirst\n\n2\n00:00:01,500 --> 00:00:03,250\nsecond\n"
    )
    assert vtt(manifest).startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nfirst\n")


def test_cues_split_long_sentences_without_orphans() -> None:
    cues = cue_chunks("one two three four five six seven eight nine ten", 2.0, 5.0)
    assert [c[0] for c in cues] == ["one two three four five six seven eight nine ten"]
    long = " ".join(f"w{n}" for n in range(20))
    cues = cue_chunks(long, 0.0, 10.0)
    assert [len(c[0].split()) for c in cues] == [8, 8, 4]
    short_tail = cue_chunks(" ".join(f"w{n}" for n in range(17)), 0.0, 5.0)
    assert [len(c[0].split()) for c in short_tail] == [8, 9]  # no one-word cue at the end
    assert cues[0][1] == 0.0 and cues[-1][2] == 10.0
    assert all(a[2] == pytest.approx(b[1]) for a, b in pairwise(cues))
    words = [w for c in cues for w in c[3]]
    assert len(words) == 20 and words[0].start == 0.0


def test_loudness_matches_bs1770_reference_tones() -> None:
    t = np.arange(SAMPLE_RATE * 5) / SAMPLE_RATE
    tone = np.sin(2 * np.pi * 997 * t)  # 0 dBFS sine, one channel: -3.01 LUFS
    assert integrated_loudness(tone[None, :]) == pytest.approx(-3.01, abs=0.05)
    quiet = 10 ** (-20 / 20) * np.stack((tone, tone))  # -20 dBFS stereo: -20 LUFS
    assert integrated_loudness(quiet) == pytest.approx(-20.0, abs=0.05)
    assert integrated_loudness(np.zeros((1, SAMPLE_RATE))) == float("-inf")
    assert integrated_loudness(np.zeros((1, 100))) == float("-inf")
    with pytest.raises(ValueError, match="48 kHz"):
        integrated_loudness(tone[None, :], rate=44_100)


async def test_template_script_from_product_prompt_and_user_script() -> None:
    writer = TemplateScriptWriter()
    product = ProductBrief(
        title="Aurora Desk Lamp",
        description="A dimmable LED lamp.",
        features=("Brushed aluminium arm", "USB-C powered"),
        price="$31.00",
        compare_at="$39.00",
        offer="Free shipping this week",
        call_to_action="Tap to shop",
    )
    script = await writer.write(small_spec(script=None, product=product))
    sentences = [s.sentence for s in script.scenes]
    assert sentences[0] == "Meet the Aurora Desk Lamp."
    assert "Now just $31.00, down from $39.00. Free shipping this week." in sentences
    assert sentences[-1] == "Tap to shop!"
    assert all(s.search_terms for s in script.scenes)
    other = await writer.write(small_spec(script=None, product=product), variant=1)
    assert other.scenes[0].sentence != sentences[0]
    prompt = await writer.write(small_spec(script=None, prompt="Lamps glow. Desks stand!"))
    assert [s.sentence for s in prompt.scenes] == ["Lamps glow.", "Desks stand!"]
    mine = await writer.write(small_spec(script=("  My  own words. ",)))
    assert mine.scenes[0].sentence == "My own words."


async def test_template_tones_and_languages() -> None:
    writer = TemplateScriptWriter()
    product = ProductBrief(title="Aurora Lamp", price="$31.00", call_to_action="Tap to shop")

    async def sentences(**overrides: object) -> list[str]:
        script = await writer.write(small_spec(script=None, product=product, **overrides))
        return [s.sentence for s in script.scenes]

    upbeat, urgent = await sentences(), await sentences(tone="urgent")
    premium, friendly = await sentences(tone="Premium"), await sentences(tone="friendly")
    assert urgent == [
        "Stop scrolling: the Aurora Lamp is here.",
        "Today only $31.00.",
        "Tap to shop now!",
    ]
    assert premium == ["Introducing the Aurora Lamp.", "Yours for $31.00.", "Tap to shop."]
    assert len({tuple(upbeat), tuple(urgent), tuple(premium), tuple(friendly)}) == 4
    assert await sentences(language="en-gb") == upbeat
    with pytest.raises(MediaInputError, match=r"English only.*OpenAIScriptWriter") as caught:
        await sentences(language="de")
    assert caught.value.stage == "script"
    with pytest.raises(MediaInputError, match=r"no 'sarcastic' tone.*OpenAIScriptWriter"):
        await sentences(tone="sarcastic")
    # A user's own script is spoken as written, in any language.
    german = await writer.write(small_spec(script=("Hallo Welt.",), language="de"))
    assert german.scenes[0].sentence == "Hallo Welt."


async def test_voice_rate_applies_to_a_configured_voice(voice_cache: Path) -> None:
    from dropkit.media.pipeline import _voice_for

    mine = EspeakVoice(voice_cache, rate=150)
    assert _voice_for(mine, small_spec(), voice_cache) is not mine
    normal = await _voice_for(mine, small_spec(), voice_cache).speak("The lamp glows warm.")
    fast = await _voice_for(mine, small_spec(voice_rate=340), voice_cache).speak(
        "The lamp glows warm."
    )
    assert normal == await mine.speak("The lamp glows warm.")  # the default keeps its pace
    assert len(load_audio(fast)) < 0.7 * len(load_audio(normal))


async def test_footage_providers(media_assets: Path, tmp_path: Path) -> None:
    rng = random.Random(3)
    folder = LocalFolderFootage(media_assets)
    found = await folder.find(("desk",), 1.0, (180, 320), rng)
    assert found is not None and found.path == str(media_assets / "desk.mp4")
    image = await folder.find(("product",), 1.0, (180, 320), rng)
    assert image is not None and image.kind == "image" and image.ken_burns is not None
    assert await folder.find(("zebra",), 1.0, (180, 320), rng) is None
    anything = LocalFolderFootage(media_assets, fallback_any=True)
    assert await anything.find(("zebra",), 1.0, (180, 320), rng) is not None
    background = await GeneratedBackground().find((), 1.0, (180, 320), rng)
    assert background.kind == "gradient"
    with pytest.raises(MediaInputError, match="folder not found"):
        LocalFolderFootage(tmp_path / "none")


async def test_planning_is_deterministic(media_assets: Path, voice_cache: Path) -> None:
    spec = small_spec(seed=7)
    voice = EspeakVoice(voice_cache)
    script = await TemplateScriptWriter().write(spec)
    voices = [await voice.speak(s.sentence) for s in script.scenes]

    async def plan() -> Manifest:
        footage = [LocalFolderFootage(media_assets, fallback_any=True)]
        return await plan_manifest(spec, Aspect.VERTICAL, 0, script, voices, footage)

    first, second = await plan(), await plan()
    assert first.model_dump_json() == second.model_dump_json()
    other = await plan_manifest(
        small_spec(seed=8), Aspect.VERTICAL, 0, script, voices, [GeneratedBackground()]
    )
    assert other.model_dump_json() != first.model_dump_json()
    with pytest.raises(MediaInputError, match="one voice clip per sentence"):
        await plan_manifest(spec, Aspect.VERTICAL, 0, script, voices[:1], [])


def test_music_is_decoded_only_as_far_as_needed(media_assets: Path) -> None:
    speech = media_assets / "speech.wav"
    full = load_audio(speech)
    part = load_audio(speech, max_samples=1000)
    assert part.dtype == np.float32 and len(part) == 1000
    assert np.array_equal(part, full[:1000])
    assert len(load_audio(speech, max_samples=10**9)) == len(full)
