"""An LLM script writer through the openai SDK (OpenAI, Ollama, vLLM: any compatible base_url).

The model is asked for JSON scenes; the answer is validated with pydantic and the request
retried (with the validation error fed back) when it is malformed.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from dropkit.media.errors import ProviderError
from dropkit.media.script import Script, ScriptScene, TemplateScriptWriter
from dropkit.media.spec import VideoSpec

__all__ = ["OpenAIScriptWriter"]

_SYSTEM = (
    "You write scripts for short vertical product videos. Answer with JSON only: "
    '{"scenes": [{"sentence": str, "search_terms": [str], "emphasis": [str]}]}. '
    "One spoken sentence per scene, 4 to 7 scenes, each under 20 words; search_terms are 1-3 "
    "concrete English words for stock footage of what the sentence shows; emphasis are words "
    "of the sentence to highlight."
)


class _Answer(BaseModel):
    scenes: list[ScriptScene] = Field(min_length=1, max_length=40)


class OpenAIScriptWriter:
    """Structured scenes from a chat-completions model, with retries on malformed output."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        model: str = "gpt-4o-mini",
        attempts: int = 3,
        client: Any = None,
        timeout: float = 60.0,
    ) -> None:
        import openai

        self.model, self.attempts = model, max(1, attempts)
        self.client = client or openai.AsyncOpenAI(
            api_key=api_key or "unset", base_url=base_url, timeout=timeout, max_retries=2
        )
        self._owns_client = client is None

    def _brief(self, spec: VideoSpec, variant: int) -> str:
        lines = [f"Language: {spec.language}. Tone: {spec.tone}. Variant: {variant + 1}."]
        if spec.product is not None:
            lines.append("Product: " + spec.product.model_dump_json(exclude={"images"}))
        if spec.prompt:
            lines.append(f"Brief: {spec.prompt}")
        return "\n".join(lines)

    async def write(self, spec: VideoSpec, *, variant: int = 0) -> Script:
        import openai

        if spec.script is not None:
            return await TemplateScriptWriter().write(spec, variant=variant)
        messages: list[dict[str, str]] = [
            {"role": "system", "content": _SYSTEM},
            {"role": "user", "content": self._brief(spec, variant)},
        ]
        problem = "no answer"
        create: Any = self.client.chat.completions.create
        for _ in range(self.attempts):
            try:
                response = await create(
                    model=self.model,
                    messages=messages,
                    response_format={"type": "json_object"},
                    temperature=0.7,
                    seed=spec.seed + variant,
                )
            except openai.OpenAIError as exc:
                raise ProviderError(
                    "script", f"LLM request failed: {exc}", file=str(self.client.base_url)
                ) from exc
            content = response.choices[0].message.content or ""
            try:
                answer = _Answer.model_validate(json.loads(_strip_fence(content)))
            except (json.JSONDecodeError, ValidationError) as exc:
                problem = str(exc).splitlines()[0]
                messages += [
                    {"role": "assistant", "content": content},
                    {
                        "role": "user",
                        "content": f"That was not valid ({problem}). Answer with the JSON only.",
                    },
                ]
                continue
            return Script(scenes=tuple(answer.scenes), language=spec.language)
        raise ProviderError(
            "script",
            f"malformed LLM output after {self.attempts} attempts: {problem}",
            file=str(self.client.base_url),
        )

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.close()


def _strip_fence(text: str) -> str:
    """Models sometimes wrap JSON in a Markdown code fence."""
    text = text.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        text = text.rsplit("```", 1)[0]
    return text
