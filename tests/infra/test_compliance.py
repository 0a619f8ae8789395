"""Compliance: cdk-nag AwsSolutions passes (with written reasons); cfn-lint, with the serverless
rules and the acknowledgments of .cfnlintrc.yaml, finds nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_cdk import App
from aws_cdk import aws_sqs as sqs
from cfnlint.api import lint_file

from cdk_app.app import build_app
from cdk_app.constants import REPO_ROOT
from cdk_app.layers import ensure_layers
from tests.infra.synth import TEST_CONTEXT, Synthesized

pytestmark = pytest.mark.infra

# make lint runs cfn-lint with the same file (regions, serverless rules, acknowledged checks).
CFN_LINT_CONFIG = REPO_ROOT / ".cfnlintrc.yaml"


def _plugin_report(synthesized: Synthesized) -> dict:
    [report] = [
        r for r in synthesized.validation_report()["pluginReports"] if r["pluginName"] == "AwsSolutions"
    ]
    return report


DEPLOYMENTS = (
    "synthesized",
    "synthesized_custom",
    "synthesized_snapshots",
    "synthesized_lock_iot",
    "synthesized_lock_webhook",
)


@pytest.mark.parametrize("fixture", DEPLOYMENTS)
def test_cdk_nag_aws_solutions_passes(fixture: str, request: pytest.FixtureRequest) -> None:
    # GIVEN a synthesized app (synth itself raises on any unacknowledged finding)
    synthesized: Synthesized = request.getfixturevalue(fixture)
    # THEN the AwsSolutions pack ran and left nothing unacknowledged
    report = _plugin_report(synthesized)
    assert report["conclusion"] == "success"
    assert report["violations"] == []


@pytest.mark.parametrize("fixture", DEPLOYMENTS)
def test_every_acknowledged_finding_has_a_written_reason(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(fixture)
    suppressed = _plugin_report(synthesized).get("suppressedViolations", [])
    assert suppressed, "expected some acknowledged findings (X-Ray wildcard, runtime pin, DLQs)"
    for finding in suppressed:
        reason = finding["reason"]
        assert len(reason) >= 60, (
            f"{finding['acknowledgedId']} at {finding['acknowledgedAt']}: reason too thin"
        )
        # Acknowledged on the construct the finding concerns, never the whole stack or app.
        assert finding["acknowledgedAt"] not in ("", "SmartDoor"), finding["acknowledgedId"]


def test_an_unacknowledged_finding_fails_synth(tmp_path: Path) -> None:
    # GIVEN the real app with one non-compliant resource added (a queue without TLS enforcement)
    app, stack = build_app(App(outdir=str(tmp_path), context=TEST_CONTEXT))
    sqs.Queue(stack, "PlainQueue", encryption=sqs.QueueEncryption.SQS_MANAGED)
    # WHEN it is synthesized
    # THEN synth fails and the report names the finding
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = (tmp_path / "validation-report.json").read_text()
    assert "PlainQueue" in report
    assert "AwsSolutions-SQS4" in report


@pytest.mark.parametrize("fixture", DEPLOYMENTS)
def test_cfn_lint_with_the_serverless_rules_reports_nothing(
    fixture: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    synthesized: Synthesized = request.getfixturevalue(fixture)
    # cfn-lint reads .cfnlintrc.yaml from the working directory, as `make lint` does
    monkeypatch.chdir(CFN_LINT_CONFIG.parent)
    matches = lint_file(synthesized.template_path)
    assert [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches] == []


def test_cdk_nag_passes_when_the_cli_knows_the_target_account_and_region(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the environment `cdk deploy` sets up from the caller's credentials and region,
    # which turns pseudo parameters in ARNs (partition, account, region) into literals
    monkeypatch.setenv("CDK_DEFAULT_ACCOUNT", "123456789012")
    monkeypatch.setenv("CDK_DEFAULT_REGION", "eu-west-1")
    ensure_layers()
    app, stack = build_app(App(outdir=str(tmp_path), context=TEST_CONTEXT))
    # WHEN it synthesizes (cdk-nag raises on any unacknowledged finding)
    app.synth()
    # THEN the stack was bound to that environment and nothing was left unacknowledged
    assert (stack.account, stack.region) == ("123456789012", "eu-west-1")
