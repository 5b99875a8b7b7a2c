"""Bad input: a MediaError naming the stage and the file, and nothing left behind."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from media_helpers import small_spec

from dropkit.core.errors import MediaError
from dropkit.media import (
    EspeakVoice,
    LocalFolderFootage,
    MediaInputError,
    ProductImageFootage,
    VideoFactory,
    VideoSpec,
    load_manifest,
    render_manifest,
)
from dropkit.media.timeline import AudioPlan, Manifest, Scene, Source


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and "cache" not in p.parts)


@pytest.fixture
def corrupt_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "footage"
    folder.mkdir()
    (folder / "lamp.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    return folder


async def test_corrupt_video_names_stage_and_file(
    tmp_path: Path, corrupt_folder: Path, voice_cache: Path
) -> None:
    factory = VideoFactory(
        tmp_path / "data",
        voice=EspeakVoice(voice_cache),
        footage=[LocalFolderFootage(corrupt_folder)],
    )
    with pytest.raises(MediaError) as caught:
        await factory.render(small_spec())
    assert isinstance(caught.value, MediaInputError)
    assert caught.value.stage == "footage"
    assert caught.value.file == str(corrupt_folder / "lamp.mp4")
    assert _files(tmp_path / "data") == []


async def test_missing_logo_and_bad_image(tmp_path: Path, voice_cache: Path) -> None:
    factory = VideoFactory(tmp_path / "data", voice=EspeakVoice(voice_cache))
    with pytest.raises(MediaInputError) as caught:
        await factory.render(small_spec(logo=str(tmp_path / "nope.png")))
    assert (caught.value.stage, caught.value.file) == ("overlays", str(tmp_path / "nope.png"))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(MediaInputError) as caught:
        await factory.render(
            small_spec(script=None, product={"title": "Lamp", "images": (str(bad),)})
        )
    assert (caught.value.stage, caught.value.file) == ("footage", str(bad))
    assert _files(tmp_path / "data") == []
    with pytest.raises(MediaInputError, match="product image not found"):
        ProductImageFootage([str(tmp_path / "missing.jpg")])


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"script": ["  ", ""]}, "script is empty"),
        ({}, "give a product, a prompt or a script"),
        ({"script": ["Hi."], "resolution": 100_000}, "resolution"),
        ({"script": ["Hi."], "max_duration": 100_000}, "max_duration"),
        ('{"script": ["Hi."], "fps": "fast"}', "fps"),
    ],
)
def test_bad_specs_are_refused(data: object, needle: str) -> None:
    with pytest.raises(MediaInputError, match=needle) as caught:
        VideoSpec.parse(data)
    assert caught.value.stage == "spec"


async def test_absurd_duration_and_outside_paths(tmp_path: Path, voice_cache: Path) -> None:
    factory = VideoFactory(tmp_path / "data", voice=EspeakVoice(voice_cache))
    with pytest.raises(MediaInputError, match="exceeds max_duration") as caught:
        await factory.render(small_spec(max_duration=0.5))
    assert caught.value.stage == "timeline"
    with pytest.raises(MediaInputError, match="outside") as caught:
        await factory.render(small_spec(), out_dir=tmp_path / "elsewhere")
    assert caught.value.stage == "output"
    assert not (tmp_path / "elsewhere").exists()


def test_missing_source_and_bad_manifest(tmp_path: Path) -> None:
    manifest = Manifest(
        width=64,
        height=64,
        fps=10,
        duration=1.0,
        scenes=(
            Scene(text="x", start=0, duration=1, source=Source(kind="video", path="/nope.mp4")),
        ),
    )
    with pytest.raises(MediaInputError) as caught:
        render_manifest(manifest, tmp_path / "out.mp4")
    assert (caught.value.stage, caught.value.file) == ("footage", "/nope.mp4")
    assert list(tmp_path.iterdir()) == []
    odd = manifest.model_copy(update={"width": 65})
    with pytest.raises(MediaInputError, match="even"):
        render_manifest(odd, tmp_path / "out.mp4")
    broken = tmp_path / "broken.json"
    broken.write_text('{"width": 64}')
    with pytest.raises(MediaInputError, match="invalid manifest") as caught:
        load_manifest(broken)
    assert caught.value.stage == "timeline"
    with pytest.raises(MediaInputError, match="cannot read"):
        load_manifest(tmp_path / "absent.json")


async def test_espeak_failure_is_a_provider_error(tmp_path: Path) -> None:
    from dropkit.media import ProviderError

    voice = EspeakVoice(tmp_path, binary="false")  # exits 1 without audio
    with pytest.raises(ProviderError) as caught:
        await voice.speak("Hello there.")
    assert caught.value.stage == "voice"
    with pytest.raises(MediaInputError):
        await EspeakVoice(tmp_path).speak("   ")
    assert _files(tmp_path) == []
    missing = EspeakVoice(tmp_path, binary="definitely-not-espeak")
    with pytest.raises(ProviderError, match="not installed"):
        await missing.speak("Hello.")


def test_streams_of_the_wrong_kind_are_refused(tmp_path: Path, media_assets: Path) -> None:
    speech = str(media_assets / "speech.wav")
    scene = Scene(text="x", start=0, duration=1, source=Source(kind="video", path=speech))
    manifest = Manifest(width=64, height=64, fps=10, duration=1.0, scenes=(scene,))
    with pytest.raises(MediaInputError, match="no video stream") as caught:
        render_manifest(manifest, tmp_path / "out.mp4")
    assert (caught.value.stage, caught.value.file) == ("footage", speech)
    clip = str(media_assets / "lamp.mp4")  # a video without sound is no music
    flat = Scene(text="x", start=0, duration=1, source=Source(kind="gradient"))
    with_music = Manifest(
        width=64,
        height=64,
        fps=10,
        duration=1.0,
        scenes=(flat,),
        audio=AudioPlan(music=clip),
    )
    with pytest.raises(MediaInputError, match="no audio stream") as caught:
        render_manifest(with_music, tmp_path / "out.mp4")
    assert (caught.value.stage, caught.value.file) == ("music", clip)
    assert list(tmp_path.iterdir()) == []


def test_manifest_parse_names_the_field(tmp_path: Path) -> None:
    good = _flat_manifest()
    assert Manifest.parse(good.model_dump_json()) == good
    assert Manifest.parse(good.model_dump()) == good
    with pytest.raises(MediaInputError, match="invalid manifest at fps: ") as caught:
        Manifest.parse({**good.model_dump(), "fps": 0}, file=tmp_path / "m.json")
    assert (caught.value.stage, caught.value.file) == ("timeline", str(tmp_path / "m.json"))
    with pytest.raises(MediaInputError, match="resolution: Input should be greater"):
        VideoSpec.parse({"script": ["Hi."], "resolution": 2})


def _flat_manifest(**overrides: object) -> Manifest:
    scene = Scene(text="x", start=0, duration=1, source=Source(kind="gradient"))
    values: dict[str, object] = {
        "width": 64, "height": 64, "fps": 10, "duration": 1.0, "scenes": (scene,)
    }  # fmt: skip
    values.update(overrides)
    return Manifest.model_validate(values)


def test_output_and_thumbnail_failures_are_stage_errors(tmp_path: Path) -> None:
    from dropkit.media import StageError

    out = tmp_path / "out.mp4"
    (tmp_path / ".out.mp4.partial").mkdir()  # the temp file cannot be created
    with pytest.raises(StageError) as caught:
        render_manifest(_flat_manifest(), out)
    assert (caught.value.stage, caught.value.file) == ("encode", str(out))
    (tmp_path / ".out.mp4.partial").rmdir()
    thumb = tmp_path / "thumb.jpg"
    thumb.mkdir()  # a directory where the thumbnail should go
    with pytest.raises(StageError) as caught:
        render_manifest(_flat_manifest(), out, thumbnail=thumb)
    assert (caught.value.stage, caught.value.file) == ("thumbnail", str(thumb))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thumb.jpg"]  # no MP4, no temp files
    assert list(thumb.iterdir()) == []


def _huge_png(path: Path, width: int, height: int) -> Path:
    """A 1x1 PNG whose header claims ``width`` x ``height`` (the size check must come first)."""
    import struct
    import zlib

    from PIL import Image

    Image.new("L", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = 8 + 8  # signature, then the IHDR chunk's length and type
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr - 4 : ihdr + 13]))
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", crc)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("size", [(9000, 9000), (20000, 20000)])  # our limit; Pillow's bomb
def test_huge_images_are_refused_before_decoding(tmp_path: Path, size: tuple[int, int]) -> None:
    from dropkit.media.timeline import ImageLayer

    huge = _huge_png(tmp_path / "huge.png", *size)
    still = Scene(text="x", start=0, duration=1, source=Source(kind="image", path=str(huge)))
    with pytest.raises(MediaInputError, match=r"pixel limit|too large") as caught:
        render_manifest(_flat_manifest(scenes=(still,)), tmp_path / "a.mp4")
    assert (caught.value.stage, caught.value.file) == ("footage", str(huge))
    logo = ImageLayer(path=str(huge), start=0, end=1)
    with pytest.raises(MediaInputError, match=r"pixel limit|too large") as caught:
        render_manifest(_flat_manifest(images=(logo,)), tmp_path / "b.mp4")
    assert (caught.value.stage, caught.value.file) == ("overlays", str(huge))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["huge.png"]


class _CancellingVoice:
    """Speaks with espeak-ng, and the user cancels while it does."""

    def __init__(self, inner: EspeakVoice, cancel: threading.Event) -> None:
        self.inner, self.cancel = inner, cancel

    async def speak(self, text: str) -> Path:
        path = await self.inner.speak(text)
        self.cancel.set()
        return path


async def test_cancel_is_seen_between_stages(tmp_path: Path, voice_cache: Path) -> None:
    from dropkit.media import RenderCancelled

    cancel = threading.Event()
    factory = VideoFactory(tmp_path, voice=_CancellingVoice(EspeakVoice(voice_cache), cancel))
    stages: list[str] = []
    with pytest.raises(RenderCancelled) as caught:
        await factory.render(
            small_spec(), cancel=cancel, progress=lambda stage, done, total: stages.append(stage)
        )
    assert caught.value.stage == "footage"  # stopped before planning, not mid-encode
    assert stages == ["script", "voice"]
    assert _files(tmp_path) == []


def test_a_cancel_after_the_last_frame_keeps_no_file(tmp_path: Path) -> None:
    from dropkit.media import RenderCancelled

    cancel = threading.Event()

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "compose" and done == total:
            cancel.set()  # the caller gave up as the last frame was encoded

    out = tmp_path / "late.mp4"
    with pytest.raises(RenderCancelled):
        render_manifest(_flat_manifest(), out, progress=progress, cancel=cancel)
    assert list(tmp_path.iterdir()) == []
