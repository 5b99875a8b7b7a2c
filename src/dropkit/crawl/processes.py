"""Chromium's footprint, read from ``/proc``: its processes under ours and their summed RSS.

Chromium is a tree (browser, zygotes, GPU, one renderer per site), so its memory is the sum
over the tree; a leak shows there long before it kills anything. Linux only; elsewhere the
functions report nothing and memory-based recycling is off.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

__all__ = ["chromium_processes", "descendants", "rss_bytes"]

_PROC: Final = Path("/proc")
_PAGE: Final = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _parents() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in _PROC.iterdir() if _PROC.is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended while we looked
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after it
        fields = stat[stat.rfind(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, grandchildren...)."""
    children: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
    found: list[int] = []
    stack = list(children.get(pid, ()))
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(children.get(current, ()))
    return found


def _name(pid: int) -> str:
    try:
        return (_PROC / str(pid) / "comm").read_text().strip()
    except OSError:
        return ""


def chromium_processes(root: int | None = None) -> list[int]:
    """Chromium processes started (indirectly) by ``root`` (default: this process)."""
    return [
        pid
        for pid in descendants(os.getpid() if root is None else root)
        if "chrom" in _name(pid).lower()
    ]


def rss_bytes(pids: list[int]) -> int:
    """Resident memory of ``pids`` summed, in bytes (processes that ended count zero)."""
    total = 0
    for pid in pids:
        try:
            resident = int((_PROC / str(pid) / "statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        total += resident * _PAGE
    return total
