"""The Smart Door CDK app.

jsii, the CDK's bridge from Python, runs the construct library in Node.js: the project's own
(npm's `node` package in node_modules/, a supported LTS) unless JSII_NODE names another, so an
in-process synth (tests, make lint, the local stack) never falls back to an end-of-life Node on
PATH. Set before anything imports aws_cdk.
"""

import os
import sys
from pathlib import Path

PROJECT_NODE = Path(__file__).resolve().parent.parent / "node_modules" / ".bin" / "node"
# The configuration validates with the Lambda code's own rules (smartdoor.domain.phones), so
# functions/ is importable here as it is in the Lambda asset.
FUNCTIONS_DIR = Path(__file__).resolve().parent.parent / "functions"

if "JSII_NODE" not in os.environ and PROJECT_NODE.exists():
    os.environ["JSII_NODE"] = str(PROJECT_NODE)
if str(FUNCTIONS_DIR) not in sys.path:
    sys.path.append(str(FUNCTIONS_DIR))
