"""Scripts: the sentences a video narrates, each with the words to search footage for.

:class:`TemplateScriptWriter` writes a good short ad from product facts offline (hook,
features, price/offer, call to action) in English, in one of a few tones; other languages and
tones need an LLM (:class:`~dropkit.media.OpenAIScriptWriter`). A user-written script is taken
as it is, in any language.
"""

from __future__ import annotations

import re
from typing import NamedTuple, Protocol

from pydantic import BaseModel, ConfigDict, Field

from dropkit.media.errors import MediaInputError
from dropkit.media.spec import ProductBrief, VideoSpec

__all__ = [
    "TONES",
    "Script",
    "ScriptScene",
    "ScriptWriter",
    "TemplateScriptWriter",
    "script_from_sentences",
]

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


class _Tone(NamedTuple):
    hooks: tuple[str, ...]  # one per variant, in turn
    price: str  # the price sentence's opening
    cta_end: str  # how the call to action ends


TONES: dict[str, _Tone] = {
    "upbeat": _Tone(
        (
            "Meet the {title}.",
            "Looking for a better {noun}? Say hello to the {title}.",
            "This is the {title}, and you will want one.",
        ),
        "Now just {price}",
        "!",
    ),
    "friendly": _Tone(
        (
            "Say hi to the {title}.",
            "Here is a little something for your {noun}: the {title}.",
            "We think you will love the {title}.",
        ),
        "It is only {price}",
        ".",
    ),
    "urgent": _Tone(
        (
            "Stop scrolling: the {title} is here.",
            "Do not miss the {title}.",
            "The {title} is selling fast.",
        ),
        "Today only {price}",
        " now!",
    ),
    "premium": _Tone(
        (
            "Introducing the {title}.",
            "The {title}, made for those who expect more from a {noun}.",
            "Discover the {title}.",
        ),
        "Yours for {price}",
        ".",
    ),
}


class TemplateScriptWriter:
    """An offline ad script from product data; variants change the hook and the feature order.

    Writes English in the tones of :data:`TONES`; any other language or tone is refused with a
    :class:`MediaInputError` rather than silently narrated in English or in another tone.
    """

    async def write(self, spec: VideoSpec, *, variant: int = 0) -> Script:
        if spec.script is not None:
            return script_from_sentences(spec.script, spec.language)
        product = spec.product
        if product is None:
            return script_from_sentences(_prompt_sentences(spec.prompt or ""), spec.language)
        if spec.language.lower().split("-")[0] != "en":
            raise MediaInputError(
                "script",
                f"the template script writer writes English only, not {spec.language!r}:"
                " give a script, or use OpenAIScriptWriter for other languages",
            )
        tone = TONES.get(spec.tone.lower())
        if tone is None:
            raise MediaInputError(
                "script",
                f"the template script writer has no {spec.tone!r} tone (it has"
                f" {', '.join(TONES)}): use OpenAIScriptWriter for other tones",
            )
        return _product_script(product, variant, spec.language, tone)


def _prompt_sentences(prompt: str) -> list[str]:
    parts = [p.strip() for p in re.split(r"(?<=[.!?])\s+", prompt) if p.strip()]
    if not parts:
        raise MediaInputError("script", "the prompt is empty")
    return parts


def _product_script(product: ProductBrief, variant: int, language: str, tone: _Tone) -> Script:
    noun = product.title.split()[-1].lower()
    scenes = [
        ScriptScene(
            sentence=tone.hooks[variant % len(tone.hooks)].format(title=product.title, noun=noun),
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
        price = tone.price.format(price=product.price)
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
            sentence=product.call_to_action.rstrip(".!") + tone.cta_end,
            search_terms=(noun, "happy customer"),
            emphasis=tuple(product.call_to_action.split()[:1]),
        )
    )
    return Script(scenes=tuple(scenes), language=language)
