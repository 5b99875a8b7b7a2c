"""Chromium's footprint, read from ``/proc``: a browser's process tree and its summed RSS.

Chromium is a tree (browser, zygotes, GPU, one renderer per site), so its memory is the sum
over the tree; a leak shows there long before it kills anything. A pool finds its own browsers
by a marker flag on their command line (not by parentage: a Chromium whose Playwright driver
died is re-parented to init, and two pools in one process must not see each other's browsers),
and :class:`ProcessTracker` remembers every process it saw so that, after closing, it can tell
whether any of them is still alive. Linux only; elsewhere nothing is reported and
memory-based recycling is off.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

__all__ = [
    "ProcessTracker",
    "chromium_processes",
    "descendants",
    "marked_processes",
    "rss_bytes",
]

_PROC: Final = Path("/proc")
_PAGE: Final = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_CHROMIUM_NAMES: Final = ("chrom", "headless_shell")


def _pids() -> list[int]:
    if not _PROC.is_dir():
        return []
    return [int(entry.name) for entry in _PROC.iterdir() if entry.name.isdigit()]


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after ``comm`` (state first), or None if gone."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:  # the process ended while we looked
        return None
    # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after it
    return stat[stat.rfind(")") + 2 :].split()


def _parents() -> dict[int, int]:
    parents: dict[int, int] = {}
    for pid in _pids():
        fields = _stat(pid)
        if fields is not None:
            parents[pid] = int(fields[1])
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
        if any(name in _name(pid).lower() for name in _CHROMIUM_NAMES)
    ]


def marked_processes(marker: str) -> list[int]:
    """Every process on the machine whose command line holds the argument ``marker``."""
    wanted = marker.encode()
    found: list[int] = []
    for pid in _pids():
        try:
            argv = (_PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if wanted in argv:
            found.append(pid)
    return found


def _started(pid: int) -> int | None:
    """Start time of a live ``pid`` (tells a reused pid apart); None if gone or a zombie."""
    fields = _stat(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])  # starttime, field 22 of stat


class ProcessTracker:
    """Finds the process trees of browsers launched with ``marker`` and remembers them."""

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self._seen: dict[int, int] = {}  # pid -> start time

    def current(self) -> list[int]:
        """The marked browsers and everything below them, now; each is remembered."""
        self._seen = {pid: s for pid, s in self._seen.items() if _started(pid) == s}
        tree: list[int] = []
        for root in marked_processes(self.marker):
            tree.append(root)
            tree.extend(descendants(root))
        for pid in tree:
            started = _started(pid)
            if started is not None:
                self._seen[pid] = started
        return tree

    def leftover(self) -> list[int]:
        """Processes seen so far (or still marked) that are alive: after closing, a leak."""
        alive = {pid for pid, started in self._seen.items() if _started(pid) == started}
        alive.update(pid for pid in marked_processes(self.marker) if _started(pid) is not None)
        return sorted(alive)


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
