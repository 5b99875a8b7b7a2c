"""Product-video render speed: dropkit vs a MoviePy 2.x peer vs a bare libx264 encode.

Run: ``python -P benchmarks/video.py [--peer/--no-peer] [--rss/--no-rss]``

One standard job: 4 espeak-ng sentences (about 14 s), 4 generated 1280x720 30 fps source clips,
1080x1920 output at 30 fps, one subtitle cue per sentence with a stroke, the voice track,
x264 preset medium, CRF 23, AAC. Voice synthesis happens before any clock starts; all three
read the same WAV and MP4 files.

1. dropkit: ``VideoFactory.render`` (clips cropped and scaled in libavfilter, cues drawn once
   and blended in YUV, loudness-normalised audio), crossfades off like the peer.
2. the peer: MoviePy 2.x in the MoneyPrinterTurbo style: each clip cropped to 9:16, then
   resized to 1080x1920 (crop first, as dropkit does, so the peer does no needless scaling),
   concatenated, one TextClip per cue in a CompositeVideoClip, the voice as audio, libx264 +
   AAC, ``threads=2``.
3. the limit: libx264 alone encoding as many 1080x1920 frames with the same settings: the
   same clips cropped and scaled as dropkit does (without subtitles), prepared as raw frames
   on disk before the clock starts and read back as they are fed.

Peak RSS: the 4 sentences repeated to about 15 s and 60 s, each rendered by dropkit in a
fresh subprocess (preset ultrafast, to keep the run short) reporting its peak RSS (VmHWM).
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import av.filter
import numpy as np
from av.video.frame import PictureType

from dropkit.media import EspeakVoice, Quality, SubtitleStyle, VideoFactory, VideoSpec
from dropkit.media.planner import voice_duration
from dropkit.media.sources import VideoSource
from dropkit.media.textimage import default_font
from dropkit.media.timeline import Source, load_manifest

SENTENCES = (
    "Meet the Aurora desk lamp, the light your desk has been waiting for.",
    "Warm, dimmable light on a brushed aluminium arm.",
    "Now only thirty one dollars, down from thirty nine.",
    "Order yours today, while our stock lasts, with free shipping.",
)
WIDTH, HEIGHT, FPS = 1080, 1920, 30
PRESET, CRF = "medium", 23


def make_clip(path: Path, hue: int, seconds: float) -> Path:
    graph = av.filter.Graph()
    graph.link_nodes(
        graph.add("testsrc2", f"size=1280x720:rate=30:duration={seconds}"),
        graph.add("hue", f"h={hue}"),
        graph.add("format", "yuv420p"),
        graph.add("buffersink"),
    ).configure()
    with av.open(str(path), "w") as container:
        stream = container.add_stream(
            "libx264", rate=30, options={"preset": "veryfast", "crf": "18"}
        )
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        index = 0
        while True:
            try:
                frame = graph.vpull()
            except av.error.EOFError:
                break
            frame.pts = index
            frame.pict_type = PictureType.NONE  # testsrc2 marks every frame I: x264 would obey
            index += 1
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


class OrderedClips:
    """Scene n gets clip n (the peer concatenates the clips in the same order)."""

    def __init__(self, clips: list[Path]) -> None:
        self.clips, self.next = clips, 0

    async def find(
        self, terms: tuple[str, ...], duration: float, size: tuple[int, int], rng: random.Random
    ) -> Source:
        clip = self.clips[self.next % len(self.clips)]
        self.next += 1
        return Source(kind="video", path=str(clip))


def spec_for(sentences: tuple[str, ...], preset: str) -> VideoSpec:
    return VideoSpec(
        script=sentences,
        resolution=WIDTH,
        fps=FPS,
        crossfade=0.0,
        end_card=False,
        overlays=False,
        subtitles=SubtitleStyle(highlight_color=None),
        quality=Quality(preset=preset, crf=CRF),  # type: ignore[arg-type]
    )


async def voices(cache: Path, sentences: tuple[str, ...]) -> list[Path]:
    voice = EspeakVoice(cache)
    return [await voice.speak(s) for s in sentences]


def run_dropkit(
    work: Path, clips: list[Path], sentences: tuple[str, ...], preset: str
) -> tuple[float, Path, int]:
    """Seconds taken, the manifest written, frames rendered."""
    factory = VideoFactory(
        work / "dropkit", voice=EspeakVoice(work / "voice"), footage=[OrderedClips(clips)]
    )
    started = time.perf_counter()
    result = asyncio.run(factory.render(spec_for(sentences, preset)))
    elapsed = time.perf_counter() - started
    return elapsed, Path(result.videos[0].manifest), result.videos[0].frames


def run_peer(work: Path, clips: list[Path], wavs: list[Path]) -> float:
    from moviepy import (
        AudioFileClip,
        CompositeVideoClip,
        TextClip,
        VideoFileClip,
        concatenate_audioclips,
        concatenate_videoclips,
    )

    started = time.perf_counter()
    durations = [voice_duration(w) for w in wavs]
    sources = [VideoFileClip(str(c)) for c in clips]
    parts = []
    for source, duration in zip(sources, durations, strict=True):
        part = source.subclipped(0, min(duration, source.duration))
        if part.duration < duration:
            part = part.with_duration(duration)
        # Crop the source to 9:16 first, then resize only that window to 1080x1920: the
        # competent order (resizing the whole 16:9 frame first scales ~3x the pixels).
        crop_w = round(part.h * WIDTH / HEIGHT) & ~1
        part = part.cropped(x_center=part.w / 2, width=crop_w, height=part.h)
        part = part.resized(new_size=(WIDTH, HEIGHT))
        parts.append(part)
    video = concatenate_videoclips(parts)
    texts, start = [], 0.0
    for sentence, duration in zip(SENTENCES, durations, strict=True):
        text = TextClip(
            font=default_font(),
            text=sentence,
            font_size=86,
            color="white",
            stroke_color="black",
            stroke_width=10,
            method="caption",
            size=(WIDTH - 130, None),
        )
        texts.append(text.with_start(start).with_duration(duration).with_position(("center", 1250)))
        start += duration
    audio = concatenate_audioclips([AudioFileClip(str(w)) for w in wavs])
    final = CompositeVideoClip([video, *texts]).with_audio(audio).with_duration(sum(durations))
    final.write_videofile(
        str(work / "peer.mp4"),
        fps=FPS,
        codec="libx264",
        audio_codec="aac",
        preset=PRESET,
        ffmpeg_params=["-crf", str(CRF), "-pix_fmt", "yuv420p"],
        threads=2,
        logger=None,
    )
    final.close()
    for source in sources:
        source.close()
    return time.perf_counter() - started


def limit_frames(manifest_path: Path, raw: Path) -> int:
    """Write the pictures of dropkit's scenes (each clip cropped and scaled as dropkit does,
    without the subtitles) as raw yuv420p frames, before any clock starts."""
    manifest = load_manifest(manifest_path)
    written = 0
    with raw.open("wb") as out:
        for scene in manifest.scenes:
            assert scene.source.path is not None
            wanted = manifest.frame_of(scene.start + scene.duration) - written
            source = VideoSource(Path(scene.source.path), 0.0, (WIDTH, HEIGHT), "cover")
            for n in range(wanted):
                for plane in source.planes_at(n / FPS):
                    out.write(plane.tobytes())
            source.close()
            written += wanted
    return written


def run_limit(raw: Path, frames: int, work: Path) -> float:
    """libx264 alone on those frames, read from the raw file (page cache) as it goes."""
    size = WIDTH * HEIGHT * 3 // 2
    started = time.perf_counter()
    with raw.open("rb") as source, av.open(str(work / "limit.mp4"), "w") as out:
        stream = out.add_stream("libx264", rate=FPS, options={"preset": PRESET, "crf": str(CRF)})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for index in range(frames):
            data = np.frombuffer(source.read(size), dtype=np.uint8).reshape(HEIGHT * 3 // 2, WIDTH)
            frame = av.VideoFrame.from_ndarray(data, format="yuv420p")
            frame.pts = index
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return time.perf_counter() - started


def rss_child(repeat: int, work: Path, clips: list[Path]) -> None:
    """Render ``repeat`` x the 4 sentences and print this process's peak RSS in KiB."""
    sentences = SENTENCES * repeat
    asyncio.run(voices(work / "voice", sentences))
    _, _, frames = run_dropkit(work / f"rss{repeat}", clips, sentences, "ultrafast")
    print(json.dumps({"frames": frames, "maxrss_kib": peak_rss_kib()}))


def peak_rss_kib() -> int:
    """This process's peak RSS (VmHWM). Not ru_maxrss: after fork+exec Linux carries the
    parent's peak over into it, so every child would report at least the parent's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure_rss(work: Path, clips: list[Path], repeat: int) -> tuple[int, int]:
    done = subprocess.run(
        [sys.executable, "-P", __file__, "--rss-child", str(repeat), "--work", str(work),
         *[str(c) for c in clips]],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    line = json.loads(done.stdout.strip().splitlines()[-1])
    return int(line["frames"]), int(line["maxrss_kib"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--rss", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--rss-child", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("clips", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child, args.work, args.clips)
        return
    with tempfile.TemporaryDirectory(prefix="dropkit-video-bench-") as tmp:
        work = Path(tmp)
        wavs = asyncio.run(voices(work / "voice", SENTENCES))
        seconds = sum(voice_duration(w) for w in wavs)
        clips = [make_clip(work / f"clip{n}.mp4", n * 90, 5.0) for n in range(4)]
        print(f"job: {len(SENTENCES)} sentences, {seconds:.1f} s of speech, 4 clips 1280x720@30")
        dropkit_s, manifest, frames = run_dropkit(work, clips, SENTENCES, PRESET)
        print(f"dropkit: {dropkit_s:7.2f} s  {frames / dropkit_s:6.1f} frames/s  ({frames} frames)")
        raw = work / "frames.yuv"
        if limit_frames(manifest, raw) != frames:
            raise SystemExit("the limit must encode as many frames as dropkit")
        limit_s = run_limit(raw, frames, work)
        print(f"limit:   {limit_s:7.2f} s  {frames / limit_s:6.1f} frames/s  (libx264 alone)")
        peer_s = run_peer(work, clips, wavs) if args.peer else float("nan")
        print(f"peer:    {peer_s:7.2f} s  {frames / peer_s:6.1f} frames/s  (MoviePy 2.x)")
        rss_ratio = float("nan")
        if args.rss:
            short_frames, short_rss = measure_rss(work, clips, 1)
            long_frames, long_rss = measure_rss(work, clips, 4)
            rss_ratio = long_rss / short_rss
            print(
                f"peak RSS: {short_frames / FPS:.0f} s -> {short_rss / 1024:.0f} MiB, "
                f"{long_frames / FPS:.0f} s -> {long_rss / 1024:.0f} MiB"
            )
        figures = {
            "dropkit_s": round(dropkit_s, 2),
            "peer_s": round(peer_s, 2),
            "limit_s": round(limit_s, 2),
            "speedup_vs_peer": round(peer_s / dropkit_s, 2),
            "ratio_to_limit": round(dropkit_s / limit_s, 3),
            "rss_ratio_60_15": round(rss_ratio, 3),
        }
        # A part skipped with --no-peer / --no-rss is null, not NaN (which is not JSON).
        print(json.dumps({k: None if math.isnan(v) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
