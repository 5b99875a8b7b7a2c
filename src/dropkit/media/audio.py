"""Audio in numpy: decoding any file to mono 48 kHz, BS.1770 loudness, the voice/music mix.

Loudness follows ITU-R BS.1770-4 (K-weighting, 400 ms blocks, absolute and relative gates).
The K-weighting filters are applied in the frequency domain with their exact biquad
responses, which gives the same block energies as the recursive filters for these signal
lengths, without a per-sample Python loop.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from dropkit.media.errors import MediaInputError
from dropkit.media.timeline import AudioPlan

__all__ = ["SAMPLE_RATE", "integrated_loudness", "load_audio", "mix"]

SAMPLE_RATE = 48_000
F32 = npt.NDArray[np.float32]

# BS.1770 K-weighting at 48 kHz: high shelf, then high pass (RLB).
_SHELF = (
    [1.53512485958697, -2.69169618940638, 1.19839281085285],
    [1.0, -1.69065929318241, 0.73248077421585],
)
_HIGHPASS = ([1.0, -2.0, 1.0], [1.0, -1.99004745483398, 0.99007225036621])


def load_audio(path: Path, stage: str = "audio", *, max_samples: int | None = None) -> F32:
    """Decode the first audio stream of ``path`` to mono float32 at 48 kHz.

    With ``max_samples``, decoding stops once that many samples are in: a long music file
    under a short video costs only what is heard, not the whole file.
    """
    if not path.is_file():
        raise MediaInputError(stage, "file not found", file=path)
    chunks: list[F32] = []
    count = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise MediaInputError(stage, "no audio stream", file=path)
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            for frame in container.decode(container.streams.audio[0]):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
                    count += len(chunks[-1])
                if max_samples is not None and count >= max_samples:
                    break
            else:
                for out in resampler.resample(None):
                    chunks.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
                    count += len(chunks[-1])
    except av.FFmpegError as exc:
        raise MediaInputError(stage, f"corrupt or unsupported audio: {exc}", file=path) from exc
    if count == 0:
        raise MediaInputError(stage, "no audio samples", file=path)
    joined: F32 = np.concatenate(chunks)
    return joined[:max_samples] if max_samples is not None else joined


_STEREO_GAIN = 10 * float(np.log10(2))
_BIN = SAMPLE_RATE // 10  # 100 ms: the gating blocks' hop
_CHUNK = 100 * _BIN  # K-weighting runs over 10 s at a time (memory does not grow with length)
_CONTEXT = SAMPLE_RATE // 2  # the filters' response has died out long before 0.5 s


@lru_cache(maxsize=4)
def _response(n: int) -> npt.NDArray[np.complex128]:
    z = np.exp(-1j * np.linspace(0, np.pi, n // 2 + 1))
    response: npt.NDArray[np.complex128] = np.ones_like(z)
    for b, a in (_SHELF, _HIGHPASS):
        response *= (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)
    return response


def _bin_energies(channel: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """Sum of squared K-weighted samples per full 100 ms bin, filtered chunk by chunk."""
    n = 1 << int(np.ceil(np.log2(_CHUNK + _CONTEXT)))
    response = _response(n)
    bins: list[npt.NDArray[np.float64]] = []
    full = len(channel) // _BIN * _BIN
    for start in range(0, full, _CHUNK):
        lead = min(start, _CONTEXT)
        end = min(start + _CHUNK, full)
        segment = np.asarray(channel[start - lead : end], dtype=np.float64)
        weighted = np.fft.irfft(np.fft.rfft(segment, n) * response, n)[lead : lead + end - start]
        bins.append((weighted**2).reshape(-1, _BIN).sum(axis=1))
    return np.concatenate(bins) if bins else np.zeros(0)


def integrated_loudness(channels: npt.NDArray[np.floating], rate: int = SAMPLE_RATE) -> float:
    """Integrated loudness in LUFS of (channels, samples) audio at 48 kHz (-inf when silent)."""
    if rate != SAMPLE_RATE:
        raise ValueError("loudness is measured at 48 kHz")
    energy: npt.NDArray[np.float64] | None = None
    for channel in np.atleast_2d(channels):
        bins = _bin_energies(channel)
        if len(bins) < 4:
            return float("-inf")
        # 400 ms blocks every 100 ms: four consecutive bins.
        blocks = (bins[:-3] + bins[1:-2] + bins[2:-1] + bins[3:]) / (4 * _BIN)
        energy = blocks if energy is None else energy + blocks
    if energy is None:
        return float("-inf")
    with np.errstate(divide="ignore"):
        loudness = -0.691 + 10 * np.log10(energy)
    gated = energy[loudness > -70]
    if not len(gated):
        return float("-inf")
    relative = -0.691 + 10 * np.log10(gated.mean()) - 10
    final = energy[(loudness > -70) & (loudness > relative)]
    return float(-0.691 + 10 * np.log10(final.mean()))


def _smooth(envelope: F32, width: int) -> F32:
    kernel_sum = np.concatenate(([0.0], np.cumsum(envelope, dtype=np.float64)))
    half = width // 2
    index = np.arange(len(envelope))
    lo = np.clip(index - half, 0, len(envelope))
    hi = np.clip(index + half + 1, 0, len(envelope))
    smoothed: F32 = ((kernel_sum[hi] - kernel_sum[lo]) / (hi - lo)).astype(np.float32)
    return smoothed


def _limit(samples: F32, ceiling: float = 0.95) -> F32:
    """Soft knee above 0.7, in place: speech peaks are rounded off instead of clipping."""
    knee = 0.7
    over = np.abs(samples) > knee
    if over.any():
        peaks = samples[over]
        excess = (np.abs(peaks) - knee) / (ceiling - knee)
        samples[over] = np.sign(peaks) * (knee + (ceiling - knee) * np.tanh(excess))
    return samples


_DUCK_WIDTH = int(0.3 * SAMPLE_RATE)  # the ducking ramps over 0.3 s
_MIX_CHUNK = 10 * SAMPLE_RATE


def _music_gain(
    plan: AudioPlan, spans: list[tuple[int, int]], start: int, end: int, total: int
) -> F32:
    """The music's gain on samples ``start:end``: ducked where the voice speaks (a smoothed
    mask, computed with just enough context either side), faded out at the end."""
    half = _DUCK_WIDTH // 2
    lo, hi = max(0, start - half), min(total, end + half)
    speaking = np.zeros(hi - lo, dtype=np.float32)
    for a, b in spans:
        if a < hi and b > lo:
            speaking[max(a, lo) - lo : min(b, hi) - lo] = 1.0
    smoothed = _smooth(speaking, _DUCK_WIDTH)[start - lo : end - lo]
    gain: F32 = (1.0 - (1.0 - plan.duck) * smoothed).astype(np.float32)
    fade = min(total, int(plan.fade_out * SAMPLE_RATE))
    first = max(start, total - fade)
    if fade and first < end:  # 1 → 0 over the last ``fade`` samples
        steps = np.arange(first - (total - fade), end - (total - fade), dtype=np.float32)
        gain[first - start :] *= 1.0 - steps / max(1, fade - 1)
    gain *= np.float32(plan.music_volume)
    return gain


def mix(plan: AudioPlan, total: int, voices: list[F32]) -> F32:
    """The final track, mono (played on both stereo channels): voice, ducked looped music,
    normalised to the plan's loudness as heard in stereo.

    The track (float32) is the only full-length array: the music is decoded only as far as
    it is heard, and its gain is computed and applied 10 s at a time."""
    track = np.zeros(total, dtype=np.float32)
    spans: list[tuple[int, int]] = []
    for segment, samples in zip(plan.voice, voices, strict=True):
        start = min(total, round(segment.start * SAMPLE_RATE))
        end = min(total, start + len(samples))
        track[start:end] += samples[: end - start] * np.float32(plan.volume)
        spans.append((start, end))
    if plan.music is not None and plan.music_volume > 0:
        music = load_audio(Path(plan.music), "music", max_samples=total)
        for start in range(0, total, _MIX_CHUNK):
            end = min(total, start + _MIX_CHUNK)
            looped = music[np.arange(start, end) % len(music)]  # the music, looped
            track[start:end] += looped * _music_gain(plan, spans, start, end, total)
    for _ in range(3):  # the limiter lowers loudness a little; converge on the target
        # Identical left and right channels: stereo loudness is the mono figure + 3.01 dB.
        loudness = integrated_loudness(track[None, :]) + _STEREO_GAIN
        if not np.isfinite(loudness) or abs(loudness - plan.target_lufs) < 0.2:
            break
        track *= np.float32(10 ** ((plan.target_lufs - loudness) / 20))
        track = _limit(track)
    return track
