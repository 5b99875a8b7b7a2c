"""Voice-over: one TTS call per sentence, so each scene lasts exactly as long as its audio.

Every voice caches by a hash of (engine, settings, text): re-rendering an edited manifest or a
second variant never synthesises the same sentence twice, and flaky remote TTS is hit once.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import anyio

from dropkit.media.errors import MediaInputError, ProviderError
from dropkit.media.files import write_atomic

__all__ = ["NORMAL_RATE", "EspeakVoice", "RateAdjustable", "Voice", "cache_key"]


NORMAL_RATE = 170  # words per minute: VideoSpec.voice_rate's default, a voice's own pace


class Voice(Protocol):
    """Speaks one sentence into an audio file and returns its path."""

    async def speak(self, text: str) -> Path: ...


@runtime_checkable
class RateAdjustable(Protocol):
    """A voice that can speak faster or slower: the pipeline applies ``VideoSpec.voice_rate``
    through it (relative to :data:`NORMAL_RATE`, so the default keeps the voice's own pace)."""

    def at_rate(self, words_per_minute: int) -> Voice: ...


def cache_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


class EspeakVoice:
    """Offline speech with the ``espeak-ng`` program (WAV on stdout), one call per sentence."""

    def __init__(
        self,
        cache_dir: Path,
        *,
        voice: str = "en-us",
        rate: int = 170,
        volume: float = 1.0,
        pitch: int = 50,
        binary: str = "espeak-ng",
    ) -> None:
        self.cache_dir = cache_dir
        self.voice, self.rate, self.volume, self.pitch = voice, rate, volume, pitch
        self.binary = binary

    def at_rate(self, words_per_minute: int) -> EspeakVoice:
        """This voice ``words_per_minute / 170`` times faster (espeak-ng accepts 80-450)."""
        rate = min(450, max(80, round(self.rate * words_per_minute / NORMAL_RATE)))
        return EspeakVoice(
            self.cache_dir,
            voice=self.voice,
            rate=rate,
            volume=self.volume,
            pitch=self.pitch,
            binary=self.binary,
        )

    async def speak(self, text: str) -> Path:
        text = " ".join(text.split())
        if not text:
            raise MediaInputError("voice", "empty sentence")
        key = cache_key("espeak", self.voice, self.rate, self.volume, self.pitch, text)
        path = self.cache_dir / f"{key}.wav"
        if path.is_file():
            return path
        program = shutil.which(self.binary)
        if program is None:
            raise ProviderError("voice", f"{self.binary} is not installed", file=self.binary)
        command = [
            program, "--stdout", "--stdin",
            "-v", self.voice,
            "-s", str(self.rate),
            "-a", str(round(100 * self.volume)),
            "-p", str(self.pitch),
        ]  # fmt: skip
        try:
            with anyio.fail_after(60):
                done = await anyio.run_process(command, input=text.encode(), check=False)
        except TimeoutError as exc:
            raise ProviderError("voice", "espeak-ng timed out", file=program) from exc
        except (OSError, anyio.BrokenResourceError, ExceptionGroup) as exc:
            # The program died before reading its input (broken pipe), or could not start.
            raise ProviderError("voice", f"espeak-ng failed: {exc!r}", file=program) from exc
        if done.returncode != 0 or not done.stdout.startswith(b"RIFF"):
            message = done.stderr.decode(errors="replace").strip() or f"exit {done.returncode}"
            raise ProviderError("voice", f"espeak-ng failed: {message}", file=program)
        return write_atomic(path, done.stdout)
