"""A function's own default for a setting is the one CDK deploys (cdk_app/config.py's defaults table).

The template always sets these variables, so a function's default only matters to a test or a
handler run by hand; but a default that drifts from CDK's would make those runs lie. For each
function of the template synthesized with CDK's defaults (the local stack's context), every
setting the template sets and the function also defaults must read the same either way.
"""

from __future__ import annotations

import importlib

import msgspec

from smartdoor.settings import read_settings
from smartdoor_local.emulation.deploy import Deployer
from smartdoor_local.emulation.model import UnresolvedIntrinsic
from smartdoor_local.emulation.resources import NOT_A_PROJECT_FUNCTION, function_skip_reason, local_deployment
from smartdoor_local.stack import ACCOUNT, REGION, LocalConfig
from tests.infra.synth import settings_models


def _rendered(deployer: Deployer, value: object) -> str:
    try:
        return deployer.intrinsics.text(value)
    except UnresolvedIntrinsic:  # a value moto makes, or CloudFront's domain: any valid text
        return "https://door.example.com" if "Distribution" in str(value) else "arn:aws:local:placeholder"


def test_every_function_default_equals_the_deployed_default() -> None:
    deployer = Deployer(*local_deployment(LocalConfig().context(), REGION, ACCOUNT))
    checked = 0
    for function in deployer.model.functions():
        if function_skip_reason(function) == NOT_A_PROJECT_FUNCTION:
            continue
        importlib.import_module(f"{function.folder}.handler")
        environment = {name: _rendered(deployer, value) for name, value in function.environment.items()}
        for model in settings_models(str(function.folder)):
            defaulted = {
                info.encode_name: info.name
                for info in msgspec.structs.fields(model)
                if not info.required and info.default is not None and info.encode_name in environment
            }
            deployed = read_settings(model, environment)
            own = read_settings(model, {k: v for k, v in environment.items() if k not in defaulted})
            for variable, name in defaulted.items():
                assert getattr(own, name) == getattr(deployed, name), f"{function.folder}: {variable}"
                checked += 1
    assert checked >= 20  # the match rules, the OTP policy, the session limits, ...
