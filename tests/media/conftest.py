"""Media fixtures: small generated clips and images, made once per session with PyAV/Pillow."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from media_helpers import make_clip
from PIL import Image


@pytest.fixture(scope="session")
def media_assets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with two clips named for search terms, a product image and a logo."""
    root = tmp_path_factory.mktemp("media-assets")
    make_clip(root / "lamp.mp4", hue=0)
    make_clip(root / "desk.mp4", hue=120)
    pixels = np.zeros((200, 300, 3), dtype=np.uint8)
    pixels[:, :, 0] = np.linspace(0, 255, 300, dtype=np.uint8)
    pixels[:, :, 2] = 200
    Image.fromarray(pixels).save(root / "product.png")
    Image.new("RGBA", (64, 32), (255, 0, 0, 255)).save(root / "logo.png")
    speech = subprocess.run(
        ["espeak-ng", "--stdout", "hello from the test server"], capture_output=True, check=True
    )
    (root / "speech.wav").write_bytes(speech.stdout)
    return root


@pytest.fixture(scope="session")
def voice_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One espeak cache for the session: each sentence is synthesised once."""
    return tmp_path_factory.mktemp("voice-cache")
