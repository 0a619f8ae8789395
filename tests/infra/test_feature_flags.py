"""CDK's recommended feature flags, as `cdk init` writes them, and none left unconfigured.

The CDK CLI's synth notice ("N feature flags are not configured") and `cdk flags` read the
feature-flag report the app writes into the cloud assembly: a flag counts as unconfigured when
the app has no value for it and its unconfigured behaviour differs from the recommended value
(`cdk flags --unstable=flags` on this app: "All feature flags are already set to their
recommended values").
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import aws_cdk

from cdk_app.app import CDK_JSON
from tests.infra.synth import Synthesized

REPORT_ARTIFACT = "aws-cdk-lib/feature-flag-report"


def recommended_flags() -> dict[str, Any]:
    """aws-cdk-lib's own recommended-feature-flags.json (what `cdk init` copies into cdk.json)."""
    (bundle,) = (Path(aws_cdk.__file__).parent / "_jsii").glob("aws-cdk-lib@*.jsii.tgz")
    with tarfile.open(bundle) as archive:
        member = archive.extractfile("package/recommended-feature-flags.json")
        assert member is not None
        return json.load(member)


def flag_report(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    manifest = json.loads((synthesized.outdir / "manifest.json").read_text())
    return manifest["artifacts"][REPORT_ARTIFACT]["properties"]["flags"]


def test_cdk_json_holds_every_recommended_flag_at_its_recommended_value() -> None:
    context = json.loads(CDK_JSON.read_text())["context"]
    recommended = recommended_flags()
    assert len(recommended) > 80
    assert {flag: context.get(flag) for flag in recommended} == recommended


def test_synth_leaves_no_feature_flag_unconfigured(synthesized: Synthesized) -> None:
    # GIVEN the feature-flag report of the app as the tests (and the CLI, through cdk.json) build it
    report = flag_report(synthesized)
    # THEN every flag has the app's value, or behaves unconfigured as recommended (what the CLI counts)
    unconfigured = sorted(
        flag
        for flag, facts in report.items()
        if "userValue" not in facts
        # an unconfigured flag without an `unconfiguredBehavesLike` behaves as false
        and facts.get("unconfiguredBehavesLike", {}).get("v2", False) != facts.get("recommendedValue")
    )
    assert unconfigured == []
    # AND what the app set is what CDK recommends
    differing = {
        flag: facts["userValue"]
        for flag, facts in report.items()
        if "userValue" in facts and facts["userValue"] != facts.get("recommendedValue")
    }
    assert differing == {}
