"""smartdoor.observability: no X-Ray SDK in the functions, counts as log fields.

Tracing is Lambda's and Step Functions' active tracing (tests/infra assert it is on); the code
must not pull in the X-Ray SDK, which the Powertools Tracer is built on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from smartdoor.observability import COUNTS_KEY, log_counts

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"
HANDLERS = sorted(
    f"{path.parent.name}.handler"
    for path in FUNCTIONS_DIR.glob("*/handler.py")
    if path.parent.name != "smartdoor"
)

# Refuses aws_xray_sdk (installed or not) and records who asked, then imports every handler.
_IMPORT_EVERY_HANDLER = """
import importlib, importlib.abc, json, sys, traceback
asked = []
class NoXRay(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "aws_xray_sdk":
            asked.append(name + " <- " + "".join(traceback.format_stack(limit=8)))
            raise ImportError("the X-Ray SDK is not to be imported: " + name)
        return None
sys.meta_path.insert(0, NoXRay())
for module in {handlers!r}:
    importlib.import_module(module)
print(json.dumps(asked))
"""


def test_no_handler_imports_the_xray_sdk_with_lambdas_environment() -> None:
    # GIVEN the environment Lambda gives a function with active tracing (trace id included)
    env = {key: value for key, value in os.environ.items() if not key.startswith("POWERTOOLS_TRACE")}
    env.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": "api",
            "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            "PYTHONPATH": os.pathsep.join([str(FUNCTIONS_DIR), str(FUNCTIONS_DIR.parent)]),
        }
    )
    # WHEN every handler module is imported in a fresh interpreter
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", _IMPORT_EVERY_HANDLER.format(handlers=HANDLERS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    # THEN all import, and none asked for the X-Ray SDK
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
    assert len(HANDLERS) >= 13


def test_a_count_is_a_field_of_one_log_line_and_no_metric(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN an invocation that counts an event no alarm reads
    def handler(event: dict[str, object], context: object) -> str:
        log_counts("Door unlocked", {"DoorUnlocked": 1}, door_id="front-door")
        return "ok"

    assert handler({}, None) == "ok"
    # THEN one log line carries it, located at its caller, and no EMF document (no custom metric)
    (record,) = caplog.records
    assert (record.getMessage(), record.levelname, record.funcName) == ("Door unlocked", "INFO", "handler")
    assert record.__dict__[COUNTS_KEY] == {"DoorUnlocked": 1} and record.__dict__["door_id"] == "front-door"
    assert "_aws" not in capsys.readouterr().out
