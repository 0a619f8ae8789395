"""Smart Door without AWS: the real Lambda handlers, run in-process against moto.

`lambda_runtime` replaces moto's no-Docker Lambda backend with one that calls the registered
handlers; `workflows` renders the ASL files the way CloudFormation does and follows executions.
Workflow tests use both; the laptop local stack builds on them.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = REPO_ROOT / "functions"
WORKFLOWS_DIR = REPO_ROOT / "workflows"


def ensure_functions_importable() -> None:
    """Make `functions/` importable the way the Lambda asset is (`<name>.handler`, `smartdoor.*`)."""
    path = str(FUNCTIONS_DIR)
    if path not in sys.path:
        sys.path.append(path)


def ensure_repository_importable() -> None:
    """Make the repository's own packages (`cdk_app`) importable: the local stack synthesizes the
    CDK app in process, and the installed `smartdoor` command does not run from the repository."""
    path = str(REPO_ROOT)
    if path not in sys.path:
        sys.path.append(path)


# The local stack and the `smartdoor` command run the Lambda code in this process, so the shared
# Lambda package (`smartdoor.*`) must be importable wherever `smartdoor_local` is.
ensure_functions_importable()
