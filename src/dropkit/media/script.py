"""Scripts: the sentences a video narrates, each with the words to search footage for.

:class:`TemplateScriptWriter` writes a good short ad from product facts offline (hook,
features, price/offer, call to action); a user-written script is taken as it is.
"""

from __future__ import annotations

import re
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from dropkit.media.errors import MediaInputError
from dropkit.media.spec import ProductBrief, VideoSpec

__all__ = ["Script", "ScriptScene", "ScriptWriter", "TemplateScriptWriter", "script_from_sentences"]

_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "our",
        "so",
        "that",
        "the",
        "this",
        "to",
        "with",
        "you",
        "your",
        "yours",
        "now",
        "only",
        "today",
        "while",
    ]
)


class ScriptScene(BaseModel):
    """One sentence, the search terms for its footage and the words to emphasise."""

    model_config = ConfigDict(frozen=True)

    sentence: str = Field(min_length=1, max_length=400)
    search_terms: tuple[str, ...] = ()
    emphasis: tuple[str, ...] = ()


class Script(BaseModel):
    model_config = ConfigDict(frozen=True)

    scenes: tuple[ScriptScene, ...] = Field(min_length=1, max_length=40)
    language: str = "en"


class ScriptWriter(Protocol):
    async def write(self, spec: VideoSpec, *, variant: int = 0) -> Script: ...


def keywords(sentence: str, limit: int = 3) -> tuple[str, ...]:
    """The longest content words of a sentence, as footage search terms."""
    words = [w.lower() for w in re.findall(r"[A-Za-z][A-Za-z'-]+", sentence)]
    content = [w for w in dict.fromkeys(words) if w not in _STOP and len(w) > 2]
    return tuple(sorted(content, key=len, reverse=True)[:limit])


def script_from_sentences(sentences: tuple[str, ...] | list[str], language: str = "en") -> Script:
    """A user-written script, used as it is (blank lines dropped)."""
    cleaned = [" ".join(s.split()) for s in sentences if s.strip()]
    if not cleaned:
        raise MediaInputError("script", "the script is empty")
    return Script(
        scenes=tuple(ScriptScene(sentence=s, search_terms=keywords(s)) for s in cleaned),
        language=language,
    )


_HOOKS = (
    "Meet the {title}.",
    "Looking for a better {noun}? Say hello to the {title}.",
    "This is the {title}, and you will want one.",
)


class TemplateScriptWriter:
    """An offline ad script from product data; variants change the hook and the feature order."""

    async def write(self, spec: VideoSpec, *, variant: int = 0) -> Script:
        if spec.script is not None:
            return script_from_sentences(spec.script, spec.language)
        product = spec.product
        if product is None:
            return script_from_sentences(_prompt_sentences(spec.prompt or ""), spec.language)
        return _product_script(product, variant, spec.language)


def _prompt_sentences(prompt: str) -> list[str]:
    parts = [p.strip() for p in re.split(r"(?<=[.!?])\s+", prompt) if p.strip()]
    if not parts:
        raise MediaInputError("script", "the prompt is empty")
    return parts


def _product_script(product: ProductBrief, variant: int, language: str) -> Script:
    noun = product.title.split()[-1].lower()
    scenes = [
        ScriptScene(
            sentence=_HOOKS[variant % len(_HOOKS)].format(title=product.title, noun=noun),
            search_terms=(noun, *keywords(product.title, 2)),
            emphasis=(product.title.split()[0],),
        )
    ]
    details = [f.rstrip(".") + "." for f in product.features if f.strip()]
    if product.description.strip():
        details.insert(0, product.description.strip().rstrip(".") + ".")
    if variant and len(details) > 1:
        shift = variant % len(details)
        details = details[shift:] + details[:shift]
    scenes.extend(ScriptScene(sentence=d, search_terms=keywords(d) or (noun,)) for d in details[:3])
    if product.price:
        price = f"Now just {product.price}"
        if product.compare_at:
            price += f", down from {product.compare_at}"
        if product.offer:
            price += f". {product.offer.rstrip('.')}"
        scenes.append(
            ScriptScene(
                sentence=price + ".", search_terms=(noun, "shopping"), emphasis=(product.price,)
            )
        )
    scenes.append(
        ScriptScene(
            sentence=product.call_to_action.rstrip(".!") + "!",
            search_terms=(noun, "happy customer"),
            emphasis=tuple(product.call_to_action.split()[:1]),
        )
    )
    return Script(scenes=tuple(scenes), language=language)
