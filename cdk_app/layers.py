"""Build the repository's Lambda layers when they are missing (tests and benchmarks synthesize
the app in-process; `make layers` is the same scripts)."""

from __future__ import annotations

import subprocess

from cdk_app.constants import LAYER_BUILDS, REPO_ROOT


def ensure_layers() -> None:
    """Run each layer's build script unless its package is already unpacked."""
    for layer_dir, module, build in LAYER_BUILDS:
        if not (layer_dir / "python" / module).is_dir():
            subprocess.run(build.split(), cwd=REPO_ROOT, check=True, timeout=600)  # noqa: S603
