"""Finding a browser's processes by their marker, also once they left our process tree."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid

from dropkit.crawl.processes import (
    ProcessTracker,
    chromium_processes,
    descendants,
    marked_processes,
)

SLEEPER = (
    "import subprocess, sys, time;"
    " subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']);"
    " time.sleep(30)"
)


def _wait(condition: object, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def test_a_re_parented_leftover_is_still_found() -> None:
    marker = f"--dropkit-pool={uuid.uuid4().hex}"
    # The shell backgrounds the marked process and exits: like a Chromium whose Playwright
    # driver died, it is re-parented away from us.
    launcher = subprocess.run(
        ["sh", "-c", f'"{sys.executable}" -c "{SLEEPER}" {marker} >/dev/null 2>&1 & echo $!'],
        capture_output=True,
        text=True,
        check=True,
    )
    root = int(launcher.stdout.strip())
    tracker = ProcessTracker(marker)
    try:
        _wait(lambda: len(tracker.current()) == 2)  # the marked root and its child
        tree = tracker.current()
        child = next(pid for pid in tree if pid != root)
        assert marked_processes(marker) == [root]
        assert not set(tree) & set(descendants(os.getpid()))  # invisible by parentage
        assert root not in chromium_processes()
        _kill(root)  # the child loses its marked parent: only the tracker's memory knows it
        _wait(lambda: root not in tracker.leftover())
        assert tracker.leftover() == [child]
    finally:
        for pid in tracker.current() + tracker.leftover() + [root]:
            _kill(pid)
    _wait(lambda: tracker.leftover() == [])
