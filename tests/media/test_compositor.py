"""The compositor on hand-written manifests: subtitle timing, crossfades, identical re-renders."""

from __future__ import annotations

import wave
from itertools import pairwise
from pathlib import Path

import anyio.to_thread
import av
import numpy as np
import pytest
from media_helpers import decoded_audio, luma_frames, rms

from dropkit.media import (
    Manifest,
    MediaInputError,
    Quality,
    load_manifest,
    render_manifest,
    save_manifest,
)
from dropkit.media.sprites import safe_zone
from dropkit.media.timeline import (
    AudioPlan,
    KenBurns,
    Scene,
    Source,
    SubtitleStyle,
    TextLayer,
    VoiceSegment,
)

FPS = 15


def _flat(color: str) -> Source:
    return Source(kind="gradient", colors=(color, color))


def _manifest(**overrides: object) -> Manifest:
    values: dict[str, object] = {
        "width": 180,
        "height": 320,
        "fps": FPS,
        "duration": 3.0,
        "crossfade": 0.0,
        "scenes": (Scene(text="one", start=0.0, duration=3.0, source=_flat("#404040")),),
        "quality": Quality(preset="ultrafast", crf=16),
    }
    values.update(overrides)
    return Manifest.model_validate(values)


def _render(manifest: Manifest, path: Path) -> list[np.ndarray]:
    render_manifest(manifest, path)
    return luma_frames(path)


def test_subtitle_pixels_only_in_the_cue_region_at_the_cue_times(tmp_path: Path) -> None:
    cue = TextLayer(
        role="subtitle",
        text="HELLO WORLD",
        start=1.0,
        end=2.0,
        style=SubtitleStyle(highlight_color=None),
    )
    frames = _render(_manifest(texts=(cue,)), tmp_path / "cue.mp4")
    assert len(frames) == 3 * FPS
    zone = safe_zone(180, 320)
    for index, luma in enumerate(frames):
        inside = luma[zone.bottom - zone.height // 3 : zone.bottom, zone.left : zone.right]
        if FPS <= index < 2 * FPS:
            assert inside.max() > 200, index  # white text is there
            assert luma[: zone.top].max() < 120  # and nowhere above the zone
        else:
            assert luma.max() < 120, index  # before and after the cue: background only


def test_crossfade_frames_blend_both_scenes(tmp_path: Path) -> None:
    scenes = (
        Scene(text="dark", start=0.0, duration=1.0, source=_flat("#000000")),
        Scene(text="light", start=1.0, duration=1.0, source=_flat("#ffffff")),
    )
    frames = _render(_manifest(duration=2.0, crossfade=0.6, scenes=scenes), tmp_path / "fade.mp4")
    means = [float(f.mean()) for f in frames]
    assert means[0] < 20 and means[-1] > 230
    fading = [m for m in means if 30 < m < 220]
    assert len(fading) >= 6  # about 0.6 s x 15 fps of blended frames
    assert all(b >= a - 1 for a, b in pairwise(means))  # monotonic
    middle = frames[FPS]
    assert 100 < float(middle.mean()) < 150 and float(middle.std()) < 5  # a blend, not a cut


async def test_two_renders_of_one_manifest_are_identical(tmp_path: Path) -> None:
    manifest = _manifest(
        scenes=(
            Scene(
                text="moving",
                start=0.0,
                duration=3.0,
                source=Source(
                    kind="gradient",
                    colors=("#112233", "#aabbcc"),
                    ken_burns=KenBurns(start_zoom=1.0, end_zoom=1.3),
                ),
            ),
        ),
        texts=(TextLayer(role="subtitle", text="Same every time", start=0.0, end=3.0),),
    )
    saved = save_manifest(manifest, tmp_path / "m.json")
    again = load_manifest(saved)
    assert again == manifest
    first, second = tmp_path / "a.mp4", tmp_path / "b.mp4"
    await anyio.to_thread.run_sync(lambda: render_manifest(manifest, first))
    await anyio.to_thread.run_sync(lambda: render_manifest(again, second))
    assert first.read_bytes() == second.read_bytes()


def _tone(path: Path, seconds: float) -> Path:
    """A 440 Hz mono WAV at 48 kHz."""
    t = np.arange(round(seconds * 48_000)) / 48_000
    samples = (np.sin(2 * np.pi * 440 * t) * 12_000).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(48_000)
        out.writeframes(samples.tobytes())
    return path


def test_audio_mixed_beside_the_video_gives_identical_complete_files(tmp_path: Path) -> None:
    """The track is mixed in its own thread and follows the video by a fixed lag: the bytes
    must not depend on which thread wins, and none of the track may be lost at the end."""
    tone = _tone(tmp_path / "tone.wav", 2.5)
    manifest = _manifest(audio=AudioPlan(voice=(VoiceSegment(path=str(tone), start=0.4),)))
    first, second = tmp_path / "a.mp4", tmp_path / "b.mp4"
    render_manifest(manifest, first)
    render_manifest(manifest, second)
    assert first.read_bytes() == second.read_bytes()
    audio = decoded_audio(first)
    assert abs(len(audio) - 3 * 48_000) < 2048  # the whole 3 s, give or take AAC framing
    assert rms(audio[: 48_000 // 4]) < 1e-3  # silence before the voice starts
    assert rms(audio[-48_000 // 4 :]) > 0.05  # the tone still plays in the last quarter second


def test_a_missing_voice_fails_the_render_and_leaves_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "gone.wav"
    manifest = _manifest(audio=AudioPlan(voice=(VoiceSegment(path=str(missing), start=0.0),)))
    out = tmp_path / "out"
    with pytest.raises(MediaInputError) as caught:
        render_manifest(manifest, out / "v.mp4", thumbnail=out / "v.jpg")
    assert (caught.value.stage, caught.value.file) == ("voice", str(missing))
    assert not out.exists() or list(out.iterdir()) == []


def _keyframes(path: Path) -> tuple[int, int]:
    """(key frames, frames) of the first video stream."""
    with av.open(str(path)) as container:
        packets = [p for p in container.demux(video=0) if p.size]
    return sum(p.is_keyframe for p in packets), len(packets)


def test_the_encoder_chooses_frame_types_whatever_the_source(
    tmp_path: Path, media_assets: Path
) -> None:
    """Decoded frames carry their source's picture type and libx264 obeys it: an all-intra
    source (testsrc2 marks every frame I) must not make an all-intra, five times larger video."""
    clip = media_assets / "lamp.mp4"
    assert _keyframes(clip)[0] == _keyframes(clip)[1]  # the source is all-intra
    source = Source(kind="video", path=str(clip))
    out = tmp_path / "out.mp4"
    render_manifest(
        _manifest(scenes=(Scene(text="clip", start=0.0, duration=3.0, source=source),)), out
    )
    keys, frames = _keyframes(out)
    assert frames == 3 * FPS and keys <= 2


@pytest.mark.parametrize("fit", ["cover", "contain"])
def test_video_sources_scaled_to_the_frame(tmp_path: Path, media_assets: Path, fit: str) -> None:
    source = Source(kind="video", path=str(media_assets / "lamp.mp4"), in_point=0.5, fit=fit)
    # 3 s from a 2 s clip starting at 0.5 s: the clip loops.
    frames = _render(
        _manifest(scenes=(Scene(text="clip", start=0.0, duration=3.0, source=source),)),
        tmp_path / f"{fit}.mp4",
    )
    assert len(frames) == 3 * FPS and frames[0].shape == (320, 180)
    if fit == "contain":  # a 16:9 clip letterboxed in 9:16: black bars top and bottom
        assert frames[0][:40].max() < 30 and frames[0][150:170].std() > 10
    else:
        assert frames[0][:40].std() > 10


def test_a_slower_clip_never_keeps_an_earlier_cue(tmp_path: Path, media_assets: Path) -> None:
    # 15 fps footage in a 30 fps video: each decoded frame is shown twice.
    source = Source(kind="video", path=str(media_assets / "desk.mp4"))
    scenes = (Scene(text="clip", start=0.0, duration=2.0, source=source),)
    cue = TextLayer(
        role="subtitle",
        text="GONE SOON",
        start=0.0,
        end=29 / 30,  # the last cue frame (28) shows a decoded frame that frame 29 shows again
        style=SubtitleStyle(highlight_color=None, box_color="#ffffffff"),
    )
    plain = _manifest(fps=30, duration=2.0, scenes=scenes)
    with_cue = plain.model_copy(update={"texts": (cue,)})
    without, captioned = (
        _render(plain, tmp_path / "plain.mp4"),
        _render(with_cue, tmp_path / "cue.mp4"),
    )
    zone = safe_zone(180, 320)
    region = (slice(zone.bottom - zone.height // 3, zone.bottom), slice(zone.left, zone.right))
    for index in range(29, 60):  # after the cue: the same pictures as without it
        diff = np.abs(captioned[index][region].astype(int) - without[index][region].astype(int))
        assert diff.mean() < 6, index
    during = np.abs(captioned[10][region].astype(int) - without[10][region].astype(int))
    assert during.mean() > 20  # the white box was there while the cue was on
