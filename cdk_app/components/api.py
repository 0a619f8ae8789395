"""HTTP API: API Gateway REST in front of the API Lambda (contract: docs/api.md).

Explicit resources and methods with Lambda proxy integration, so API Gateway itself answers
routes that do not exist, and checks bodies before any Lambda runs: a JSON Schema model per
POST bounds the body's shape and the size of every field (API Gateway has no body-size limit
below 10 MB; the handler also refuses bodies over 4 KB). The exact rules, with their per-field
messages, stay in the handler: the edge only turns away what no page would send.

The stage throttles all routes together, writes JSON access logs, traces with X-Ray and
publishes metrics. Access logs name the route template (`/approvals/{approvalId}`), never
the request path: an approval id is a bearer secret. Neither they nor execution logs
(ERROR level, no data trace) hold a body: bodies carry phone numbers and passcodes.

The pages are served from another origin (CloudFront), whose CSP in turn names this API's
origin. So the API is built first and `allow_pages_from(origin)` follows once the site
exists: it adds CORS preflights for that one origin to the routes the pages call, the same
origin on API Gateway's own error answers (so a page can read a 429), and SITE_ORIGIN for
the handler's CORS headers.

Extending: `rest_api` and `door` (`/doors/{doorId}`) are public for device routes such as
`POST /doors/{doorId}/ring`; use `integration`, `validator` and `json_body_model` for them,
and give them their own authorization (an API key) and cdk-nag acknowledgment.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from cdk_app.components.functions import FunctionPackaging, SmartDoorFunction
from cdk_app.components.storage import Storage
from cdk_app.config import SmartDoorConfig
from cdk_app.constants import API, API_STAGE_NAME, VISIT_PHOTOS_PREFIX

ACCESS_LOG_RETENTION = logs.RetentionDays.ONE_MONTH
PREFLIGHT_MAX_AGE = Duration.minutes(10)  # the handler's CORS max_age too
THROTTLED_RETRY_SECONDS = 5

# Every field is one JSON string of its access-log line. Deliberately absent: $context.path
# (holds approval ids), $context.error.validationErrorString (quotes the offending value,
# e.g. a phone number) and anything of the body.
ACCESS_LOG_FIELDS: Mapping[str, str] = {
    "requestId": apigateway.AccessLogField.context_request_id(),
    "requestTime": apigateway.AccessLogField.context_request_time(),
    "ip": apigateway.AccessLogField.context_identity_source_ip(),
    "userAgent": apigateway.AccessLogField.context_identity_user_agent(),
    "httpMethod": apigateway.AccessLogField.context_http_method(),
    "resourcePath": apigateway.AccessLogField.context_resource_path(),
    "protocol": apigateway.AccessLogField.context_protocol(),
    "status": apigateway.AccessLogField.context_status(),
    "responseLength": apigateway.AccessLogField.context_response_length(),
    "responseLatency": apigateway.AccessLogField.context_response_latency(),
    "integrationStatus": apigateway.AccessLogField.context_integration_status(),
    "integrationLatency": apigateway.AccessLogField.context_integration_latency(),
    "errorType": apigateway.AccessLogField.context_error_response_type(),
    "errorMessage": apigateway.AccessLogField.context_error_message(),
    "xrayTraceId": apigateway.AccessLogField.context_xray_trace_id(),
}

# Upper bounds at the edge, generous on purpose: the handler enforces the exact rules (name
# 1-64 printable characters after trimming, E.164 phone, 6-digit code) with messages that
# name the field. Unknown fields, non-strings and anything longer stop here with a 400.
_STRING = apigateway.JsonSchemaType.STRING
_NULL = apigateway.JsonSchemaType.NULL
DECISION_BODY = apigateway.JsonSchema(
    schema=apigateway.JsonSchemaVersion.DRAFT4,
    title="Owner's decision",
    type=apigateway.JsonSchemaType.OBJECT,
    additional_properties=False,
    max_properties=3,
    properties={
        "decision": apigateway.JsonSchema(type=_STRING, max_length=16),
        "name": apigateway.JsonSchema(type=[_STRING, _NULL], max_length=256),
        "phone": apigateway.JsonSchema(type=[_STRING, _NULL], max_length=32),
    },
)
UNLOCK_BODY = apigateway.JsonSchema(
    schema=apigateway.JsonSchemaVersion.DRAFT4,
    title="Visitor's passcode",
    type=apigateway.JsonSchemaType.OBJECT,
    additional_properties=False,
    max_properties=1,
    properties={"otp": apigateway.JsonSchema(type=_STRING, max_length=16)},
)

APPROVAL_ID_IS_THE_CREDENTIAL = (
    "The owner's approval routes have no authorizer on purpose: the approvalId in the path is "
    "the credential (a 192-bit random approvalRef plus a 128-bit HMAC of it under the "
    "deployment's secret, checked in constant time; single use, dead after the approval "
    "timeout), delivered only to the owner by SMS and email; GET only shows, POST decides "
    "once. Throttling and body validation sit in front."
)
PASSCODE_IS_THE_CREDENTIAL = (
    "The door keypad route has no authorizer on purpose: a visitor has no account; the "
    "one-time passcode in the body is the credential (6 digits, 5 minutes, single use by a "
    "conditional delete, stored as an HMAC) and 5 wrong tries lock the door for 15 minutes "
    "and email the owner. Throttling and body validation sit in front."
)

COMMAND_ID_IS_THE_CREDENTIAL = (
    "The door page's lock-state route has no authorizer on purpose: the visitor has no account; "
    "the commandId in the path (a uuid4, 122 random bits, handed only to the page that typed the "
    "right code) is the credential, and the answer is only pending/unlocked/locked/no-answer "
    "with a time. Stage throttling sits in front."
)


class Api(Construct):
    """The REST API, its stage, its models and validator, and the API Lambda with its grants."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: SmartDoorConfig,
        packaging: FunctionPackaging,
        storage: Storage,
        bus: events.IEventBus,
        alerts_topic: sns.ITopic,
        alerts_key: kms.IKey,
        unknown_visitor: sfn.IStateMachine,
    ) -> None:
        super().__init__(scope, construct_id)
        self.handler = SmartDoorFunction(
            self,
            "Handler",
            name=API,
            description="Smart Door API: owner approvals and the door keypad",
            packaging=packaging,
            environment={
                "DOOR_ID": config.door_id,
                "APPROVALS_TABLE": storage.approvals_table.table_name,
                "VISITORS_TABLE": storage.visitors_table.table_name,
                "PASSCODES_TABLE": storage.passcodes_table.table_name,
                "PHOTOS_BUCKET": storage.photos_bucket.bucket_name,
                "EVENT_BUS_NAME": bus.event_bus_name,
                "ALERTS_TOPIC_ARN": alerts_topic.topic_arn,
                "OTP_SECRET_ARN": storage.otp_secret.secret_arn,
                "OTP_MAX_FAILURES": str(config.otp_max_failures),
                "OTP_FAILURE_WINDOW_SECONDS": str(config.otp_failure_window_seconds),
                "OTP_LOCKOUT_SECONDS": str(config.otp_lockout_seconds),
                "LOCK_KIND": config.lock or "none",
                "LOCK_COMMAND_SECONDS": str(config.lock_command_seconds),
                **(
                    {"LOCK_STATES_TABLE": storage.lock_states_table.table_name}
                    if storage.lock_states_table is not None
                    else {}
                ),
            },
            memory_size=512,  # a snappier cold start for a person waiting at the door
            timeout_seconds=15,  # well inside API Gateway's 29 s integration timeout
        )
        self.function = self.handler.function
        self._grant(storage, bus, alerts_topic, alerts_key, unknown_visitor)

        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=ACCESS_LOG_RETENTION, removal_policy=RemovalPolicy.DESTROY
        )
        self.rest_api = apigateway.RestApi(
            self,
            "RestApi",
            rest_api_name=f"{Stack.of(self).stack_name}-api",
            description="Smart Door: owner approvals and the door keypad (docs/api.md)",
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            # API Gateway writes access and execution logs through the account's CloudWatch role.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            fail_on_warnings=True,
            deploy_options=apigateway.StageOptions(
                stage_name=API_STAGE_NAME,
                throttling_rate_limit=config.api_throttle_rate_limit,
                throttling_burst_limit=config.api_throttle_burst_limit,
                access_log_destination=apigateway.LogGroupLogDestination(self.access_logs),
                access_log_format=apigateway.AccessLogFormat.custom(json.dumps(dict(ACCESS_LOG_FIELDS))),
                logging_level=apigateway.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                tracing_enabled=True,
                metrics_enabled=True,
            ),
        )
        # RestApi adds an "Endpoint" output named by a hash; the stack outputs ApiUrl instead.
        self.rest_api.node.try_remove_child("Endpoint")
        self.stage = self.rest_api.deployment_stage
        stack = Stack.of(self)
        self.origin = f"https://{self.rest_api.rest_api_id}.execute-api.{stack.region}.{stack.url_suffix}"
        # The base URL without a trailing '/': what config.json's apiUrl holds.
        self.url = f"{self.origin}/{self.stage.stage_name}"
        self._acknowledge_cloudwatch_role()

        self.integration = apigateway.LambdaIntegration(self.function, allow_test_invoke=False)
        self.validator = self.rest_api.add_request_validator(
            "BodyAndParameters",
            request_validator_name="body-and-parameters",
            validate_request_body=True,
            validate_request_parameters=True,
        )

        self.approval = self.rest_api.root.add_resource("approvals").add_resource("{approvalId}")
        self.door = self.rest_api.root.add_resource("doors").add_resource("{doorId}")
        self.unlock = self.door.add_resource("unlock")
        approval_id = {"method.request.path.approvalId": True}
        self.show_approval = self._method(
            self.approval, "GET", parameters=approval_id, reason=APPROVAL_ID_IS_THE_CREDENTIAL
        )
        self.decide_approval = self._method(
            self.approval,
            "POST",
            parameters=approval_id,
            body=self.json_body_model("DecisionBody", DECISION_BODY),
            reason=APPROVAL_ID_IS_THE_CREDENTIAL,
        )
        self.unlock_door = self._method(
            self.unlock,
            "POST",
            parameters={"method.request.path.doorId": True},
            body=self.json_body_model("UnlockBody", UNLOCK_BODY),
            reason=PASSCODE_IS_THE_CREDENTIAL,
        )
        # The door page asks what the lock answered to its right code's command.
        self.lock_command = self.door.add_resource("lock").add_resource("{commandId}")
        self.show_lock_state = self._method(
            self.lock_command,
            "GET",
            parameters={"method.request.path.doorId": True, "method.request.path.commandId": True},
            reason=COMMAND_ID_IS_THE_CREDENTIAL,
        )
        # The routes the pages call from the browser (device routes are not among them).
        self.page_routes: dict[apigateway.Resource, list[str]] = {
            self.approval: ["GET", "POST"],
            self.unlock: ["POST"],
            self.lock_command: ["GET"],
        }
        Validations.of(self.rest_api).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-APIG3",
                reason=(
                    "No WAF web ACL: for a one-household deployment its fixed monthly cost exceeds the "
                    "API's; stage throttling, JSON Schema body validation, the handler's 4 KB body limit "
                    "and the passcode lockout cover the abuse a WAF rule would stop here."
                ),
            )
        )

    def json_body_model(self, construct_id: str, schema: apigateway.JsonSchema) -> apigateway.Model:
        """A JSON body model for `application/json` requests.

        API Gateway validates a body against the model of its Content-Type; a request sent
        with another type skips the model, which is why the handler keeps its own limits.
        """
        return self.rest_api.add_model(construct_id, content_type="application/json", schema=schema)

    def _method(
        self,
        resource: apigateway.IResource,
        http_method: str,
        *,
        parameters: Mapping[str, bool],
        reason: str,
        body: apigateway.IModel | None = None,
    ) -> apigateway.Method:
        method = resource.add_method(
            http_method,
            self.integration,
            request_parameters=dict(parameters),
            request_validator=self.validator,
            request_models={"application/json": body} if body else None,
        )
        for rule in ("AwsSolutions-APIG4", "AwsSolutions-COG4"):
            Validations.of(method).acknowledge(Acknowledgment(id=f"AwsSolutions::{rule}", reason=reason))
        return method

    def _grant(
        self,
        storage: Storage,
        bus: events.IEventBus,
        alerts_topic: sns.ITopic,
        alerts_key: kms.IKey,
        unknown_visitor: sfn.IStateMachine,
    ) -> None:
        """Exactly the calls the handler's adapters make (docs/api.md, "Handler settings")."""
        role = self.handler.role
        # Show and decide: conditional updates from PENDING.
        storage.approvals_table.grant(role, "dynamodb:GetItem", "dynamodb:UpdateItem")
        # The welcome name after a right code.
        storage.visitors_table.grant(role, "dynamodb:GetItem")
        # Verify: read the code, mark it used (conditional update), read and write the failure counts.
        storage.passcodes_table.grant(role, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
        storage.otp_secret.grant_read(role)
        # Presigned photo links are only as good as the signer's own read permission.
        self.handler.allow_objects(
            sid="LinkVisitPhotos",
            actions=["s3:GetObject"],
            bucket=storage.photos_bucket,
            prefix=VISIT_PHOTOS_PREFIX,
        )
        # The owner's decision resumes the waiting execution; the API never fails a task.
        self.handler.allow(
            sid="ResumeTheOwnersWait",
            actions=["states:SendTaskSuccess"],
            resources=[unknown_visitor.state_machine_arn],
        )
        bus.grant_put_events_to(role)
        # With a lock: record each command pending (a conditional put), and answer the door
        # page's question, what did the lock answer to this command?
        if storage.lock_states_table is not None:
            storage.lock_states_table.grant(role, "dynamodb:PutItem", "dynamodb:GetItem")
        # The lockout email to the owner.
        self.handler.allow_email_to_owner(alerts_topic, alerts_key)

    def _acknowledge_cloudwatch_role(self) -> None:
        role = self.rest_api.node.try_find_child("CloudWatchRole")
        if role is None:
            return
        Validations.of(role).acknowledge(
            Acknowledgment(
                id=(
                    "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:"
                    "policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]"
                ),
                reason=(
                    "The account-wide role API Gateway uses to write access and execution logs; it serves "
                    "every API in the account and region, so its AWS-managed policy is the one that keeps "
                    "up with what API Gateway needs. Retained on stack deletion for the other APIs."
                ),
            )
        )

    def allow_pages_from(self, origin: str) -> None:
        """Let the pages at `origin` (scheme://host[:port]) call the routes they use, from a browser."""
        for resource, methods in self.page_routes.items():
            resource.add_cors_preflight(
                allow_origins=[origin],
                allow_methods=methods,
                allow_headers=["Content-Type"],
                max_age=PREFLIGHT_MAX_AGE,
            )
        self.function.add_environment("SITE_ORIGIN", origin)
        self._gateway_answers(origin)

    def _gateway_answers(self, origin: str) -> None:
        """API Gateway's own answers (validation, throttling, unknown routes, integration errors)
        as JSON in the API's `{"error": ...}` shape, readable by the pages (CORS)."""
        headers = {
            "Access-Control-Allow-Origin": f"'{origin}'",
            "Vary": "'Origin'",
            "Cache-Control": "'no-store'",
        }
        self.rest_api.add_gateway_response(
            "InvalidBody",
            type=apigateway.ResponseType.BAD_REQUEST_BODY,
            response_headers=headers,
            templates={
                "application/json": json.dumps(
                    {"error": "request body is not valid for this route", "field": "body"}
                )
            },
        )
        # The door page shows "try again at <time>" from retryAfterSeconds.
        self.rest_api.add_gateway_response(
            "Throttled",
            type=apigateway.ResponseType.THROTTLED,
            status_code="429",
            response_headers={**headers, "Retry-After": f"'{THROTTLED_RETRY_SECONDS}'"},
            templates={
                "application/json": json.dumps(
                    {
                        "error": "too many requests, try again shortly",
                        "retryAfterSeconds": THROTTLED_RETRY_SECONDS,
                    }
                )
            },
        )
        # $context.error.messageString is API Gateway's own message, already a quoted JSON string.
        for construct_id, response_type in (
            ("Other4xx", apigateway.ResponseType.DEFAULT_4_XX),
            ("Other5xx", apigateway.ResponseType.DEFAULT_5_XX),
        ):
            self.rest_api.add_gateway_response(
                construct_id,
                type=response_type,
                response_headers=headers,
                templates={"application/json": '{"error": $context.error.messageString}'},
            )
