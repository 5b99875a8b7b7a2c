"""Helpers of the media tests: generated clips, small specs, reading rendered files back."""

from __future__ import annotations

from pathlib import Path

import av
import av.filter
import numpy as np
import numpy.typing as npt

from dropkit.media import Aspect, Quality, VideoSpec

SMALL = {"resolution": 180, "fps": 15, "quality": Quality(preset="ultrafast", crf=30)}


def make_clip(path: Path, *, hue: int, seconds: float = 2.0, size: str = "320x180") -> Path:
    """A moving test pattern (libavfilter testsrc2) encoded with libx264."""
    graph = av.filter.Graph()
    nodes = [
        graph.add("testsrc2", f"size={size}:rate=15:duration={seconds}"),
        graph.add("hue", f"h={hue}"),
        graph.add("format", "yuv420p"),
        graph.add("buffersink"),
    ]
    graph.link_nodes(*nodes).configure()
    width, height = (int(v) for v in size.split("x"))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=15, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        index = 0
        while True:
            try:
                frame = graph.vpull()
            except av.error.EOFError:
                break
            frame.pts = index
            index += 1
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def small_spec(**overrides: object) -> VideoSpec:
    values: dict[str, object] = {
        **SMALL,
        "script": ("The lamp glows warm.", "The desk stands tall."),
        "aspects": (Aspect.VERTICAL,),
    }
    values.update(overrides)
    return VideoSpec.model_validate(values)


def luma_frames(path: Path) -> list[npt.NDArray[np.uint8]]:
    """Every video frame's Y plane (small test videos only)."""
    with av.open(str(path)) as container:
        return [
            frame.to_ndarray(format="yuv420p")[: frame.height].copy()
            for frame in container.decode(video=0)
        ]


def ebur128_integrated(path: Path) -> float:
    """Integrated loudness of the audio track as libavfilter's ebur128 measures it."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        graph = av.filter.Graph()
        graph.link_nodes(
            graph.add_abuffer(template=stream),
            graph.add("ebur128", "metadata=1"),
            graph.add("abuffersink"),
        ).configure()
        last: dict[str, str] = {}
        for frame in container.decode(stream):
            graph.push(frame)
            while True:
                try:
                    out = graph.pull()
                except (av.error.BlockingIOError, av.error.EOFError):
                    break
                last = dict(out.metadata)
    return float(last["lavfi.r128.I"])


def decoded_audio(path: Path) -> npt.NDArray[np.float32]:
    """The first audio stream of ``path`` (an MP4, say), left channel, float32 at 48 kHz."""
    chunks = []
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=48_000)
        for frame in container.decode(audio=0):
            chunks.extend(out.to_ndarray()[0] for out in resampler.resample(frame))
        chunks.extend(out.to_ndarray()[0] for out in resampler.resample(None))
    return np.concatenate(chunks).astype(np.float32)


def rms(samples: npt.NDArray[np.float32]) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
