"""The CDK app: `cdk synth -c ownerPhone=+15551234567 -c ownerEmail=you@example.com`.

cdk-nag's AwsSolutions pack runs on every synth; synth fails on any finding that is not
acknowledged (with a written reason) next to the construct it concerns.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from cdk_app.components.functions import MissingBuildArtifact
from cdk_app.components.workflows import UnknownPlaceholder
from cdk_app.config import ConfigError, SmartDoorConfig, load_config
from cdk_app.constants import REPO_ROOT, STACK_NAME
from cdk_app.stack import SmartDoorStack

CDK_JSON = REPO_ROOT / "cdk.json"
CONTEXT_KEYS = tuple(field.alias for field in SmartDoorConfig.model_fields.values() if field.alias)


def apply_project_context(app: App, cdk_json: Path = CDK_JSON) -> None:
    """Give the app cdk.json's context (feature flags, defaults) where it has no value yet.

    The CDK CLI already does this; an app built in-process (tests) would otherwise synthesize
    with other feature flags than the deployment does.
    """
    project_context = json.loads(cdk_json.read_text(encoding="utf-8")).get("context", {})
    for key, value in project_context.items():
        if app.node.try_get_context(key) is None:
            app.node.set_context(key, value)


def read_config(app: App) -> SmartDoorConfig:
    """The typed configuration from the app's context (cdk.json and `-c key=value`)."""
    context = {key: app.node.try_get_context(key) for key in CONTEXT_KEYS}
    return load_config({key: value for key, value in context.items() if value is not None})


def build_app(app: App | None = None) -> tuple[App, SmartDoorStack]:
    """Add the Smart Door stack and the cdk-nag checks to `app`.

    Raises ConfigError on bad context, MissingBuildArtifact when a layer is not built yet and
    UnknownPlaceholder when a workflow names a resource the app does not have.
    """
    app = app or App()
    apply_project_context(app)
    config = read_config(app)
    # Region-agnostic unless the CLI knows the target account and region.
    env = Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"),
        region=os.environ.get("CDK_DEFAULT_REGION"),
    )
    stack = SmartDoorStack(app, STACK_NAME, config=config, env=env)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


def main() -> int:
    try:
        app, _ = build_app()
    except (ConfigError, MissingBuildArtifact, UnknownPlaceholder) as error:
        print(error, file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
