"""Every script in examples/ runs to completion (examples are tested code)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs(script: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip(), "an example should show what it did"


def test_durable_jobs_example_output(tmp_path: Path) -> None:
    script = next(p for p in EXAMPLES if p.stem == "durable_jobs")
    out = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout
    assert "same idempotency key, same job: True" in out
    assert "succeeded after 2 attempts" in out
    assert "acme has 42 SKUs" in out
