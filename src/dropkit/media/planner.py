"""The planner: script + voice clips + footage → a deterministic :class:`Manifest`.

Scene lengths come from the voice clips (one per sentence), so pictures cut on the narration
and subtitles cannot drift. Every choice draws on one RNG seeded by (seed, aspect, variant).
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Literal

from dropkit.media.audio import SAMPLE_RATE, load_audio
from dropkit.media.errors import MediaInputError
from dropkit.media.footage import FootageProvider, GeneratedBackground
from dropkit.media.script import Script
from dropkit.media.spec import Aspect, Position, VideoSpec, frame_size
from dropkit.media.timeline import (
    AudioPlan,
    ImageLayer,
    KenBurns,
    Manifest,
    Scene,
    Source,
    TextLayer,
    VoiceSegment,
    WordTiming,
)

__all__ = ["cue_chunks", "plan_manifest", "voice_duration"]

_MAX_CUE_WORDS = 8
LabelRole = Literal["price", "cta", "title"]


def voice_duration(path: Path) -> float:
    return len(load_audio(path, "voice")) / SAMPLE_RATE


def cue_chunks(
    sentence: str, start: float, duration: float
) -> list[tuple[str, float, float, tuple[WordTiming, ...]]]:
    """Split a sentence into cues of at most 8 words, timed by their share of characters."""
    words = sentence.split()
    groups = [words[i : i + _MAX_CUE_WORDS] for i in range(0, len(words), _MAX_CUE_WORDS)]
    if len(groups) > 1 and len(groups[-1]) < 3:  # no orphan words on a cue of their own
        groups[-2].extend(groups.pop())
    weights = [len(re.sub(r"\W", "", w)) + 1 for w in words]
    per_weight = duration / sum(weights)
    cues = []
    t, k = start, 0
    for group in groups:
        timings = []
        for word in group:
            length = weights[k] * per_weight
            timings.append(WordTiming(word=word, start=round(t, 4), end=round(t + length, 4)))
            t += length
            k += 1
        cues.append((" ".join(group), timings[0].start, timings[-1].end, tuple(timings)))
    last = cues[-1]
    cues[-1] = (last[0], last[1], round(start + duration, 4), last[3])
    return cues


def _label(role: LabelRole, text: str, start: float, duration: float, at: Position) -> TextLayer:
    """A title, price or call-to-action overlay shown for one scene."""
    return TextLayer(role=role, text=text, start=start, end=start + duration, position=at)


async def plan_manifest(
    spec: VideoSpec,
    aspect: Aspect,
    variant: int,
    script: Script,
    voices: list[Path],
    footage: list[FootageProvider],
    durations: list[float] | None = None,
) -> Manifest:
    """The manifest of one output (one aspect ratio, one variant). ``durations`` are the voice
    clips' lengths when the caller has them (one decode per clip for all aspect ratios)."""
    if len(voices) != len(script.scenes):
        raise MediaInputError("timeline", "one voice clip per sentence is needed")
    rng = random.Random(f"{spec.seed}:{aspect.value}:{variant}")
    width, height = frame_size(aspect, spec.resolution)
    if durations is None:
        durations = [voice_duration(p) for p in voices]
    if len(durations) != len(voices):
        raise MediaInputError("timeline", "one duration per voice clip is needed")
    total = sum(durations)
    if total > spec.max_duration:
        raise MediaInputError(
            "timeline", f"{total:.1f} s of narration exceeds max_duration {spec.max_duration:.0f} s"
        )
    if total < 0.2:
        raise MediaInputError("timeline", "the narration is too short to make a video")
    providers = [*footage, GeneratedBackground()]
    scenes: list[Scene] = []
    texts: list[TextLayer] = []
    start = 0.0
    product = spec.product
    for index, (item, duration) in enumerate(zip(script.scenes, durations, strict=True)):
        last = index == len(script.scenes) - 1
        if last and spec.end_card and product is not None:
            source: Source | None = Source(
                kind="gradient",
                colors=("#111827", "#374151"),
                ken_burns=KenBurns(start_zoom=1.0, end_zoom=1.08),
            )
            if spec.overlays:
                texts.append(_label("title", product.title, start, duration, "top"))
                if product.price:
                    texts.append(_label("price", product.price, start, duration, "center"))
        else:
            terms = (
                item.search_terms
                if variant == 0
                else tuple(rng.sample(item.search_terms, len(item.search_terms)))
            )
            source = None
            for provider in providers:
                source = await provider.find(terms, duration, (width, height), rng)
                if source is not None:
                    break
            price = product.price if spec.overlays and product is not None else None
            if price and price in item.sentence:  # the scene that says the price shows it
                texts.append(_label("price", price, start, duration, "top"))
        if last and spec.overlays and product is not None and product.call_to_action.strip():
            # The call to action: under the price on the end card, else mid-frame.
            cta = product.call_to_action.strip()
            texts.append(_label("cta", cta, start, duration, "center"))
        assert source is not None
        scenes.append(
            Scene(
                text=item.sentence,
                start=round(start, 4),
                duration=round(duration, 4),
                source=source.model_copy(update={"fit": spec.fit}),
            )
        )
        for text, cue_start, cue_end, words in cue_chunks(item.sentence, start, duration):
            texts.append(
                TextLayer(
                    role="subtitle",
                    text=text,
                    start=cue_start,
                    end=cue_end,
                    position=spec.subtitles.position,
                    style=spec.subtitles,
                    words=words,
                )
            )
        start += duration
    images: tuple[ImageLayer, ...] = ()
    if spec.logo is not None:
        images = (ImageLayer(path=spec.logo, start=0.0, end=total),)
    voice_plan = AudioPlan(
        voice=tuple(
            VoiceSegment(path=str(p), start=round(s.start, 4))
            for p, s in zip(voices, scenes, strict=True)
        ),
        volume=spec.voice_volume,
        music=spec.music,
        music_volume=spec.music_volume,
        target_lufs=spec.target_lufs,
    )
    return Manifest(
        seed=spec.seed,
        width=width,
        height=height,
        fps=spec.fps,
        duration=round(total, 4),
        crossfade=spec.crossfade,
        scenes=tuple(scenes),
        texts=tuple(texts),
        images=images,
        audio=voice_plan,
        quality=spec.quality,
        attributions=tuple(
            dict.fromkeys(s.source.attribution for s in scenes if s.source.attribution)
        ),
    )
