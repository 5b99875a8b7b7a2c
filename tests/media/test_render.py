"""Real encodes through VideoFactory.render: stream facts, timing, loudness, companion files."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from media_helpers import ebur128_integrated, small_spec

from dropkit.media import (
    Aspect,
    EspeakVoice,
    LocalFolderFootage,
    ProductBrief,
    RenderedVideo,
    VideoFactory,
    load_audio,
    load_manifest,
)
from dropkit.media.audio import SAMPLE_RATE


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
