"""`make preflight` (smartdoor_local.preflight): the offline part for real, the --aws part on
botocore's Stubber (every request and response checked against the real API models, no network)."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from cdk_app.config import SmartDoorConfig, load_config
from cdk_app.constants import REPO_ROOT
from smartdoor_local import preflight
from smartdoor_local.preflight import Finding, aws_findings

OWNER = {"ownerPhone": "+15550100000", "ownerEmail": "owner@example.com"}
ACCOUNT = "123456789012"
CALLER = f"arn:aws:iam::{ACCOUNT}:user/deployer"
OUR_ROLE = f"arn:aws:iam::{ACCOUNT}:role/SmartDoor-SmsDeliveryLogsRole33502530-AbCdEf"


def levels(findings: list[Finding], topic: str) -> list[str]:
    return [finding.level for finding in findings if finding.topic == topic]


def text_of(findings: list[Finding], topic: str) -> str:
    return " | ".join(finding.detail for finding in findings if finding.topic == topic)


# ------------------------------------------------------------------------------------ offline


@pytest.mark.parametrize(
    ("version", "level"), [((3, 10, 12), "FIX"), ((3, 11, 0), "FIX"), ((3, 13, 0), "OK"), ((3, 14, 0), "FIX")]
)
def test_python_versions(version: tuple[int, int, int], level: str) -> None:
    assert preflight.check_python(version).level == level


@pytest.mark.parametrize(
    ("version", "level"),
    [(None, "FIX"), ("v18.19.0", "FIX"), ("v20.20.2", "FIX"), ("v22.11.0", "OK"), ("v24.1.0", "OK")],
)
def test_node_versions_the_cdk_supports(version: str | None, level: str) -> None:
    assert preflight.check_node(version).level == level


def test_the_layers_and_the_cdk_cli_are_looked_for_where_the_build_puts_them(tmp_path: Path) -> None:
    layer = tmp_path / "pillow-arm64"
    missing = preflight.check_layer(layer, "PIL", "scripts/build_layer.sh pillow arm64")
    assert missing.level == "FIX" and "make layers" in missing.detail and missing.topic == "pillow layer"
    (layer / "python" / "PIL").mkdir(parents=True)
    assert preflight.check_layer(layer, "PIL", "scripts/build_layer.sh pillow arm64").level == "OK"

    assert preflight.check_cdk_cli(tmp_path).level == "FIX"
    (tmp_path / "node_modules" / ".bin").mkdir(parents=True)
    (tmp_path / "node_modules" / ".bin" / "cdk").touch()
    assert preflight.check_cdk_cli(tmp_path).level == "OK"


def test_context_is_cdk_json_overlaid_with_dash_c() -> None:
    context = preflight.read_context(["doorId=back-door", "ownerPhone=+15550100000"])
    assert context["doorId"] == "back-door"
    assert context["ownerPhone"] == "+15550100000"
    assert context["faceMatchThreshold"] == 90  # from cdk.json
    with pytest.raises(ValueError, match="key=value"):
        preflight.read_context(["ownerPhone"])


def test_bad_context_is_one_fix_per_key_naming_the_flag() -> None:
    config, findings = preflight.check_config({"ownerPhone": "5550100", "smsSenderId": "Smart Door"})
    assert config is None
    details = [finding.detail for finding in findings if finding.level == "FIX"]
    assert len(details) == 3
    for flag in ("-c ownerPhone=", "-c ownerEmail=", "-c smsSenderId="):
        assert any(flag in detail for detail in details), flag


def test_sms_settings_that_cannot_work_for_a_us_owner_are_noted() -> None:
    config = load_config(OWNER | {"smsSenderId": "SmartDoor", "smsDeliveryLogs": "false"})
    findings = preflight.check_sms_settings(config)
    assert levels(findings, "sms sender id") == ["NOTE"]
    assert "originationNumber" in text_of(findings, "sms origination")
    assert levels(findings, "sms delivery logs") == ["NOTE"]
    # a UK owner with an origination number: nothing to say
    uk = load_config({"ownerPhone": "+447700900123", "ownerEmail": "o@example.com"})
    assert preflight.check_sms_settings(uk) == []


def test_make_preflight_offline_runs_for_real_and_fails_only_on_fix_lines() -> None:
    # GIVEN this checkout, WHEN the module runs as make preflight runs it (no AWS)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "smartdoor_local.preflight",
            "-c",
            "ownerPhone=+447700900123",
            "-c",
            "ownerEmail=o@example.com",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = done.stdout.splitlines()
    # THEN every check printed one line, the context is valid, and the exit status says whether
    # anything must be fixed
    assert any(line.startswith("OK    python: ") for line in lines)
    assert any(line.startswith(("OK    node: ", "FIX   node: ")) for line in lines)
    assert "OK    cdk context: valid (door front-door, faceSource=images)" in lines
    fixes = [line for line in lines if line.startswith("FIX ")]
    assert done.returncode == (1 if fixes else 0), done.stdout
    assert "Traceback" not in done.stderr


def test_make_preflight_offline_fails_on_a_bad_context() -> None:
    out = io.StringIO()
    assert preflight.main(["-c", "ownerPhone=+15550100000"], out=out) == 1
    assert "FIX   cdk context: ownerEmail: is required; pass -c ownerEmail=" in out.getvalue()
    assert "to fix before cdk deploy" in out.getvalue()


# ------------------------------------------------------------------------------------ --aws


class Account:
    """Stubbed STS, CloudFormation and SNS clients for one imagined account."""

    def __init__(self) -> None:
        self.clients = {
            name: boto3.client(name, region_name="us-east-1") for name in ("sts", "cloudformation", "sns")
        }
        self.stubs = {name: Stubber(client) for name, client in self.clients.items()}

    def client(self, name: str) -> Any:
        return self.clients[name]

    def identity(self) -> Account:
        self.stubs["sts"].add_response(
            "get_caller_identity", {"Account": ACCOUNT, "Arn": CALLER, "UserId": "AIDAEXAMPLE"}, {}
        )
        return self

    def bootstrap(self, status: str | None) -> Account:
        if status is None:
            self.stubs["cloudformation"].add_client_error(
                "describe_stacks",
                service_error_code="ValidationError",
                service_message="Stack with id CDKToolkit does not exist",
                expected_params={"StackName": "CDKToolkit"},
            )
        else:
            self.stubs["cloudformation"].add_response(
                "describe_stacks",
                {
                    "Stacks": [
                        {
                            "StackName": "CDKToolkit",
                            "StackStatus": status,
                            "CreationTime": "2026-01-01T00:00:00Z",
                        }
                    ]
                },
                {"StackName": "CDKToolkit"},
            )
        return self

    def sandbox(self, in_sandbox: bool, numbers: dict[str, str] | None = None) -> Account:
        sns = self.stubs["sns"]
        sns.add_response("get_sms_sandbox_account_status", {"IsInSandbox": in_sandbox}, {})
        if in_sandbox:
            entries = [{"PhoneNumber": phone, "Status": status} for phone, status in (numbers or {}).items()]
            # two pages: the owner's number may be on the second
            sns.add_response(
                "list_sms_sandbox_phone_numbers", {"PhoneNumbers": entries[:1], "NextToken": "p2"}, {}
            )
            sns.add_response(
                "list_sms_sandbox_phone_numbers", {"PhoneNumbers": entries[1:]}, {"NextToken": "p2"}
            )
        return self

    def sms_attributes(self, **attributes: str) -> Account:
        self.stubs["sns"].add_response(
            "get_sms_attributes",
            {"attributes": attributes},
            {"attributes": ["MonthlySpendLimit", "DeliveryStatusIAMRole"]},
        )
        return self

    def origination_numbers(self, *numbers: dict[str, Any]) -> Account:
        self.stubs["sns"].add_response("list_origination_numbers", {"PhoneNumbers": list(numbers)}, {})
        return self


@pytest.fixture
def account() -> Iterator[Account]:
    the_account = Account()
    for stub in the_account.stubs.values():
        stub.activate()
    yield the_account
    for stub in the_account.stubs.values():
        stub.assert_no_pending_responses()
        stub.deactivate()


def us_toll_free(number: str = "+18005550100", status: str = "ACTIVE") -> dict[str, Any]:
    return {
        "PhoneNumber": number,
        "Status": status,
        "Iso2CountryCode": "US",
        "RouteType": "Transactional",
        "NumberCapabilities": ["SMS"],
    }


def config(**context: str) -> SmartDoorConfig:
    return load_config(OWNER | context)


def test_a_new_account_is_told_everything_it_must_do(account: Account) -> None:
    # GIVEN a brand-new account: not bootstrapped, in the SMS sandbox with nothing verified,
    # USD 1 spend limit, no delivery logging, no origination number
    account.identity().bootstrap(None).sandbox(True, {}).sms_attributes(MonthlySpendLimit="1")
    account.origination_numbers()

    # WHEN preflight checks it
    findings = aws_findings(config(), client=account.client, region="us-east-1")

    # THEN it says what to run, one line each
    assert levels(findings, "aws credentials") == ["OK"]
    assert CALLER in text_of(findings, "aws credentials")
    assert levels(findings, "region") == ["OK", "OK", "OK"]
    assert levels(findings, "cdk bootstrap") == ["FIX"]
    assert f"npx aws-cdk bootstrap aws://{ACCOUNT}/us-east-1" in text_of(findings, "cdk bootstrap")
    assert levels(findings, "sms sandbox") == ["NOTE", "FIX"]
    assert "create-sms-sandbox-phone-number" in text_of(findings, "sms sandbox")
    assert levels(findings, "sms spend limit") == ["NOTE"]
    assert "USD 1.00" in text_of(findings, "sms spend limit")
    assert levels(findings, "sms origination") == ["NOTE"]
    assert "+15550100000" not in " ".join(finding.line() for finding in findings)


def test_a_ready_account_has_nothing_to_fix(account: Account) -> None:
    account.identity().bootstrap("UPDATE_COMPLETE").sandbox(False)
    account.sms_attributes(MonthlySpendLimit="20", DeliveryStatusIAMRole=OUR_ROLE)
    account.origination_numbers(us_toll_free())

    findings = aws_findings(
        config(originationNumber="+18005550100"), client=account.client, region="us-east-1"
    )

    assert [finding for finding in findings if finding.level != "OK"] == []
    assert "UPDATE_COMPLETE" in text_of(findings, "cdk bootstrap")
    assert "USD 20.00" in text_of(findings, "sms spend limit")


def test_a_pending_owner_number_on_the_second_page_must_be_verified(account: Account) -> None:
    account.identity().bootstrap("CREATE_COMPLETE")
    account.sandbox(True, {"+447700900123": "Verified", "+15550100000": "Pending"})
    account.sms_attributes(MonthlySpendLimit="5").origination_numbers(us_toll_free())

    findings = aws_findings(config(), client=account.client, region="us-east-1")

    assert levels(findings, "sms sandbox") == ["NOTE", "FIX"]
    assert "verify-sms-sandbox-phone-number" in text_of(findings, "sms sandbox")


def test_a_verified_owner_number_in_the_sandbox_is_fine(account: Account) -> None:
    account.identity().bootstrap("CREATE_COMPLETE").sandbox(True, {"+15550100000": "Verified"})
    account.sms_attributes(MonthlySpendLimit="5").origination_numbers(us_toll_free())
    findings = aws_findings(config(), client=account.client, region="us-east-1")
    assert levels(findings, "sms sandbox") == ["NOTE", "OK"]


def test_an_origination_number_the_account_does_not_own_must_be_fixed(account: Account) -> None:
    account.identity().bootstrap("CREATE_COMPLETE").sandbox(False).sms_attributes(MonthlySpendLimit="5")
    account.origination_numbers(us_toll_free("+18005550199"), us_toll_free("+18005550100", status="PENDING"))

    findings = aws_findings(
        config(originationNumber="+18005550100"), client=account.client, region="us-east-1"
    )

    assert levels(findings, "sms origination") == ["FIX"]
    assert "+18005550199" in text_of(findings, "sms origination")


def test_another_delivery_status_role_is_noted_before_it_is_replaced(account: Account) -> None:
    other = f"arn:aws:iam::{ACCOUNT}:role/SNSSuccessFeedback"
    account.identity().bootstrap("CREATE_COMPLETE").sandbox(False)
    account.sms_attributes(MonthlySpendLimit="5", DeliveryStatusIAMRole=other).origination_numbers(
        us_toll_free()
    )

    findings = aws_findings(config(), client=account.client, region="us-east-1")

    assert levels(findings, "sms delivery logs") == ["NOTE"]
    assert other in text_of(findings, "sms delivery logs") and "smsDeliveryLogs=false" in text_of(
        findings, "sms delivery logs"
    )


@pytest.mark.parametrize(
    ("region", "missing"), [("eu-west-3", "Rekognition"), ("us-west-1", "Kinesis Video")]
)
def test_a_region_without_rekognition_or_kvs_must_be_changed(
    account: Account, region: str, missing: str
) -> None:
    # botocore's own endpoint data (offline): eu-west-3 has KVS but no Rekognition, us-west-1 the reverse
    account.identity().bootstrap("CREATE_COMPLETE")
    findings = aws_findings(None, client=account.client, region=region)
    fixes = [finding.detail for finding in findings if finding.topic == "region" and finding.level == "FIX"]
    assert fixes and all(missing in detail for detail in fixes)
    assert "us-east-1" in fixes[0]


def test_no_credentials_or_no_region_stop_the_account_checks(account: Account) -> None:
    assert aws_findings(config(), client=account.client, region=None) == [
        Finding("FIX", "aws region", "none configured: set AWS_REGION (or pass --region)")
    ]
    account.stubs["sts"].add_client_error("get_caller_identity", service_error_code="ExpiredToken")
    [finding] = aws_findings(config(), client=account.client, region="us-east-1")
    assert finding.level == "FIX" and "ExpiredToken" in finding.detail
