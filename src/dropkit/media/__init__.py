"""The product-video factory: script, voice, footage, timeline, PyAV compositor, jobs.

``VideoFactory(data_dir).render(VideoSpec(product=...))`` renders offline (template script,
espeak-ng voice, product images and generated backgrounds); ``kit.media`` adds durable jobs.

Importing this package needs only pydantic and httpx (so ``Dropkit`` can wire ``kit.media``
without the media extra); rendering imports PyAV, numpy and Pillow when it starts.
"""

from dropkit.media.captions import srt, vtt
from dropkit.media.errors import MediaInputError, ProviderError, RenderCancelled, StageError
from dropkit.media.events import VideoFailed, VideoRendered
from dropkit.media.factory import RENDER_JOB, VideoFactory
from dropkit.media.footage import (
    FootageProvider,
    GeneratedBackground,
    LocalFolderFootage,
    ProductImageFootage,
)
from dropkit.media.openai_script import OpenAIScriptWriter
from dropkit.media.openai_voice import OpenAIVoice
from dropkit.media.options import MediaOptions
from dropkit.media.pexels import PexelsFootage
from dropkit.media.rendering import integrated_loudness, load_audio, render_manifest
from dropkit.media.results import RenderedVideo, RenderStats, TaskStatus, VideoResult, VideoTask
from dropkit.media.schema import MEDIA_MIGRATIONS
from dropkit.media.script import Script, ScriptScene, ScriptWriter, TemplateScriptWriter
from dropkit.media.spec import Aspect, ProductBrief, Quality, SubtitleStyle, VideoSpec
from dropkit.media.timeline import Manifest, load_manifest, save_manifest
from dropkit.media.voice import EspeakVoice, Voice

__all__ = [
    "MEDIA_MIGRATIONS",
    "RENDER_JOB",
    "Aspect",
    "EspeakVoice",
    "FootageProvider",
    "GeneratedBackground",
    "LocalFolderFootage",
    "Manifest",
    "MediaInputError",
    "MediaOptions",
    "OpenAIScriptWriter",
    "OpenAIVoice",
    "PexelsFootage",
    "ProductBrief",
    "ProductImageFootage",
    "ProviderError",
    "Quality",
    "RenderCancelled",
    "RenderStats",
    "RenderedVideo",
    "Script",
    "ScriptScene",
    "ScriptWriter",
    "StageError",
    "SubtitleStyle",
    "TaskStatus",
    "TemplateScriptWriter",
    "VideoFactory",
    "VideoFailed",
    "VideoRendered",
    "VideoResult",
    "VideoSpec",
    "VideoTask",
    "Voice",
    "integrated_loudness",
    "load_audio",
    "load_manifest",
    "render_manifest",
    "save_manifest",
    "srt",
    "vtt",
]
