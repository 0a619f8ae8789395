"""The first `make demo` / `make test` installs for minutes: it says so and shows pip's progress."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def make(*argv: str, dry_run: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - make, fixed arguments
        ["make", "--no-print-directory", *(["-n"] if dry_run else []), *argv],  # noqa: S607
        cwd=REPO,
        # Not a sub-make of `make test`: a clean make, as a person types it.
        env={k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_a_fresh_install_announces_itself_and_shows_progress(tmp_path: Path) -> None:
    # GIVEN no virtual environment yet, WHEN make plans the install (dry run: nothing is installed)
    plan = make("install", f"VENV={tmp_path / 'venv'}")
    assert plan.returncode == 0, plan.stderr
    # THEN before it creates the venv it says that this takes a few minutes, on Python 3.13, and
    # pip's per-package output is not hidden
    lines = plan.stdout.splitlines()
    (announced,) = [n for n, line in enumerate(lines) if "the first run takes a few minutes" in line]
    (created,) = [n for n, line in enumerate(lines) if " -m venv " in line]
    assert announced < created and "Python 3.13" in lines[announced]
    (requirements,) = [line for line in lines if "-r requirements-dev.txt" in line]
    assert "--quiet" not in requirements and "--progress-bar on" in requirements
    assert "is ready" in lines[-1]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_the_venv_is_made_with_python_3_13_found_by_make() -> None:
    # WHEN make is asked which interpreter it builds the venv with (no PYTHON given)
    found = make("--eval=print-python: ; @echo $(PYTHON)", "print-python", dry_run=False)
    # THEN it is a Python 3.13, as Lambda runs
    python = found.stdout.strip()
    assert python, found.stderr
    version = subprocess.run(  # noqa: S603 - the interpreter make found
        [python, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True, check=True
    )
    assert version.stdout.strip() == "(3, 13)"


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_install_refuses_another_python_with_one_clear_line(tmp_path: Path) -> None:
    # GIVEN an interpreter that is not 3.13 (the one running make's own checks: this machine's python3)
    other = shutil.which("python3.11") or "/usr/bin/python3"
    shown = subprocess.run([other, "--version"], capture_output=True, text=True, check=False)  # noqa: S603
    if shown.returncode != 0 or "3.13" in shown.stdout:
        pytest.skip("no non-3.13 interpreter here")
    # WHEN make install runs with it (for real: the checks come before anything is created)
    refused = make("install", f"PYTHON={other}", f"VENV={tmp_path / 'venv'}", dry_run=False)
    # THEN it stops at once, says what it needs, and creates nothing
    assert refused.returncode != 0
    assert "Smart Door needs 3.13" in refused.stdout
    assert not (tmp_path / "venv").exists()
