"""`make preflight`: what a deployer must fix before `cdk deploy`, one line per finding.

Offline (no AWS account needed): the Python and Node versions, the pinned CDK CLI, the CDK
context exactly as synth validates it (`cdk_app.config`), extract_frame's Pillow layer, and SMS
settings that cannot work where the owner lives. With `--aws` (the default credential chain and
region, as the CDK CLI uses them) it also asks the account: who you are, whether the region
has Rekognition and Kinesis Video Streams, the CDK bootstrap stack, the SNS SMS sandbox and the
owner's number in it, the monthly SMS spend limit, the account's origination numbers and its
SMS delivery status logging. docs/sms.md explains every SMS finding and cites its source.

    python -m smartdoor_local.preflight [-c key=value ...] [--aws] [--region REGION]

Exit status 1 when anything must be fixed (FIX), else 0 (NOTE lines are advice).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cdk_app.config import ConfigError, SmartDoorConfig, load_config
from cdk_app.constants import LAYER_BUILDS, REPO_ROOT, STACK_NAME

Level = Literal["OK", "NOTE", "FIX"]

LAMBDA_PYTHON = (3, 13)
# jsii (the CDK's Python bridge) supports these Node majors; older ones print an end-of-life banner.
SUPPORTED_NODE_MAJORS = (22, 24)
BOOTSTRAP_STACK = "CDKToolkit"
# Services the stack creates or calls in its region (botocore's endpoint data names them).
REGIONAL_SERVICES = {
    "rekognition": "Amazon Rekognition (face search, collections)",
    "kinesisvideo": "Kinesis Video Streams (the door camera's stream)",
    "kinesis-video-archived-media": "Kinesis Video Streams GetImages (frames for face search)",
}
# New SNS accounts may spend USD 1.00 a month on SMS (SNS Developer Guide, sms_preferences).
DEFAULT_SPEND_LIMIT_USD = 1.0
DOCS = "docs/sms.md"


@dataclass(frozen=True)
class Finding:
    level: Level
    topic: str
    detail: str

    def line(self) -> str:
        return f"{self.level:<4}  {self.topic}: {self.detail}"


# ------------------------------------------------------------------------------------ offline


def read_context(args: Sequence[str], cdk_json: Path = REPO_ROOT / "cdk.json") -> dict[str, Any]:
    """cdk.json's context overlaid with `-c key=value` pairs, as the CDK CLI merges them."""
    context: dict[str, Any] = dict(json.loads(cdk_json.read_text(encoding="utf-8")).get("context", {}))
    for pair in args:
        key, separator, value = pair.partition("=")
        if not separator or not key:
            raise ValueError(f"-c expects key=value, got {pair!r}")
        context[key] = value
    return context


def check_python(version: tuple[int, int, int]) -> Finding:
    shown = ".".join(map(str, version))
    if version[:2] != LAMBDA_PYTHON:
        return Finding(
            "FIX", "python", f"{shown}: use Python 3.13, as Lambda runs it (make install PYTHON=python3.13)"
        )
    return Finding("OK", "python", f"{shown} (as Lambda runs it)")


def node_version() -> str | None:
    """`node --version` from node_modules/.bin first (npm's node package), then PATH."""
    local = REPO_ROOT / "node_modules" / ".bin" / "node"
    node = str(local) if local.exists() else shutil.which("node")
    if node is None:
        return None
    try:
        result = subprocess.run(  # noqa: S603 - the node binary found above, fixed argument
            [node, "--version"], capture_output=True, text=True, timeout=20, check=False
        )
    except OSError:
        return None
    return result.stdout.strip() or None


def check_node(version: str | None) -> Finding:
    if version is None:
        return Finding("FIX", "node", "not found; the CDK needs Node.js 22 or 24 LTS and npm")
    match = re.match(r"v?(\d+)\.", version)
    major = int(match.group(1)) if match else 0
    if major < min(SUPPORTED_NODE_MAJORS):
        return Finding(
            "FIX",
            "node",
            f"{version} is not a Node.js release the CDK (jsii) supports; install Node.js 22 or 24 LTS",
        )
    return Finding("OK", "node", version)


def check_cdk_cli(root: Path = REPO_ROOT) -> Finding:
    if (root / "node_modules" / ".bin" / "cdk").exists():
        return Finding("OK", "cdk cli", "the pinned aws-cdk is installed (node_modules)")
    return Finding("FIX", "cdk cli", "not installed: run npm install (make deploy does it too)")


def check_layer(layer_dir: Path, module: str, build: str) -> Finding:
    name = f"{layer_dir.name.split('-')[0]} layer"
    if (layer_dir / "python" / module).is_dir():
        return Finding("OK", name, f"built ({layer_dir.name})")
    return Finding("FIX", name, f"not built: run make layers ({build}; make deploy does it too)")


def check_config(context: dict[str, Any]) -> tuple[SmartDoorConfig | None, list[Finding]]:
    try:
        config = load_config(context)
    except ConfigError as error:
        problems = [line.strip() for line in str(error).splitlines()[1:] if line.strip()]
        return None, [Finding("FIX", "cdk context", problem) for problem in problems]
    return config, [
        Finding("OK", "cdk context", f"valid (door {config.door_id}, faceSource={config.face_source})")
    ]


def _north_american(phone: str) -> bool:
    return phone.startswith("+1")


def check_sms_settings(config: SmartDoorConfig) -> list[Finding]:
    """What the context alone says about SMS reaching the owner (docs/sms.md)."""
    findings = []
    if _north_american(config.owner_phone):
        if config.sms_sender_id:
            findings.append(
                Finding(
                    "NOTE",
                    "sms sender id",
                    f"{config.sms_sender_id} is not shown on US or Canadian phones "
                    "(they do not support sender IDs)",
                )
            )
        if not config.origination_number:
            findings.append(
                Finding(
                    "NOTE",
                    "sms origination",
                    "the owner's number is in the +1 plan: US carriers only deliver texts sent from a "
                    "registered toll-free, 10DLC or short code number; get one (SNS > Origination numbers) "
                    f"and pass -c originationNumber=+1... ({DOCS})",
                )
            )
    if not config.sms_delivery_logs:
        findings.append(
            Finding(
                "NOTE",
                "sms delivery logs",
                "smsDeliveryLogs=false: this stack will not alarm on texts that fail at the carrier "
                "(fine if another stack in the account manages SNS delivery status logging)",
            )
        )
    return findings


def offline_findings(context: dict[str, Any]) -> tuple[SmartDoorConfig | None, list[Finding]]:
    findings = [
        check_python(sys.version_info[:3]),
        check_node(node_version()),
        check_cdk_cli(),
        *(check_layer(*layer) for layer in LAYER_BUILDS),
    ]
    config, config_findings = check_config(context)
    findings += config_findings
    if config is not None:
        findings += check_sms_settings(config)
    return config, findings


# ------------------------------------------------------------------------------------ --aws


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", type(error).__name__))
    return type(error).__name__


def botocore_regions(service: str) -> set[str]:
    """Regions botocore's endpoint data lists for a service (offline)."""
    import botocore.session

    return set(botocore.session.get_session().get_available_regions(service))


def check_region(region: str, regions_of: Callable[[str], set[str]] = botocore_regions) -> list[Finding]:
    findings = []
    for service, what in REGIONAL_SERVICES.items():
        regions = regions_of(service)
        if region in regions:
            findings.append(Finding("OK", "region", f"{region} has {what}"))
        else:
            candidates = sorted(regions_of("rekognition") & regions_of("kinesisvideo"))
            findings.append(
                Finding(
                    "FIX",
                    "region",
                    f"{region} has no {what}; deploy to one of {', '.join(candidates)} (AWS_REGION)",
                )
            )
    return findings


def check_bootstrap(cloudformation: Any, account: str, region: str) -> Finding:
    fix = f"run npx aws-cdk bootstrap aws://{account}/{region}"
    try:
        [stack] = cloudformation.describe_stacks(StackName=BOOTSTRAP_STACK)["Stacks"]
    except Exception as error:
        if _error_code(error) == "ValidationError":  # CloudFormation's answer for "does not exist"
            return Finding("FIX", "cdk bootstrap", f"no {BOOTSTRAP_STACK} stack in {region}: {fix}")
        return Finding("NOTE", "cdk bootstrap", f"could not read {BOOTSTRAP_STACK} ({_error_code(error)})")
    status = str(stack["StackStatus"])
    if status.endswith("_COMPLETE") and not status.startswith(("DELETE", "ROLLBACK")):
        return Finding("OK", "cdk bootstrap", f"{BOOTSTRAP_STACK} is {status}")
    return Finding("FIX", "cdk bootstrap", f"{BOOTSTRAP_STACK} is {status}: {fix}")


def check_sms_sandbox(sns: Any, owner_phone: str) -> list[Finding]:
    try:
        in_sandbox = bool(sns.get_sms_sandbox_account_status()["IsInSandbox"])
    except Exception as error:
        return [Finding("NOTE", "sms sandbox", f"could not read the sandbox status ({_error_code(error)})")]
    if not in_sandbox:
        return [
            Finding("OK", "sms sandbox", "the account is out of the SNS SMS sandbox: texts reach any number")
        ]
    findings = [
        Finding(
            "NOTE",
            "sms sandbox",
            "the account is in the SNS SMS sandbox: texts reach only verified numbers (at most 10), so "
            "visitors get no code until you verify theirs or request production access "
            f"(SNS console > Text messaging (SMS) > Sandbox > Exit SMS sandbox; {DOCS})",
        )
    ]
    statuses: dict[str, str] = {}
    token: str | None = None
    try:
        while True:
            page = sns.list_sms_sandbox_phone_numbers(**({"NextToken": token} if token else {}))
            statuses.update({entry["PhoneNumber"]: entry["Status"] for entry in page.get("PhoneNumbers", [])})
            token = page.get("NextToken")
            if not token:
                break
    except Exception as error:
        findings.append(
            Finding("NOTE", "sms sandbox", f"could not list verified numbers ({_error_code(error)})")
        )
        return findings
    status = statuses.get(owner_phone)
    if status == "Verified":
        findings.append(Finding("OK", "sms sandbox", "the owner's number is verified"))
    elif status == "Pending":
        findings.append(
            Finding(
                "FIX",
                "sms sandbox",
                "the owner's number is not verified yet: aws sns verify-sms-sandbox-phone-number "
                "--phone-number <ownerPhone> --one-time-password <code from the text>",
            )
        )
    else:
        findings.append(
            Finding(
                "FIX",
                "sms sandbox",
                "the owner's number is not in the sandbox, so approval texts cannot reach it: "
                "aws sns create-sms-sandbox-phone-number --phone-number <ownerPhone>, then "
                "verify-sms-sandbox-phone-number with the code it texts",
            )
        )
    return findings


def check_sms_attributes(sns: Any, config: SmartDoorConfig) -> list[Finding]:
    try:
        attributes = sns.get_sms_attributes(attributes=["MonthlySpendLimit", "DeliveryStatusIAMRole"])[
            "attributes"
        ]
    except Exception as error:
        return [
            Finding(
                "NOTE", "sms attributes", f"could not read the account's SMS settings ({_error_code(error)})"
            )
        ]
    findings = []
    raw_limit = attributes.get("MonthlySpendLimit")
    try:
        limit = float(raw_limit) if raw_limit is not None else DEFAULT_SPEND_LIMIT_USD
    except ValueError:
        limit = DEFAULT_SPEND_LIMIT_USD
    if limit <= DEFAULT_SPEND_LIMIT_USD:
        findings.append(
            Finding(
                "NOTE",
                "sms spend limit",
                f"USD {limit:.2f} a month (the new-account default): SNS stops sending texts within minutes "
                "of reaching it; request an increase (Service Quotas / support case 'SNS Text Messaging'), "
                f"then aws sns set-sms-attributes --attributes MonthlySpendLimit=<USD> ({DOCS})",
            )
        )
    else:
        findings.append(Finding("OK", "sms spend limit", f"USD {limit:.2f} a month"))
    role = attributes.get("DeliveryStatusIAMRole") or ""
    ours = f"/{STACK_NAME}-SmsDeliveryLogsRole" in role
    if config.sms_delivery_logs and role and not ours:
        findings.append(
            Finding(
                "NOTE",
                "sms delivery logs",
                f"the account already logs SMS delivery status through {role}; deploying points it at this "
                "stack's role instead (pass -c smsDeliveryLogs=false to keep it)",
            )
        )
    elif not config.sms_delivery_logs and not role:
        findings.append(
            Finding(
                "NOTE",
                "sms delivery logs",
                "nothing in the account logs SMS delivery status: texts that fail at the carrier go unseen "
                "(drop -c smsDeliveryLogs=false)",
            )
        )
    return findings


def check_origination_numbers(sns: Any, config: SmartDoorConfig) -> list[Finding]:
    numbers: list[dict[str, Any]] = []
    token: str | None = None
    try:
        while True:
            page = sns.list_origination_numbers(**({"NextToken": token} if token else {}))
            numbers += page.get("PhoneNumbers", [])
            token = page.get("NextToken")
            if not token:
                break
    except Exception as error:
        return [
            Finding("NOTE", "sms origination", f"could not list origination numbers ({_error_code(error)})")
        ]
    usable = {
        str(number["PhoneNumber"]): number
        for number in numbers
        if number.get("Status") == "ACTIVE" and "SMS" in number.get("NumberCapabilities", [])
    }
    if config.origination_number:
        if config.origination_number in usable:
            return [Finding("OK", "sms origination", f"{config.origination_number} is an active SMS number")]
        return [
            Finding(
                "FIX",
                "sms origination",
                f"-c originationNumber={config.origination_number} is not an active SMS-capable origination "
                f"number of this account in this region (it has: {', '.join(sorted(usable)) or 'none'})",
            )
        ]
    if _north_american(config.owner_phone) and not any(
        n.get("Iso2CountryCode") == "US" for n in usable.values()
    ):
        return [
            Finding(
                "NOTE",
                "sms origination",
                "the account has no active US toll-free or 10DLC number: texts to US phones will not be "
                f"delivered ({DOCS})",
            )
        ]
    return [Finding("OK", "sms origination", f"{len(usable)} active SMS number(s); SNS picks one per text")]


def aws_findings(
    config: SmartDoorConfig | None,
    *,
    client: Callable[[str], Any],
    region: str | None,
    regions_of: Callable[[str], set[str]] = botocore_regions,
) -> list[Finding]:
    """The account checks, through `client(service)` (boto3 clients; Stubber-backed in tests)."""
    if not region:
        return [Finding("FIX", "aws region", "none configured: set AWS_REGION (or pass --region)")]
    try:
        identity = client("sts").get_caller_identity()
    except Exception as error:
        return [
            Finding(
                "FIX",
                "aws credentials",
                f"none usable ({_error_code(error)}): "
                "configure them (aws configure, AWS_PROFILE or SSO login)",
            )
        ]
    account = str(identity["Account"])
    findings = [Finding("OK", "aws credentials", f"account {account} as {identity['Arn']}")]
    findings += check_region(region, regions_of)
    findings.append(check_bootstrap(client("cloudformation"), account, region))
    if config is not None:
        sns = client("sns")
        findings += check_sms_sandbox(sns, config.owner_phone)
        findings += check_sms_attributes(sns, config)
        findings += check_origination_numbers(sns, config)
    return findings


# ------------------------------------------------------------------------------------ main


def main(argv: Sequence[str] | None = None, out: Any = None) -> int:
    out = out or sys.stdout
    parser = argparse.ArgumentParser(prog="make preflight", description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--aws", action="store_true", help="also check the AWS account (needs credentials)")
    parser.add_argument("--region", help="the region to check (default: the credential chain's)")
    args = parser.parse_args(argv)
    try:
        context = read_context(args.context)
    except ValueError as error:
        parser.error(str(error))
    config, findings = offline_findings(context)
    if args.aws:
        import boto3

        session = boto3.session.Session(region_name=args.region) if args.region else boto3.session.Session()
        findings += aws_findings(
            config,
            client=lambda service: session.client(service),  # type: ignore[call-overload]
            region=session.region_name,
        )
    for finding in findings:
        print(finding.line(), file=out)
    to_fix = sum(finding.level == "FIX" for finding in findings)
    if to_fix:
        print(f"\n{to_fix} thing(s) to fix before cdk deploy.", file=out)
    else:
        checked = "offline and in the account" if args.aws else "offline (add --aws to check the account)"
        print(f"\nNothing to fix {checked}.", file=out)
    return 1 if to_fix else 0


if __name__ == "__main__":
    sys.exit(main())
