"""The app entry point: bad context stops synth with a message that names the flag to pass."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk import App, Stack

from cdk_app.app import build_app
from cdk_app.components.functions import FunctionPackaging, MissingBuildArtifact
from cdk_app.config import ConfigError
from cdk_app.constants import PILLOW_LAYER_BUILD
from tests.infra.synth import OWNER_EMAIL, OWNER_PHONE

pytestmark = pytest.mark.infra

REPO = Path(__file__).resolve().parents[2]


def _run_app(context: dict[str, str], outdir: Path) -> subprocess.CompletedProcess[str]:
    """Run the app the way the CDK CLI does: `python -m cdk_app.app` with context in the environment."""
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(outdir)}
    return subprocess.run(
        [sys.executable, "-m", "cdk_app.app"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_missing_owner_phone_stops_synth_naming_the_flag(tmp_path: Path) -> None:
    # GIVEN context without ownerPhone
    # WHEN the app runs as the CDK CLI runs it
    result = _run_app({"ownerEmail": OWNER_EMAIL}, tmp_path)
    # THEN it exits non-zero, says which flag to pass, and writes no template
    assert result.returncode != 0
    assert "-c ownerPhone=" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.template.json"))


def test_malformed_owner_email_stops_synth_naming_the_flag(tmp_path: Path) -> None:
    result = _run_app({"ownerPhone": OWNER_PHONE, "ownerEmail": "not-an-address"}, tmp_path)
    assert result.returncode != 0
    assert "ownerEmail" in result.stderr
    assert "-c ownerEmail=" in result.stderr
    assert not list(tmp_path.glob("*.template.json"))


@pytest.mark.parametrize(
    ("context", "flag"),
    [
        ({"ownerEmail": OWNER_EMAIL}, "-c ownerPhone="),
        ({"ownerPhone": "5550100", "ownerEmail": OWNER_EMAIL}, "-c ownerPhone="),
        ({"ownerPhone": OWNER_PHONE + "\n", "ownerEmail": OWNER_EMAIL}, "-c ownerPhone="),
        ({"ownerPhone": f" {OWNER_PHONE}", "ownerEmail": OWNER_EMAIL}, "-c ownerPhone="),
        ({"ownerPhone": OWNER_PHONE}, "-c ownerEmail="),
    ],
)
def test_build_app_rejects_bad_owner_contacts_before_adding_a_stack(
    context: dict[str, str], flag: str
) -> None:
    # GIVEN an app whose context lacks or garbles an owner contact
    app = App(context=context)
    # WHEN the Smart Door stack is added
    # THEN a ConfigError names the flag, and the app is left without a stack
    with pytest.raises(ConfigError, match=flag):
        build_app(app)
    assert app.node.children == []


def test_a_configuration_error_is_the_plain_sentence(tmp_path: Path) -> None:
    # GIVEN a door id that is not a slug, WHEN the app runs as the CDK CLI runs it
    result = _run_app(
        {"ownerPhone": OWNER_PHONE, "ownerEmail": OWNER_EMAIL, "doorId": "Front Door"}, tmp_path
    )
    # THEN the message is the validator's sentence, without pydantic's "Value error," prefix
    assert result.returncode == 2
    assert (
        "  doorId: must be 1-32 lowercase letters, digits or '-', starting with a letter or digit; "
    ) in result.stderr
    assert "Value error" not in result.stderr


def test_an_unbuilt_pillow_layer_stops_synth_saying_how_to_build_it(tmp_path: Path) -> None:
    # GIVEN a checkout where the Pillow layer was never built
    stack = Stack(App(), "Bare")
    # WHEN the functions are packaged
    # THEN synth stops with the command that builds the layer
    with pytest.raises(MissingBuildArtifact, match=re.escape(PILLOW_LAYER_BUILD)):
        FunctionPackaging(
            stack, "Packaging", powertools_layer_version=27, pillow_layer_dir=tmp_path / "missing"
        )
