"""The template linters' acknowledgments (.cfnlintrc.yaml, .checkov.yaml) each carry a reason, as
cdk-nag's do, and name checks that exist; cfn-lint really loads the serverless rules."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cfnlint.api import lint
from cfnlint.config import ManualArgs

from cdk_app.constants import REPO_ROOT

CFN_LINT_CONFIG = REPO_ROOT / ".cfnlintrc.yaml"
CHECKOV_CONFIG = REPO_ROOT / ".checkov.yaml"


def acknowledged_with_reasons(path: Path, key: str) -> dict[str, str]:
    """check id -> the comment block right above it; an id with no comment of its own directly
    above shares the reason of the id before it (a run of ids under one reason)."""
    reasons: dict[str, str] = {}
    comment: list[str] = []
    inside = False
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if line.startswith(f"{key}:"):
            inside = True
        elif inside and line and not line.startswith(" "):
            break
        elif inside and stripped.startswith("#"):
            comment.append(stripped.lstrip("#").strip())
        elif inside and stripped.startswith("- "):
            previous = list(reasons.values())[-1] if reasons else ""
            reasons[stripped[2:].strip()] = " ".join(comment) if comment else previous
            comment = []
    return reasons


@pytest.mark.parametrize(
    ("path", "key"), [(CFN_LINT_CONFIG, "ignore_checks"), (CHECKOV_CONFIG, "skip-check")]
)
def test_every_acknowledged_check_has_a_written_reason(path: Path, key: str) -> None:
    reasons = acknowledged_with_reasons(path, key)
    listed = yaml.safe_load(path.read_text(encoding="utf-8"))[key]
    assert list(reasons) == listed, "the parser and YAML disagree on the list"
    for check, reason in reasons.items():
        assert len(reason) >= 80, f"{path.name}: {check} needs a reason (got {reason!r})"


def test_the_reason_parser_refuses_a_bare_check(tmp_path: Path) -> None:
    config = tmp_path / "lint.yaml"
    config.write_text("skip-check:\n  # a reason\n  - A\n  - B\nother: 1\n", encoding="utf-8")
    # B shares A's comment: a run of ids under one reason
    assert acknowledged_with_reasons(config, "skip-check") == {"A": "a reason", "B": "a reason"}
    config.write_text("skip-check:\n  - A\n", encoding="utf-8")
    assert acknowledged_with_reasons(config, "skip-check") == {"A": ""}


def test_cfn_lint_loads_the_serverless_rules_and_every_ignored_check_is_a_rule(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN a template with a Lambda function missing what the serverless rules ask for
    template = """
Resources:
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.13
      Handler: index.handler
      Role: arn:aws:iam::123456789012:role/r
      Code: {ZipFile: "def handler(e, c): pass"}
"""
    monkeypatch.chdir(tmp_path)  # away from .cfnlintrc.yaml, whose ignores would hide them
    config = yaml.safe_load(CFN_LINT_CONFIG.read_text(encoding="utf-8"))
    # WHEN cfn-lint runs with the project's rules but without the ignores
    matches = lint(template, config=ManualArgs(regions=["us-east-1"], append_rules=config["append_rules"]))
    found = {m.rule.id for m in matches}
    # THEN serverless rules fire (WS1000 tracing, WS1004 log retention)
    assert {"WS1000", "WS1004"} <= found, found
    # AND every ignored id names a rule cfn-lint knows (a typo would silently ignore nothing)
    from cfnlint.rules import Rules

    known = {rule.id for rule in Rules.create_from_module("cfn_lint_serverless.rules").values()}
    serverless_ignored = {c for c in config["ignore_checks"] if c.startswith(("ES", "WS"))}
    assert serverless_ignored <= known, serverless_ignored - known
