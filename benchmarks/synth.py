"""Synthesize the CDK app into a cloud assembly (in a process of its own, as `cdk synth` would).

    python -m benchmarks.synth --out <dir>

The template feeds the cost model and the staged assets are what the package-size benchmark
measures. Needs extract_frame's Pillow layer: built here when missing (`make layers`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.lambda_env import REPO_ROOT

CONTEXT = {"ownerPhone": "+15550100000", "ownerEmail": "owner@example.com"}


def synthesize(outdir: Path, **context: str) -> Path:
    from aws_cdk import App

    from cdk_app.app import build_app
    from cdk_app.layers import ensure_layers

    ensure_layers()
    app, stack = build_app(App(outdir=str(outdir), context={**CONTEXT, **context}))
    app.synth()
    return outdir / f"{stack.artifact_id}.template.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--face-source", help="the faceSource context (default: the CDK default)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO_ROOT))
    print(synthesize(args.out, **({"faceSource": args.face_source} if args.face_source else {})))
    return 0


if __name__ == "__main__":
    sys.exit(main())
