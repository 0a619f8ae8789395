"""The synthesized template, as the local stack reads it: `synthesized(context)`.

A cold synthesis runs the CDK app in this process (jsii starts the project's Node) and takes
about 15 s; its result is kept on disk, keyed by a hash of everything that shapes the template
(cdk_app/, workflows/, cdk.json, requirements.txt, the shared Lambda code the configuration
validates with, and the context), so every later `smartdoor local` and test reads one JSON file.

Cache directory: SMARTDOOR_TEMPLATE_CACHE, else `$XDG_CACHE_HOME/smartdoor/templates`, else
`~/.cache/smartdoor/templates`. A different source tree or context is a different file; stale
files are harmless (delete the directory to reclaim the space).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smartdoor_local import REPO_ROOT, WORKFLOWS_DIR, ensure_repository_importable

CACHE_VARIABLE = "SMARTDOOR_TEMPLATE_CACHE"
# What shapes the template besides the context (the functions' code only through its asset hash,
# which the local stack does not read; phones.py validates the owner's phone in cdk_app/config.py).
SOURCES = ("cdk_app", "workflows", "cdk.json", "requirements.txt", "functions/smartdoor/domain/phones.py")
_CACHE_FORMAT = 1


@dataclass(frozen=True)
class Variant:
    """A change to the CDK app made in-process (a test's: an escape hatch on the built stack),
    applied before synthesis. `name` keys the cache, so name each distinct change distinctly."""

    name: str
    apply: Callable[[Any], None]  # gets the built SmartDoorStack


@dataclass(frozen=True)
class Synthesized:
    """The template, and for each state machine defined by a file (DefinitionS3Location) the
    file's text and which workflows/<name>.asl.json it is (logical id -> text, -> name)."""

    template: dict[str, Any]
    definitions: dict[str, str]
    workflows: dict[str, str]

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return dict(self.template["Resources"])


def cache_dir() -> Path:
    given = os.environ.get(CACHE_VARIABLE)
    if given:
        return Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "smartdoor" / "templates"


def _source_files() -> Iterator[Path]:
    for name in SOURCES:
        path = REPO_ROOT / name
        if path.is_file():
            yield path
            continue
        for file in sorted(path.rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts:
                yield file


def source_hash(context: Mapping[str, Any], variant: Variant | None = None) -> str:
    digest = hashlib.sha256(f"format {_CACHE_FORMAT}\n".encode())
    if variant is not None:
        digest.update(f"variant {variant.name}\n".encode())
    digest.update(json.dumps(dict(context), sort_keys=True).encode())
    for file in _source_files():
        digest.update(str(file.relative_to(REPO_ROOT)).encode() + b"\0")
        digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()


def synthesized(context: Mapping[str, Any], variant: Variant | None = None) -> Synthesized:
    """The template for `context` (CDK context keys), and `variant` if given, from the cache or
    a fresh synthesis."""
    path = cache_dir() / f"{source_hash(context, variant)}.json"
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cached = None
    if cached is None:
        cached = _synthesize(context, variant)
        _write_atomically(path, cached)
    return Synthesized(cached["template"], cached["definitions"], cached["workflows"])


def _write_atomically(path: Path, content: dict[str, Any]) -> None:
    """Another process may synthesize the same template at the same time: the last rename wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(content, file)
    os.replace(temporary, path)


def _synthesize(context: Mapping[str, Any], variant: Variant | None) -> dict[str, Any]:
    ensure_repository_importable()
    importlib.import_module("cdk_app")  # the project's Node for jsii, before aws_cdk is imported
    from aws_cdk import App

    from cdk_app.app import build_app
    from cdk_app.layers import ensure_layers

    ensure_layers()
    with tempfile.TemporaryDirectory(prefix="smartdoor-synth-") as outdir:
        app, stack = build_app(App(outdir=outdir, context=dict(context)))
        if variant is not None:
            variant.apply(stack)
        app.synth()
        out = Path(outdir)
        template = json.loads((out / f"{stack.artifact_id}.template.json").read_text(encoding="utf-8"))
        staged = _staged_files(out, stack.artifact_id)
        definitions = {
            logical_id: staged[resource["Properties"]["DefinitionS3Location"]["Key"]].read_text(
                encoding="utf-8"
            )
            for logical_id, resource in template["Resources"].items()
            if "DefinitionS3Location" in resource.get("Properties", {})
        }
    return {
        "template": template,
        "definitions": definitions,
        "workflows": {logical_id: _workflow_of(text) for logical_id, text in definitions.items()},
    }


def _staged_files(outdir: Path, artifact_id: str) -> dict[str, Path]:
    """S3 object key -> the file CDK staged for it (a state machine's DefinitionS3Location)."""
    manifest = json.loads((outdir / f"{artifact_id}.assets.json").read_text(encoding="utf-8"))
    staged = {}
    for asset in manifest.get("files", {}).values():
        for destination in asset["destinations"].values():
            staged[destination["objectKey"]] = outdir / asset["source"]["path"]
    return staged


def _workflow_of(text: str) -> str:
    """Which workflows/<name>.asl.json the definition is (CDK stages the file unchanged)."""
    for file in sorted(WORKFLOWS_DIR.glob("*.asl.json")):
        if file.read_text(encoding="utf-8") == text:
            return file.name.removesuffix(".asl.json")
    return ""
