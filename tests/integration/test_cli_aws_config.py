"""The smartdoor command and the developer's AWS configuration.

Local commands (everything without --aws) never read it: a missing AWS_PROFILE, or a config
file botocore cannot even parse, changes nothing. With --aws, a profile, region or credentials
problem is one line on stderr and exit status 1, never a traceback.

Each case runs the installed console script in its own process, as a developer runs it, so the
imports (the Lambda code's observability module included) happen under that environment.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.face_search import FIXTURES

SMARTDOOR = Path(sys.executable).with_name("smartdoor")  # make install puts it beside python
AWS_ENVIRONMENT = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
)


def smartdoor(tmp_path: Path, *argv: str, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in AWS_ENVIRONMENT}
    # Should anything get as far as calling AWS, it reaches a closed local port instead.
    env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{closed_port()}"
    env["AWS_MAX_ATTEMPTS"] = "1"
    env.update(environment)
    return subprocess.run(  # noqa: S603 - our own console script, fixed arguments
        [str(SMARTDOOR), *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
        env=env,
    )


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def unreadable_config(tmp_path: Path) -> Path:
    """An AWS config file that botocore refuses to parse: reading it at all is an error."""
    path = tmp_path / "aws-config"
    path.write_text("this is not an ini file\n[profile\n", encoding="utf-8")
    return path


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_replay_ignores_a_missing_profile_and_an_unreadable_aws_config(
    tmp_path: Path, unreadable_config: Path
) -> None:
    # GIVEN a recorded face-search record, and an AWS configuration that would break botocore
    record = json.loads((FIXTURES / "aws_published_example.json").read_text(encoding="utf-8"))
    trace = tmp_path / "day.jsonl"
    trace.write_text(json.dumps(record) + "\n", encoding="utf-8")
    # WHEN replaying it locally
    done = smartdoor(
        tmp_path,
        "replay",
        str(trace),
        AWS_PROFILE="nosuch",
        AWS_CONFIG_FILE=str(unreadable_config),
        AWS_SHARED_CREDENTIALS_FILE=str(unreadable_config),
    )
    # THEN it runs as with no AWS configuration at all
    assert done.returncode == 0, done.stderr
    assert "1 records in" in done.stderr.strip().splitlines()[-1]
    assert "Traceback" not in done.stderr


def test_a_local_owner_command_with_a_missing_profile_only_reports_the_missing_local_stack(
    tmp_path: Path, unreadable_config: Path
) -> None:
    # GIVEN no local stack on the port, a missing AWS_PROFILE and an unreadable AWS config
    port = closed_port()
    # WHEN listing visitors of the local stack
    done = smartdoor(
        tmp_path,
        "visitors",
        "list",
        "--port",
        str(port),
        AWS_PROFILE="nosuch",
        AWS_CONFIG_FILE=str(unreadable_config),
    )
    # THEN the one problem reported is the missing local stack
    assert done.returncode == 1
    assert one_line(done.stderr).startswith(
        f"smartdoor visitors list: error: no local stack answers at http://127.0.0.1:{port}"
    )


def test_with_aws_a_missing_profile_is_one_line(tmp_path: Path) -> None:
    # GIVEN an AWS_PROFILE that no AWS config names
    # WHEN listing the deployed stack's visitors
    done = smartdoor(tmp_path, "visitors", "list", "--aws", AWS_PROFILE="nosuch", AWS_REGION="eu-west-1")
    # THEN one line names the profile and what to do
    assert done.returncode == 1
    assert one_line(done.stderr) == (
        "smartdoor visitors list: error: AWS profile 'nosuch' is not in your AWS config: "
        "set AWS_PROFILE to one that is, or unset it"
    )


def test_with_aws_a_missing_region_is_one_line(tmp_path: Path) -> None:
    # GIVEN credentials but no region anywhere (no variable, an empty AWS config)
    empty = tmp_path / "empty-config"
    empty.write_text("", encoding="utf-8")
    # WHEN enrolling into the deployed stack
    photo = tmp_path / "face.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0 not really a photo")
    done = smartdoor(
        tmp_path,
        "enrol",
        "--name",
        "Ada",
        "--phone",
        "+15550100042",
        str(photo),
        "--aws",
        AWS_CONFIG_FILE=str(empty),
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
    )
    # THEN one line says how to give one
    assert done.returncode == 1
    assert one_line(done.stderr) == "smartdoor enrol: error: no AWS region: pass --region or set AWS_REGION"


def test_with_aws_and_a_region_the_command_does_reach_for_aws(tmp_path: Path) -> None:
    """The counterpart of the cases above: with a good configuration the command gets as far as
    calling CloudFormation (here a closed local port), and says so in one line."""
    empty = tmp_path / "empty-config"
    empty.write_text("", encoding="utf-8")
    done = smartdoor(
        tmp_path,
        "visitors",
        "list",
        "--aws",
        "--region",
        "eu-west-1",
        AWS_CONFIG_FILE=str(empty),
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
    )
    assert done.returncode == 1
    line = one_line(done.stderr)
    assert line.startswith("smartdoor visitors list: error: cannot reach AWS: Could not connect"), line
