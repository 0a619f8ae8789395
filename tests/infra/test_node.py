"""The CDK runs on a supported Node.js LTS: the project's own, whatever PATH's node is.

jsii prints an 11-line banner when it runs on a Node it no longer supports ("Node 20 is
end-of-life and not supported anymore by this software since 2026-10-30"); the project installs
Node.js 24 LTS from npm into node_modules/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from cdk_app import PROJECT_NODE

SYNTH_A_CONSTRUCT = "import cdk_app, aws_cdk; aws_cdk.Stack(aws_cdk.App(), 'S'); print('ok')"


def test_the_project_node_is_a_supported_lts() -> None:
    version = subprocess.run(  # noqa: S603 - the project's own node binary
        [str(PROJECT_NODE), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert int(version.lstrip("v").split(".")[0]) in (22, 24)


@pytest.mark.skipif(shutil.which("node") is None, reason="no node on PATH to fall back to")
def test_jsii_uses_the_project_node_even_with_an_older_one_first_on_path() -> None:
    # GIVEN a PATH whose node is the machine's own (Node 20 on a fresh machine), no JSII_NODE
    env = {key: value for key, value in os.environ.items() if key != "JSII_NODE"}
    env["PATH"] = os.pathsep.join([os.path.dirname(shutil.which("node") or ""), "/usr/bin", "/bin"])
    # WHEN Python code builds a construct (jsii starts its Node.js kernel)
    done = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", SYNTH_A_CONSTRUCT],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    # THEN it ran, with no end-of-life banner
    assert done.returncode == 0, done.stderr
    assert "end-of-life" not in done.stderr and "not supported" not in done.stderr
