"""The compositor on hand-written manifests: subtitle timing, crossfades, identical re-renders."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import anyio.to_thread
import numpy as np
import pytest
from media_helpers import luma_frames

from dropkit.media import Manifest, Quality, load_manifest, render_manifest, save_manifest
from dropkit.media.sprites import safe_zone
from dropkit.media.timeline import KenBurns, Scene, Source, SubtitleStyle, TextLayer

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
