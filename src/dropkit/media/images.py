"""Reading still images (product shots, logos) with a size limit checked before decoding.

Pillow refuses only absurd images (a ``DecompressionBombError``, which is not an ``OSError``)
and merely warns below that; a 100-megapixel PNG would still cost gigabytes to decode and
scale. The header's size is checked against :data:`MAX_PIXELS` first, and every failure is a
:class:`MediaInputError` naming the file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from dropkit.media.errors import MediaInputError

__all__ = ["MAX_PIXELS", "read_image"]

MAX_PIXELS = 40_000_000  # 40 MP: more than any camera shot or logo needs


def read_image(path: Path, stage: str, mode: str = "RGB") -> Image.Image:
    """Decode ``path`` into ``mode``; missing, unreadable or huge files are refused."""
    try:
        with warnings.catch_warnings():
            # Our own limit (checked below, before any decoding) is lower than Pillow's.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise MediaInputError(
                        stage,
                        f"image is {width}x{height}, over the {MAX_PIXELS:,} pixel limit",
                        file=path,
                    )
                image.load()
                converted: Image.Image = image.convert(mode)
                return converted
    except FileNotFoundError as exc:
        raise MediaInputError(stage, "file not found", file=path) from exc
    except Image.DecompressionBombError as exc:
        raise MediaInputError(stage, f"image is too large: {exc}", file=path) from exc
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise MediaInputError(stage, f"cannot read image: {exc}", file=path) from exc
