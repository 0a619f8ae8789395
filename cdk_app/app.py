"""The CDK app: `cdk synth -c ownerPhone=+15551234567 -c ownerEmail=you@example.com`.

cdk-nag's AwsSolutions pack runs on every synth; synth fails on any finding that is not
acknowledged (with a written reason) next to the construct it concerns.
"""

from __future__ import annotations

import os
import sys

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from cdk_app.config import ConfigError, SmartDoorConfig, load_config
from cdk_app.constants import STACK_NAME
from cdk_app.stack import SmartDoorStack

CONTEXT_KEYS = tuple(field.alias for field in SmartDoorConfig.model_fields.values() if field.alias)


def read_config(app: App) -> SmartDoorConfig:
    """The typed configuration from the app's context (cdk.json and `-c key=value`)."""
    context = {key: app.node.try_get_context(key) for key in CONTEXT_KEYS}
    return load_config({key: value for key, value in context.items() if value is not None})


def build_app(app: App | None = None) -> tuple[App, SmartDoorStack]:
    """Add the Smart Door stack and the cdk-nag checks to `app`; raises ConfigError on bad context."""
    app = app or App()
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
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
