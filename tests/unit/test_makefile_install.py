"""The first `make demo` / `make test` installs for minutes: it says so and shows pip's progress."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_a_fresh_install_announces_itself_and_shows_progress(tmp_path: Path) -> None:
    # GIVEN no virtual environment yet, WHEN make plans the install (dry run: nothing is installed)
    plan = subprocess.run(  # noqa: S603 - make, fixed arguments
        ["make", "--no-print-directory", "-n", "install", f"VENV={tmp_path / 'venv'}"],  # noqa: S607
        cwd=REPO,
        # Not a sub-make of `make test`: a clean make, as a person types it.
        env={k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    # THEN it first says that this takes a few minutes, and pip's per-package output is not hidden
    lines = plan.splitlines()
    assert "the first run takes a few minutes" in lines[0]
    (requirements,) = [line for line in lines if "-r requirements-dev.txt" in line]
    assert "--quiet" not in requirements and "--progress-bar on" in requirements
    assert "is ready" in lines[-1]
