"""HTTP API: explicit routes to the API Lambda, bodies checked at the edge, a throttled, logged
and traced stage, CORS for the pages' origin only, and the API Lambda's least-privilege grants."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft4Validator

from api.handler import MAX_BODY_BYTES, ApiSettings
from smartdoor.settings import read_settings
from smartdoor.settings import variables as settings_variables
from tests.infra.synth import (
    DISTRIBUTION_DOMAIN,
    LOGS,
    XRAY,
    Synthesized,
    actions_on,
    all_actions,
    deployment_names,
    render,
    statements_of,
)

pytestmark = pytest.mark.infra

SHOW = ("GET", "/approvals/{approvalId}")
DECIDE = ("POST", "/approvals/{approvalId}")
UNLOCK = ("POST", "/doors/{doorId}/unlock")
# Door device routes (cdk_app/components/doorbell.py; their own tests: tests/infra/test_doorbell.py).
RING = ("POST", "/doors/{doorId}/ring")
SNAPSHOTS = ("POST", "/doors/{doorId}/snapshots")
LOCK_STATE = ("GET", "/doors/{doorId}/lock/{commandId}")


def _routes(synthesized: Synthesized) -> dict[tuple[str, str], dict[str, Any]]:
    """Every method of the REST API by (HTTP method, resource path)."""
    resources = {
        logical_id: resource["Properties"]
        for logical_id, resource in synthesized.resources.items()
        if resource["Type"] == "AWS::ApiGateway::Resource"
    }

    def path(resource_id: dict[str, Any]) -> str:
        if "Fn::GetAtt" in resource_id:  # the root resource
            return ""
        properties = resources[resource_id["Ref"]]
        return f"{path(properties['ParentId'])}/{properties['PathPart']}"

    return {
        (method["Properties"]["HttpMethod"], path(method["Properties"]["ResourceId"]) or "/"): method[
            "Properties"
        ]
        for method in synthesized.resources.values()
        if method["Type"] == "AWS::ApiGateway::Method"
    }


def _stage(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.properties(synthesized.stack.api.stage)


# ------------------------------------------------------------------ routes


def test_the_api_has_exactly_the_documented_routes_and_their_preflights(synthesized: Synthesized) -> None:
    routes = _routes(synthesized)
    assert set(routes) == {
        SHOW,
        DECIDE,
        UNLOCK,
        RING,
        SNAPSHOTS,
        LOCK_STATE,
        ("OPTIONS", "/approvals/{approvalId}"),
        ("OPTIONS", "/doors/{doorId}/unlock"),
        ("OPTIONS", "/doors/{doorId}/lock/{commandId}"),
    }
    # No catch-all: unknown paths are refused by API Gateway itself.
    assert not any("{proxy+}" in path or method == "ANY" for method, path in routes)


@pytest.mark.parametrize("route", [SHOW, DECIDE, UNLOCK, LOCK_STATE])
def test_routes_are_lambda_proxy_integrations_of_the_api_function(
    synthesized: Synthesized, route: tuple[str, str]
) -> None:
    integration = _routes(synthesized)[route]["Integration"]
    function = synthesized.logical_id(synthesized.stack.api.function)
    assert integration["Type"] == "AWS_PROXY"
    assert integration["IntegrationHttpMethod"] == "POST"
    assert {"Fn::GetAtt": [function, "Arn"]} in integration["Uri"]["Fn::Join"][1]


def test_api_gateway_may_invoke_the_function_only_for_its_routes_on_its_stage(
    synthesized: Synthesized,
) -> None:
    function = {"Fn::GetAtt": [synthesized.logical_id(synthesized.stack.api.function), "Arn"]}
    permissions = [
        resource["Properties"]
        for resource in synthesized.resources.values()
        if resource["Type"] == "AWS::Lambda::Permission"
        and resource["Properties"]["FunctionName"] == function
    ]
    assert {p["Principal"] for p in permissions} == {"apigateway.amazonaws.com"}
    names = deployment_names(synthesized)
    prefix = "arn:aws:execute-api:eu-west-1:111122223333:a1b2c3d4e5/v1"
    # Route templates become '*' in the source ARN; no test-invoke (stage '*') grants.
    assert {render(p["SourceArn"], names) for p in permissions} == {
        f"{prefix}/GET/approvals/*",
        f"{prefix}/POST/approvals/*",
        f"{prefix}/POST/doors/*/unlock",
        f"{prefix}/GET/doors/*/lock/*",
        f"{prefix}/POST/doors/*/ring",
        f"{prefix}/POST/doors/*/snapshots",
    }


def test_device_routes_can_hang_off_the_exposed_door_resource(synthesized: Synthesized) -> None:
    api = synthesized.stack.api
    assert api.door.path == "/doors/{doorId}"
    assert api.door.api.node.path == api.rest_api.node.path
    assert api.unlock.parent_resource is not None
    assert api.unlock.parent_resource.node.path == api.door.node.path


# ------------------------------------------------------------------ validation at the edge


@pytest.mark.parametrize(
    ("route", "parameter"),
    [(SHOW, "approvalId"), (DECIDE, "approvalId"), (UNLOCK, "doorId")],
)
def test_every_route_is_validated_with_its_path_parameter_required(
    synthesized: Synthesized, route: tuple[str, str], parameter: str
) -> None:
    method = _routes(synthesized)[route]
    assert method["RequestParameters"] == {f"method.request.path.{parameter}": True}
    validator = synthesized.resources[method["RequestValidatorId"]["Ref"]]
    assert validator["Type"] == "AWS::ApiGateway::RequestValidator"
    assert validator["Properties"]["ValidateRequestBody"] is True
    assert validator["Properties"]["ValidateRequestParameters"] is True


def _body_schema(synthesized: Synthesized, route: tuple[str, str]) -> dict[str, Any]:
    models = _routes(synthesized)[route]["RequestModels"]
    assert set(models) == {"application/json"}
    model = synthesized.resources[models["application/json"]["Ref"]]
    assert model["Properties"]["ContentType"] == "application/json"
    return model["Properties"]["Schema"]


# What the pages send, and bodies the handler itself must judge (its 400s name the field).
PASSES_THE_EDGE = {
    DECIDE: [
        {"decision": "approve", "name": "Ada Lovelace", "phone": "+447700900123"},
        {"decision": "deny"},
        {"decision": "deny", "name": None, "phone": None},
        {"decision": "maybe"},
        {"decision": "approve", "name": "", "phone": "555"},
        {},
    ],
    UNLOCK: [{"otp": "123456"}, {"otp": "12345"}, {"otp": "12a456"}, {}],
}
# Odd shapes and oversized fields: API Gateway answers 400 before any Lambda runs.
REFUSED_AT_THE_EDGE = {
    DECIDE: [
        {"decision": "approve", "name": "A" * 5000, "phone": "+447700900123"},
        {"decision": "approve", "name": "Ada", "phone": "+4" * 100},
        {"decision": "d" * 100},
        {"decision": "deny", "note": "hello"},
        {"decision": ["deny"]},
        {"decision": "approve", "name": {"first": "Ada"}, "phone": "+447700900123"},
        [{"decision": "deny"}],
        "deny",
    ],
    UNLOCK: [
        {"otp": "1" * 5000},
        {"otp": 123456},
        {"otp": ["123456"]},
        {"otp": "123456", "doorId": "front-door"},
        [{"otp": "123456"}],
        None,
    ],
}


@pytest.mark.parametrize("route", [DECIDE, UNLOCK])
def test_body_models_let_through_what_the_pages_and_handler_expect(
    synthesized: Synthesized, route: tuple[str, str]
) -> None:
    validator = Draft4Validator(_body_schema(synthesized, route))
    for body in PASSES_THE_EDGE[route]:
        assert list(validator.iter_errors(body)) == [], body


@pytest.mark.parametrize("route", [DECIDE, UNLOCK])
def test_body_models_refuse_odd_and_oversized_bodies(
    synthesized: Synthesized, route: tuple[str, str]
) -> None:
    validator = Draft4Validator(_body_schema(synthesized, route))
    for body in REFUSED_AT_THE_EDGE[route]:
        assert not validator.is_valid(body), body


@pytest.mark.parametrize("route", [DECIDE, UNLOCK])
def test_the_largest_body_the_edge_admits_is_within_the_handlers_limit(
    synthesized: Synthesized, route: tuple[str, str]
) -> None:
    # GIVEN a body with every field at its edge limit, in the characters JSON escapes longest
    schema = _body_schema(synthesized, route)
    body = {name: "\u0001" * field["maxLength"] for name, field in schema["properties"].items()}
    assert Draft4Validator(schema).is_valid(body)
    # THEN the handler would still read it (not 413): the two limits never contradict
    assert len(json.dumps(body).encode()) <= MAX_BODY_BYTES


# ------------------------------------------------------------------ the stage


@pytest.mark.parametrize(
    ("fixture", "rate", "burst"), [("synthesized", 10, 20), ("synthesized_custom", 2, 4)]
)
def test_the_stage_throttles_every_route_as_configured(
    fixture: str, rate: int, burst: int, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(fixture)
    [settings] = _stage(synthesized)["MethodSettings"]
    assert (settings["ResourcePath"], settings["HttpMethod"]) == ("/*", "*")
    assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == (rate, burst)


def test_the_stage_is_traced_with_metrics_and_error_logs_but_never_request_data(
    synthesized: Synthesized,
) -> None:
    stage = _stage(synthesized)
    assert stage["StageName"] == "v1"
    assert stage["TracingEnabled"] is True
    [settings] = stage["MethodSettings"]
    assert settings["MetricsEnabled"] is True
    assert settings["LoggingLevel"] == "ERROR"
    # A data trace would log bodies: phone numbers and passcodes.
    assert settings["DataTraceEnabled"] is False


def test_access_logs_are_json_lines_in_the_apis_log_group(synthesized: Synthesized) -> None:
    api = synthesized.stack.api
    setting = _stage(synthesized)["AccessLogSetting"]
    # The log group's own ARN, without GetAtt's trailing ":*" (feature flag
    # @aws-cdk/aws-apigateway:logGroupDestinationArnWithoutWildcard)
    assert setting["DestinationArn"] == {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":logs:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                ":log-group:",
                {"Ref": synthesized.logical_id(api.access_logs)},
            ],
        ]
    }
    assert synthesized.properties(api.access_logs)["RetentionInDays"] == 30
    fields = json.loads(setting["Format"])
    assert all(value.startswith("$context.") for value in fields.values())
    assert {"$context.requestId", "$context.status", "$context.resourcePath", "$context.httpMethod"} <= set(
        fields.values()
    )


def test_access_logs_hold_no_approval_id_and_no_submitted_value(synthesized: Synthesized) -> None:
    log_format = _stage(synthesized)["AccessLogSetting"]["Format"]
    fields = set(json.loads(log_format).values())
    # $context.path carries the approval id; the validation error string quotes the bad value.
    assert "$context.path" not in fields
    assert "$context.error.validationErrorString" not in fields
    assert "$input" not in log_format and "$request" not in log_format


def test_api_gateway_logs_through_a_retained_account_role(synthesized: Synthesized) -> None:
    [(account_id, account)] = synthesized.template.find_resources("AWS::ApiGateway::Account").items()
    role_id = account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]
    role = synthesized.resources[role_id]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "apigateway.amazonaws.com"
    }
    # Shared by every API in the account and region: deleting this stack must not unset it.
    assert account["DeletionPolicy"] == "Retain"
    assert role["DeletionPolicy"] == "Retain"
    assert account_id in _stage_dependencies(synthesized)


def _stage_dependencies(synthesized: Synthesized) -> list[str]:
    return list(synthesized.resource(synthesized.stack.api.stage).get("DependsOn", []))


# ------------------------------------------------------------------ CORS


@pytest.mark.parametrize(
    ("fixture", "origin"),
    [("synthesized", f"https://{DISTRIBUTION_DOMAIN}"), ("synthesized_custom", "https://door.example.com")],
)
def test_cors_allows_the_pages_origin_and_nothing_else(
    fixture: str, origin: str, request: pytest.FixtureRequest
) -> None:
    # GIVEN the pages on CloudFront (default) or at -c siteUrl
    synthesized: Synthesized = request.getfixturevalue(fixture)
    names = deployment_names(synthesized)
    routes = _routes(synthesized)
    # THEN every preflight answers with exactly that origin and the route's own methods
    for path, methods in (("/approvals/{approvalId}", "'GET,POST'"), ("/doors/{doorId}/unlock", "'POST'")):
        preflight = routes[("OPTIONS", path)]
        assert preflight["Integration"]["Type"] == "MOCK"
        [answer] = preflight["Integration"]["IntegrationResponses"]
        headers = answer["ResponseParameters"]
        assert render(headers["method.response.header.Access-Control-Allow-Origin"], names) == f"'{origin}'"
        assert headers["method.response.header.Access-Control-Allow-Methods"] == methods
        assert headers["method.response.header.Access-Control-Allow-Headers"] == "'Content-Type'"
    # AND the handler's own CORS headers name the same origin
    variables = synthesized.properties(synthesized.stack.api.function)["Environment"]["Variables"]
    assert render(variables["SITE_ORIGIN"], names) == origin
    # AND so do API Gateway's own answers (validation, throttling), so the pages can read them
    responses = synthesized.template.find_resources("AWS::ApiGateway::GatewayResponse")
    assert {r["Properties"]["ResponseType"] for r in responses.values()} >= {
        "BAD_REQUEST_BODY",
        "THROTTLED",
        "DEFAULT_4XX",
        "DEFAULT_5XX",
    }
    for response in responses.values():
        allowed = response["Properties"]["ResponseParameters"][
            "gatewayresponse.header.Access-Control-Allow-Origin"
        ]
        assert render(allowed, names) == f"'{origin}'"
    assert "'*'" not in json.dumps(synthesized.template_json)


def test_api_gateway_answers_in_the_apis_json_error_shape(synthesized: Synthesized) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in synthesized.template.find_resources("AWS::ApiGateway::GatewayResponse").values()
    }
    invalid = json.loads(responses["BAD_REQUEST_BODY"]["ResponseTemplates"]["application/json"])
    assert invalid == {"error": "request body is not valid for this route", "field": "body"}
    # The door page turns a 429 into "try again at <time>" from retryAfterSeconds.
    throttled = responses["THROTTLED"]
    assert throttled["StatusCode"] == "429"
    body = json.loads(throttled["ResponseTemplates"]["application/json"])
    assert body["retryAfterSeconds"] == 5
    assert throttled["ResponseParameters"]["gatewayresponse.header.Retry-After"] == "'5'"
    for kind in ("DEFAULT_4XX", "DEFAULT_5XX"):
        template = responses[kind]["ResponseTemplates"]["application/json"]
        assert template == '{"error": $context.error.messageString}'


# ------------------------------------------------------------------ the API Lambda


def test_the_api_function_runs_its_handler_on_python_313_arm64_traced(synthesized: Synthesized) -> None:
    api = synthesized.stack.api
    properties = synthesized.properties(api.function)
    assert properties["Handler"] == "api.handler.handler"
    assert properties["Runtime"] == "python3.13"
    assert properties["Architectures"] == ["arm64"]
    assert properties["TracingConfig"] == {"Mode": "Active"}
    assert properties["LoggingConfig"] == {"LogGroup": {"Ref": synthesized.logical_id(api.handler.log_group)}}
    # API Gateway gives up after 29 s; the function must answer (or fail) before that.
    assert properties["Timeout"] < 29
    stream_match = synthesized.properties(synthesized.stack.stream_match.function)
    assert properties["Code"] == stream_match["Code"]  # the one shared functions/ asset


@pytest.mark.parametrize("fixture", ["synthesized", "synthesized_custom", "synthesized_lock_iot"])
def test_the_environment_is_exactly_what_api_settings_read(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(fixture)
    variables = synthesized.properties(synthesized.stack.api.function)["Environment"]["Variables"]
    names = deployment_names(synthesized)
    env = {
        key: value if isinstance(value, str) else render(value, _ResolvedNames(names))
        for key, value in variables.items()
    }
    read = settings_variables(ApiSettings)
    lock = synthesized.stack.config.lock
    # Without a lock there is no lock-states table to name.
    expected = read if lock else read - {"LOCK_STATES_TABLE"}
    assert set(env) - {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"} == expected
    settings = read_settings(ApiSettings, env)  # as at cold start
    assert (settings.lock, settings.lock_command_seconds) == (lock or "none", 30)
    assert settings.door_id == "front-door"
    assert (settings.otp_max_failures, settings.otp_failure_window_seconds, settings.otp_lockout_seconds) == (
        5,
        900,
        900,
    )


class _ResolvedNames(dict[str, str]):
    """Known tokens as in `deployment_names`; any other Ref or GetAtt as a plausible name or ARN."""

    def __missing__(self, key: str) -> str:
        if "." in key:
            return f"arn:aws:svc:eu-west-1:111122223333:{key.split('.')[0]}"
        return f"name-of-{key}"


def _grants(synthesized: Synthesized) -> dict[str, set[str]]:
    stack = synthesized.stack
    api = stack.api
    statements = statements_of(synthesized, api.handler.role)
    photos = synthesized.logical_id(stack.storage.photos_bucket)

    def arn(construct: Any) -> dict[str, Any]:
        return {"Fn::GetAtt": [synthesized.logical_id(construct), "Arn"]}

    def ref(construct: Any) -> dict[str, Any]:
        return {"Ref": synthesized.logical_id(construct)}

    def objects(prefix: str) -> dict[str, Any]:
        return {"Fn::Join": ["", [{"Fn::GetAtt": [photos, "Arn"]}, f"/{prefix}*"]]}

    resources = {
        "logs": arn(api.handler.log_group),
        "*": "*",
        "visits/*": objects("visits/"),
        "snapshots/*": objects("snapshots/"),
        "photos bucket": arn(stack.storage.photos_bucket),
        "visits": arn(stack.storage.visits_table),
        "approvals": arn(stack.storage.approvals_table),
        "visitors": arn(stack.storage.visitors_table),
        "passcodes": arn(stack.storage.passcodes_table),
        "otp key": ref(stack.storage.otp_secret),
        "alerts topic": ref(stack.alerts.topic),
        "alerts key": arn(stack.alerts.key),
        "bus": arn(stack.events.bus),
        "unknown visitor workflow": ref(stack.unknown_visitor.state_machine),
        "known visitor workflow": ref(stack.known_visitor.state_machine),
    }
    grants = {label: actions_on(statements, resource) for label, resource in resources.items()}
    granted = {label: actions for label, actions in grants.items() if actions}
    named = set().union(*granted.values())
    assert all_actions(statements) == named, f"unexpected grants {all_actions(statements) - named}"
    return granted


def test_the_api_function_is_granted_exactly_what_it_calls(synthesized: Synthesized) -> None:
    assert _grants(synthesized) == {
        "logs": LOGS,
        "*": XRAY,
        # show and decide (conditional updates from PENDING)
        "approvals": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
        # the welcome name
        "visitors": {"dynamodb:GetItem"},
        # verify: conditional delete of the code, the door's failure count
        "passcodes": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
        "otp key": {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"},
        # presigned photo links
        "visits/*": {"s3:GetObject"},
        # upload forms for door devices' snapshots (a presigned POST works only if the signer may put)
        "snapshots/*": {"s3:PutObject"},
        # the owner's decision resumes the wait; nothing else in any workflow
        "unknown visitor workflow": {"states:SendTaskSuccess"},
        "bus": {"events:PutEvents"},
        # the lockout email
        "alerts topic": {"sns:Publish"},
        "alerts key": {"kms:GenerateDataKey", "kms:Decrypt"},
    }


def test_the_api_function_uses_no_managed_policy(synthesized: Synthesized) -> None:
    role = synthesized.properties(synthesized.stack.api.handler.role)
    assert "ManagedPolicyArns" not in role
    assert [s["Principal"] for s in role["AssumeRolePolicyDocument"]["Statement"]] == [
        {"Service": "lambda.amazonaws.com"}
    ]


def test_api_function_errors_alarm_the_owner(synthesized: Synthesized) -> None:
    function = {"Ref": synthesized.logical_id(synthesized.stack.api.function)}
    topic = {"Ref": synthesized.logical_id(synthesized.stack.alerts.topic)}
    alarms = [
        alarm["Properties"]
        for alarm in synthesized.template.find_resources("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("Dimensions") == [{"Name": "FunctionName", "Value": function}]
    ]
    assert [(a["MetricName"], a["Threshold"]) for a in alarms] == [("Errors", 1)]
    assert alarms[0]["AlarmActions"] == [topic]
