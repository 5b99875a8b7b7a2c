"""OpenAI text-to-speech (or any server speaking its ``audio/speech`` API) through the SDK."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from dropkit.media.errors import MediaInputError, ProviderError
from dropkit.media.files import write_atomic
from dropkit.media.voice import NORMAL_RATE, cache_key

__all__ = ["OpenAIVoice"]


class OpenAIVoice:
    """One ``audio.speech.create`` call per sentence, WAV, cached by content hash."""

    def __init__(
        self,
        cache_dir: Path,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        model: str = "gpt-4o-mini-tts",
        voice: str = "alloy",
        speed: float = 1.0,
        client: Any = None,
        timeout: float = 60.0,
        max_retries: int = 2,
    ) -> None:
        import openai

        self.cache_dir = cache_dir
        self.model, self.voice, self.speed = model, voice, speed
        self.client = client or openai.AsyncOpenAI(
            api_key=api_key or "unset", base_url=base_url, timeout=timeout, max_retries=max_retries
        )
        self._owns_client = client is None

    def at_rate(self, words_per_minute: int) -> OpenAIVoice:
        """The same voice and client, ``words_per_minute / 170`` times faster (0.25-4x)."""
        faster = copy.copy(self)
        faster.speed = min(4.0, max(0.25, self.speed * words_per_minute / NORMAL_RATE))
        faster._owns_client = False  # closed once, by the original
        return faster

    async def speak(self, text: str) -> Path:
        import openai

        text = " ".join(text.split())
        if not text:
            raise MediaInputError("voice", "empty sentence")
        key = cache_key(
            "openai", str(self.client.base_url), self.model, self.voice, self.speed, text
        )
        path = self.cache_dir / f"{key}.wav"
        if path.is_file():
            return path
        try:
            response = await self.client.audio.speech.create(
                model=self.model,
                voice=self.voice,
                input=text,
                response_format="wav",
                speed=self.speed,
            )
        except openai.OpenAIError as exc:
            raise ProviderError(
                "voice", f"speech request failed: {exc}", file=str(self.client.base_url)
            ) from exc
        data = response.content
        if not data.startswith(b"RIFF"):
            raise ProviderError(
                "voice", "speech response is not WAV audio", file=str(self.client.base_url)
            )
        return write_atomic(path, data)

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.close()
