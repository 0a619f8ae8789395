"""The layers match what the functions and the tests run: AWS's Powertools layer carries the
pinned aws-lambda-powertools release, and the Pillow layer is built for the functions' runtime
and architecture from the pinned Pillow."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from cdk_app.config import SmartDoorConfig
from cdk_app.constants import (
    MSGSPEC_LAYER_DIR,
    PILLOW_LAYER_DIR,
    POWERTOOLS_LAYER_NAME,
    POWERTOOLS_LAYER_VERSIONS,
    REPO_ROOT,
    WEBPUSH_LAYER_DIR,
)
from tests.infra.synth import Synthesized

pytestmark = pytest.mark.infra

# Lambda's names for an architecture -> the machine in a manylinux wheel's file names.
MACHINES = {"arm64": "aarch64", "x86_64": "x86_64"}


def pin(requirements: str, package: str) -> str:
    text = (REPO_ROOT / requirements).read_text(encoding="utf-8")
    match = re.search(
        rf"^{re.escape(package)}(\[[^\]]*\])?==(?P<version>\S+)", text, re.MULTILINE | re.IGNORECASE
    )
    assert match, f"{requirements} does not pin {package}"
    return match["version"]


def smartdoor_functions(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    """Every function of the stack's own (not CDK's deploy-time singletons): they use Powertools."""
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in synthesized.resources.items()
        if resource["Type"] == "AWS::Lambda::Function"
        and "POWERTOOLS_SERVICE_NAME" in str(resource["Properties"])
    }


def runtime_and_architecture(synthesized: Synthesized) -> tuple[str, str]:
    pairs = {(p["Runtime"], tuple(p["Architectures"])) for p in smartdoor_functions(synthesized).values()}
    assert len(pairs) == 1, f"the functions disagree on runtime/architecture: {pairs}"
    ((runtime, (architecture,)),) = pairs
    return runtime, architecture


def test_the_powertools_layer_carries_the_pinned_release(synthesized: Synthesized) -> None:
    pinned = pin("requirements.txt", "aws-lambda-powertools")
    assert version("aws-lambda-powertools") == pinned, "the venv runs another Powertools than the pin"
    assert pinned in POWERTOOLS_LAYER_VERSIONS, (
        f"no layer version recorded for aws-lambda-powertools {pinned}"
    )
    layer_version = POWERTOOLS_LAYER_VERSIONS[pinned]
    assert SmartDoorConfig.model_fields["powertools_layer_version"].default == layer_version
    arn = f":layer:{POWERTOOLS_LAYER_NAME}:{layer_version}"
    for logical_id, properties in smartdoor_functions(synthesized).items():
        assert arn in str(properties["Layers"]), f"{logical_id} does not use {arn}"


def test_the_powertools_layer_is_built_for_the_functions_runtime_and_architecture(
    synthesized: Synthesized,
) -> None:
    runtime, architecture = runtime_and_architecture(synthesized)
    # AWSLambdaPowertoolsPythonV3-python313-arm64
    assert POWERTOOLS_LAYER_NAME.endswith(f"-{runtime.replace('.', '')}-{architecture}")


def test_every_function_carries_the_msgspec_layer_its_models_need(synthesized: Synthesized) -> None:
    msgspec_layer = {"Ref": synthesized.logical_id(synthesized.stack.node.find_child("Packaging").msgspec)}
    for logical_id, properties in smartdoor_functions(synthesized).items():
        assert msgspec_layer in properties["Layers"], f"{logical_id} cannot import msgspec"


@pytest.mark.parametrize(
    ("package", "requirements", "layer_dir", "module", "extension"),
    [
        ("pillow", "requirements-dev.txt", PILLOW_LAYER_DIR, "PIL", "_imaging"),
        ("msgspec", "requirements.txt", MSGSPEC_LAYER_DIR, "msgspec", "_core"),
    ],
)
def test_each_built_layer_is_for_the_functions_runtime_and_architecture(
    synthesized: Synthesized, package: str, requirements: str, layer_dir: Path, module: str, extension: str
) -> None:
    runtime, architecture = runtime_and_architecture(synthesized)
    pinned = pin(requirements, package)
    assert version(package) == pinned  # tests run the release Lambda runs
    # the build's stamp, the layer's description and its compatibility all name pin, arch, runtime
    stamp = layer_dir.with_name(layer_dir.name + ".stamp").read_text(encoding="utf-8").strip()
    assert stamp == f"{package}=={pinned} {architecture} {runtime}"
    (layer,) = [
        r["Properties"]
        for r in synthesized.resources.values()
        if r["Type"] == "AWS::Lambda::LayerVersion"
        and f"{package}==" in r["Properties"].get("Description", "")
    ]
    assert layer["Description"].endswith(stamp)
    assert layer["CompatibleRuntimes"] == [runtime]
    assert layer["CompatibleArchitectures"] == [architecture]
    # and the compiled modules are that CPython on that machine
    tag = f"cpython-{runtime.removeprefix('python').replace('.', '')}-{MACHINES[architecture]}-linux-gnu.so"
    compiled = sorted(p.name for p in (layer_dir / "python" / module).glob(f"{extension}*.so"))
    assert compiled and all(name.endswith(tag) for name in compiled), compiled


def test_the_webpush_layer_is_the_pinned_releases_built_for_the_functions_runtime_and_architecture(
    synthesized: Synthesized,
) -> None:
    runtime, architecture = runtime_and_architecture(synthesized)
    pins = {package: pin("requirements.txt", package) for package in ("cryptography", "http-ece", "py-vapid")}
    assert {package: version(package) for package in pins} == pins  # tests run the releases Lambda runs
    stamp = WEBPUSH_LAYER_DIR.with_name(WEBPUSH_LAYER_DIR.name + ".stamp").read_text(encoding="utf-8").strip()
    wanted = " ".join(f"{package}=={pinned}" for package, pinned in pins.items())
    assert stamp == f"{wanted} {architecture} {runtime}"
    layer = synthesized.properties(synthesized.stack.node.find_child("Packaging").webpush)
    assert layer["Description"].endswith(stamp)
    assert layer["CompatibleRuntimes"] == [runtime] and layer["CompatibleArchitectures"] == [architecture]
    # cffi's backend is that CPython on that machine; cryptography's Rust bindings are abi3 for it
    python = WEBPUSH_LAYER_DIR / "python"
    tag = f"cpython-{runtime.removeprefix('python').replace('.', '')}-{MACHINES[architecture]}-linux-gnu.so"
    assert [p.name for p in python.glob("_cffi_backend*.so")] == [f"_cffi_backend.{tag}"]
    assert (python / "cryptography" / "hazmat" / "bindings" / "_rust.abi3.so").is_file()
    assert (python / "http_ece" / "__init__.py").is_file() and (python / "py_vapid" / "__init__.py").is_file()
