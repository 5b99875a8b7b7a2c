"""JSON text that both databases store: strict (no NaN/Infinity) and free of NUL characters.

PostgreSQL's ``jsonb`` and ``text`` refuse ``\\u0000``, and ``NaN``/``Infinity`` are not JSON at
all; SQLite would take both. Checking here makes both engines accept and refuse the same
values, before anything is written.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["dumps_strict", "printable"]

# \u0000 preceded by an even number of backslashes: an escaped NUL, not an escaped backslash.
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def dumps_strict(value: Any) -> str:
    """``json.dumps`` that refuses NaN, Infinity and NUL characters with a ``ValueError``."""
    text = json.dumps(value, allow_nan=False)
    if "\\u0000" in text and _NUL_ESCAPE.search(text):
        raise ValueError("JSON text contains a NUL character (\\u0000)")
    return text


def printable(text: str) -> str:
    """``text`` with NUL characters made visible, for columns that cannot store them."""
    return text.replace("\x00", "\\x00")
