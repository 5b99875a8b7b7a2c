"""Real encodes through VideoFactory.render: stream facts, timing, loudness, companion files."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from media_helpers import decoded_audio, ebur128_integrated, luma_frames, rms, small_spec

from dropkit.media import (
    Aspect,
    EspeakVoice,
    LocalFolderFootage,
    Manifest,
    ProductBrief,
    RenderedVideo,
    VideoFactory,
    load_audio,
    load_manifest,
)
from dropkit.media.audio import SAMPLE_RATE
from dropkit.media.sprites import safe_zone


@pytest.fixture
def factory(tmp_path: Path, media_assets: Path, voice_cache: Path) -> VideoFactory:
    return VideoFactory(
        tmp_path / "data",
        voice=EspeakVoice(voice_cache),
        footage=[LocalFolderFootage(media_assets)],
    )


async def test_stream_properties_duration_and_loudness(factory: VideoFactory) -> None:
    result = await factory.render(small_spec(music=None))
    (video,) = result.videos
    path = Path(video.video)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.codec_context.width, stream.codec_context.height) == (180, 320)
        assert stream.average_rate == 15
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert stream.codec_context.color_primaries == 1  # BT.709 tags
        assert stream.codec_context.colorspace == 1
        audio = container.streams.audio[0]
        assert audio.codec_context.name == "aac"
        assert audio.sample_rate == SAMPLE_RATE
        frames = sum(1 for _ in container.decode(stream))
    manifest = load_manifest(Path(video.manifest))
    voice_seconds = sum(len(load_audio(Path(v.path))) / SAMPLE_RATE for v in manifest.audio.voice)
    assert abs(frames / 15 - voice_seconds) <= 1 / 15
    assert abs(ebur128_integrated(path) - -14.0) <= 1.0
    _check_companions(video)


def _check_companions(video: RenderedVideo) -> None:
    # faststart: the index (moov) comes before the media data (mdat).
    head = Path(video.video).read_bytes()[:4096]
    assert 0 <= head.find(b"moov") < max(head.find(b"mdat"), 4096)
    srt = Path(video.srt).read_text()
    assert srt.startswith("1\n00:00:00,000 --> ") and "The lamp glows warm." in srt
    assert Path(video.vtt).read_text().startswith("WEBVTT\n\n00:00:00.000 --> ")
    assert Path(video.thumbnail).read_bytes()[:3] == b"\xff\xd8\xff"


async def test_aspects_variants_music_and_product_images(
    factory: VideoFactory, media_assets: Path, tmp_path: Path
) -> None:
    music = media_assets / "desk.mp4"  # no audio stream: music must be a real audio file
    tone = tmp_path / "tone.wav"
    _write_tone(tone)
    product = ProductBrief(
        title="Aurora Lamp",
        features=("Warm dimmable light",),
        price="$31.00",
        images=(str(media_assets / "product.png"),),
    )
    result = await factory.render(
        small_spec(
            script=None,
            product=product,
            aspects=(Aspect.VERTICAL, Aspect.SQUARE, Aspect.LANDSCAPE),
            variants=2,
            music=str(tone),
            logo=str(media_assets / "logo.png"),
        )
    )
    sizes = {(v.aspect, v.variant): (v.width, v.height) for v in result.videos}
    assert sizes[(Aspect.VERTICAL, 0)] == (180, 320)
    assert sizes[(Aspect.SQUARE, 1)] == (180, 180)
    assert sizes[(Aspect.LANDSCAPE, 0)] == (320, 180)
    first = load_manifest(Path(result.videos[0].manifest))
    second = load_manifest(Path(result.videos[3].manifest))
    assert first.scenes[0].text != second.scenes[0].text  # variants get another hook
    assert first.scenes[0].source.kind == "image" and first.scenes[0].source.ken_burns
    assert first.scenes[-1].source.kind == "gradient"  # the end card
    assert {t.role for t in first.texts} >= {"subtitle", "title", "price"}
    assert abs(ebur128_integrated(Path(result.videos[0].video)) - -14.0) <= 1.0
    assert music.exists()
    _check_logo(Path(result.videos[0].video), first)
    # The last sentence without its voice: a gap where the music plays alone.
    gap = first.scenes[-1]
    edited = first.model_copy(
        update={"audio": first.audio.model_copy(update={"voice": first.audio.voice[:-1]})}
    )
    again = await factory.render_manifest(edited, factory.output_root / "gap.mp4")
    _check_music(Path(again.video), edited, gap.start, gap.start + gap.duration)


def _check_logo(video: Path, manifest: Manifest) -> None:
    """The red logo sits in the top-right corner of the safe zone, on every frame."""
    zone = safe_zone(manifest.width, manifest.height)
    logo_w = round(manifest.width * 0.2)
    logo_h = round(32 * logo_w / 64)
    with av.open(str(video)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % 10:
                continue
            rgb = frame.to_ndarray(format="rgb24").astype(int)
            inner = rgb[
                zone.top + 2 : zone.top + logo_h - 2, zone.right - logo_w + 2 : zone.right - 2
            ]
            assert inner[..., 0].mean() > 180 and inner[..., 1:].mean() < 80, index
            left = rgb[zone.top + 2 : zone.top + logo_h - 2, zone.left + 2 : zone.left + logo_w]
            assert not (left[..., 0].mean() > 180 and left[..., 1:].mean() < 80)


def _check_music(video: Path, manifest: Manifest, gap_start: float, gap_end: float) -> None:
    """Music plays in the gap, is ducked where the voice is silent mid-sentence, fades out."""
    audio = decoded_audio(video)
    track = np.zeros(len(audio), dtype=np.float32)  # the voice alone, where the mix put it
    for segment in manifest.audio.voice:
        voice = load_audio(Path(segment.path))
        start = round(segment.start * SAMPLE_RATE)
        end = min(len(track), start + len(voice))
        track[start:end] = voice[: end - start]
    window = SAMPLE_RATE // 20  # 50 ms
    alone = audio[round((gap_start + 0.3) * SAMPLE_RATE) : round((gap_end - 1.1) * SAMPLE_RATE)]
    full = rms(alone)
    assert full > 0.02  # clearly audible on its own
    ducked = [
        rms(audio[i : i + window])
        for segment in manifest.audio.voice
        for i in range(
            round((segment.start + 0.25) * SAMPLE_RATE),
            round(gap_start * SAMPLE_RATE) - window,
            window,
        )
        if rms(track[i - window : i + 2 * window]) < 1e-3  # the voice pauses here
    ]
    assert ducked, "no pause in the narration to measure the music under"
    assert 0.2 < float(np.median(ducked)) / full < 0.55  # ducked to about 0.35
    assert rms(audio[-window:]) < 0.1 * full  # faded to near silence


def _write_tone(path: Path) -> None:
    import numpy as np

    samples = (0.3 * np.sin(np.arange(SAMPLE_RATE * 2) * 2 * np.pi * 220 / SAMPLE_RATE)).astype(
        np.float32
    )
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=SAMPLE_RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


async def test_dotted_names_keep_every_output(factory: VideoFactory, tmp_path: Path) -> None:
    spec = small_spec(
        name="summer.sale",
        aspects=(Aspect.VERTICAL, Aspect.SQUARE),
        variants=2,
        resolution=128,
        fps=5,
    )
    result = await factory.render(spec)
    names = sorted(Path(v.video).name for v in result.videos)
    assert names == [
        "summer.sale-1x1-v1.mp4",
        "summer.sale-1x1-v2.mp4",
        "summer.sale-9x16-v1.mp4",
        "summer.sale-9x16-v2.mp4",
    ]
    for video in result.videos:
        files = (video.video, video.srt, video.vtt, video.thumbnail, video.manifest)
        assert all(_is_file(path) for path in files)
        assert len({Path(path).stem for path in files}) == 1  # one stem, dots and all
    manifest = load_manifest(Path(result.videos[0].manifest))
    again = await factory.render_manifest(manifest, factory.output_root / "out.v2.mp4")
    assert Path(again.video).name == "out.v2.mp4" and Path(again.srt).name == "out.v2.srt"


def _is_file(path: str) -> bool:
    return Path(path).is_file()


def _scene_frame(frames: list, manifest: Manifest, index: int) -> np.ndarray:  # type: ignore[type-arg]
    scene = manifest.scenes[index]
    return frames[round((scene.start + scene.duration / 2) * manifest.fps)].astype(int)


async def test_price_title_and_call_to_action_overlays(factory: VideoFactory) -> None:
    product = ProductBrief(
        title="Aurora Lamp", features=("Warm dimmable light",), price="$31.00",
        call_to_action="Order yours today",
    )  # fmt: skip
    spec = small_spec(script=None, product=product, crossfade=0.0, subtitles={"size": 0.03})
    on = (await factory.render(spec.model_copy(update={"name": "on"}))).videos[0]
    off_spec = spec.model_copy(update={"name": "off", "overlays": False})
    off = (await factory.render(off_spec)).videos[0]
    manifest = load_manifest(Path(on.manifest))
    assert {t.role for t in manifest.texts} == {"subtitle", "title", "price", "cta"}
    assert {t.role for t in load_manifest(Path(off.manifest)).texts} == {"subtitle"}
    frames_on, frames_off = luma_frames(Path(on.video)), luma_frames(Path(off.video))
    zone = safe_zone(manifest.width, manifest.height)

    def changed(index: int, top: float, bottom: float) -> float:
        """Mean luma change in a band of the safe zone (fractions of its height)."""
        rows = slice(zone.top + int(zone.height * top), zone.top + int(zone.height * bottom))
        a = _scene_frame(frames_on, manifest, index)[rows, zone.left : zone.right]
        b = _scene_frame(frames_off, manifest, index)[rows, zone.left : zone.right]
        return float(np.abs(a - b).mean())

    price_scene = next(i for i, s in enumerate(manifest.scenes) if "$31.00" in s.text)
    assert price_scene < len(manifest.scenes) - 1  # a normal scene, not the end card
    assert changed(price_scene, 0.0, 0.2) > 5  # the price at the top of its scene
    assert changed(0, 0.0, 0.2) < 0.5  # nothing on the hook scene
    end = len(manifest.scenes) - 1
    assert changed(end, 0.0, 0.2) > 5  # the title on the end card
    assert changed(end, 0.4, 0.6) > 5  # the price
    assert changed(end, 0.62, 0.78) > 5  # the call to action
