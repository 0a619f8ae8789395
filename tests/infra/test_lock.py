"""The lock (docs/door.md): the IoT thing, its policy and topic rule, the publisher's exact grant,
the webhook's EventBridge connection and HTTP Task grants, the dead-letter queue, the alarms and
the rule that starts the lock's workflow for this door only."""

from __future__ import annotations

import json
from typing import Any

from tests.infra.conftest import LOCK_WEBHOOK_CONTEXT
from tests.infra.synth import LOGS, XRAY, Synthesized, actions_on, all_actions, statements_of

DOOR = "front-door"


def sub(path: str) -> dict[str, str]:
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:iot:${{AWS::Region}}:${{AWS::AccountId}}:{path}"}


def of_type(synthesized: Synthesized, resource_type: str) -> list[dict[str, Any]]:
    return [r["Properties"] for r in synthesized.resources.values() if r["Type"] == resource_type]


def arn(synthesized: Synthesized, construct: Any) -> dict[str, Any]:
    return {"Fn::GetAtt": [synthesized.logical_id(construct), "Arn"]}


def outputs(synthesized: Synthesized) -> dict[str, Any]:
    return {key: value["Value"] for key, value in synthesized.template_json["Outputs"].items()}


# ---------------------------------------------------------------------------- no lock


def test_without_a_lock_there_is_no_lock_workflow_thing_or_table(synthesized: Synthesized) -> None:
    assert synthesized.stack.lock is None
    assert synthesized.stack.storage.lock_states_table is None
    assert not [
        r
        for r in synthesized.resources.values()
        if r["Type"].startswith(("AWS::IoT::", "AWS::Events::Connection"))
    ]
    assert not any(key.startswith("Lock") for key in outputs(synthesized))


# ---------------------------------------------------------------------------- IoT


def test_the_door_is_one_thing_whose_policy_names_only_its_own_client_and_topics(
    synthesized_lock_iot: Synthesized,
) -> None:
    (thing,) = of_type(synthesized_lock_iot, "AWS::IoT::Thing")
    assert thing["ThingName"] == f"smartdoor-{DOOR}"
    (policy,) = of_type(synthesized_lock_iot, "AWS::IoT::Policy")
    statements = policy["PolicyDocument"]["Statement"]
    assert sorted((s["Effect"], s["Action"], json.dumps(s["Resource"])) for s in statements) == sorted(
        [
            ("Allow", "iot:Connect", json.dumps(sub(f"client/smartdoor-{DOOR}"))),
            ("Allow", "iot:Subscribe", json.dumps(sub(f"topicfilter/smartdoor/{DOOR}/commands"))),
            ("Allow", "iot:Receive", json.dumps(sub(f"topic/smartdoor/{DOOR}/commands"))),
            ("Allow", "iot:Publish", json.dumps(sub(f"topic/smartdoor/{DOOR}/state"))),
        ]
    )
    assert "*" not in json.dumps(statements)  # no wildcard anywhere, not even inside a name


def test_the_publisher_may_publish_on_exactly_the_doors_commands_topic(
    synthesized_lock_iot: Synthesized,
) -> None:
    lock = synthesized_lock_iot.stack.lock
    assert lock is not None and lock.command_function is not None
    statements = statements_of(synthesized_lock_iot, lock.command_function.role)
    assert all_actions(statements) == {"iot:Publish"} | XRAY | LOGS
    assert actions_on(statements, sub(f"topic/smartdoor/{DOOR}/commands")) == {"iot:Publish"}
    environment = synthesized_lock_iot.properties(lock.command_function.function)["Environment"]["Variables"]
    assert environment["IOT_DATA_ENDPOINT_URL"] == {
        "Fn::Sub": "https://data-ats.iot.${AWS::Region}.${AWS::URLSuffix}"
    }
    assert (environment["DOOR_ID"], environment["UNLOCK_SECONDS"]) == (DOOR, "5")


def test_the_state_topic_rule_feeds_lock_state_which_may_only_update_the_states(
    synthesized_lock_iot: Synthesized,
) -> None:
    stack = synthesized_lock_iot.stack
    lock = stack.lock
    assert (
        lock is not None and lock.state_function is not None and stack.storage.lock_states_table is not None
    )
    (rule,) = of_type(synthesized_lock_iot, "AWS::IoT::TopicRule")
    payload = rule["TopicRulePayload"]
    assert payload["Sql"] == "SELECT * FROM 'smartdoor/front-door/state'"
    assert payload["RuleDisabled"] is False
    function_arn = arn(synthesized_lock_iot, lock.state_function.function)
    assert payload["Actions"] == [{"Lambda": {"FunctionArn": function_arn}}]
    assert "CloudwatchLogs" in payload["ErrorAction"]
    # AND only that rule may invoke it
    permissions = [
        p
        for p in of_type(synthesized_lock_iot, "AWS::Lambda::Permission")
        if p["Principal"] == "iot.amazonaws.com"
    ]
    assert [p["SourceArn"] for p in permissions] == [arn(synthesized_lock_iot, lock.state_rule)]
    statements = statements_of(synthesized_lock_iot, lock.state_function.role)
    assert all_actions(statements) == {"dynamodb:UpdateItem"} | XRAY | LOGS
    assert actions_on(statements, arn(synthesized_lock_iot, stack.storage.lock_states_table)) == {
        "dynamodb:UpdateItem"
    }


def test_door_unlocked_at_this_door_starts_the_standard_lock_workflow(
    synthesized_lock_iot: Synthesized,
) -> None:
    stack = synthesized_lock_iot.stack
    assert stack.lock is not None
    machine = synthesized_lock_iot.logical_id(stack.lock.state_machine)
    rules = [
        r
        for r in of_type(synthesized_lock_iot, "AWS::Events::Rule")
        if any(t["Arn"] == {"Ref": machine} for t in r.get("Targets", []))
    ]
    (rule,) = rules
    assert rule["EventPattern"] == {
        "source": ["smartdoor"],
        "detail-type": ["DoorUnlocked"],
        "detail": {"doorId": [DOOR]},
    }
    assert "DeadLetterConfig" in rule["Targets"][0]
    properties = synthesized_lock_iot.properties(stack.lock.state_machine)
    assert properties["StateMachineType"] == "STANDARD"
    assert set(properties["DefinitionSubstitutions"]) == {
        "LockStatesTableName",
        "LockCommandFunctionArn",
        "AlertsTopicArn",
    }


def test_a_door_that_did_not_open_raises_an_alarm_to_the_owner(synthesized_lock_iot: Synthesized) -> None:
    alarms = of_type(synthesized_lock_iot, "AWS::CloudWatch::Alarm")
    stack = synthesized_lock_iot.stack
    assert stack.lock is not None
    machine = {"Ref": synthesized_lock_iot.logical_id(stack.lock.state_machine)}
    watching = [
        a
        for a in alarms
        if any(
            {"Name": "StateMachineArn", "Value": machine}
            in (m.get("MetricStat", {}).get("Metric", {}).get("Dimensions", []))
            for m in a.get("Metrics", [])
        )
    ]
    assert len(watching) == 1
    assert watching[0]["AlarmActions"] == [{"Ref": synthesized_lock_iot.logical_id(stack.alerts.topic)}]


def test_the_workflow_role_reads_and_writes_only_the_lock_states_and_invokes_only_the_publisher(
    synthesized_lock_iot: Synthesized,
) -> None:
    stack = synthesized_lock_iot.stack
    lock = stack.lock
    assert (
        lock is not None and lock.command_function is not None and stack.storage.lock_states_table is not None
    )
    statements = statements_of(synthesized_lock_iot, lock.state_machine.role)
    table = arn(synthesized_lock_iot, stack.storage.lock_states_table)
    assert actions_on(statements, table) == {"dynamodb:GetItem", "dynamodb:UpdateItem"}
    assert actions_on(statements, arn(synthesized_lock_iot, lock.command_function.function)) == {
        "lambda:InvokeFunction"
    }
    assert actions_on(statements, {"Ref": synthesized_lock_iot.logical_id(stack.alerts.topic)}) == {
        "sns:Publish"
    }


def test_the_outputs_name_the_thing_its_policy_and_topics(synthesized_lock_iot: Synthesized) -> None:
    found = outputs(synthesized_lock_iot)
    assert found["LockThingName"] == f"smartdoor-{DOOR}"
    assert found["LockCommandsTopic"] == f"smartdoor/{DOOR}/commands"
    assert found["LockStateTopic"] == f"smartdoor/{DOOR}/state"
    assert "iot:Data-ATS" in found["LockIotEndpointHint"]
    assert {"LockPolicyName", "LockStatesTableName", "OpenLockStateMachineArn"} <= set(found)


# ---------------------------------------------------------------------------- webhook


def test_the_webhook_connection_sends_the_owners_secret_as_the_header_without_holding_it(
    synthesized_lock_webhook: Synthesized,
) -> None:
    (connection,) = of_type(synthesized_lock_webhook, "AWS::Events::Connection")
    assert connection["AuthorizationType"] == "API_KEY"
    parameters = connection["AuthParameters"]["ApiKeyAuthParameters"]
    assert parameters["ApiKeyName"] == "X-Smartdoor-Key"
    value = json.dumps(parameters["ApiKeyValue"])
    # a dynamic reference CloudFormation resolves at deploy time: the template holds the name only
    assert "{{resolve:secretsmanager:smartdoor/lock-webhook-key:SecretString" in value
    assert not of_type(synthesized_lock_webhook, "AWS::IoT::Thing")


def test_the_http_task_may_call_only_the_webhook_with_its_connection(
    synthesized_lock_webhook: Synthesized,
) -> None:
    stack = synthesized_lock_webhook.stack
    lock = stack.lock
    assert lock is not None and lock.connection is not None and lock.dead_letters is not None
    statements = statements_of(synthesized_lock_webhook, lock.state_machine.role)
    (invoke,) = [s for s in statements if "states:InvokeHTTPEndpoint" in [s["Action"]]]
    assert invoke["Condition"] == {
        "StringEquals": {
            "states:HTTPEndpoint": LOCK_WEBHOOK_CONTEXT["lockWebhookUrl"],
            "states:HTTPMethod": "POST",
        }
    }
    (connection_id,) = [
        logical_id
        for logical_id, resource in synthesized_lock_webhook.resources.items()
        if resource["Type"] == "AWS::Events::Connection"
    ]
    assert actions_on(statements, {"Fn::GetAtt": [connection_id, "Arn"]}) == {
        "events:RetrieveConnectionCredentials"
    }
    assert actions_on(statements, {"Fn::GetAtt": [connection_id, "SecretArn"]}) == {
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
    }
    sent = actions_on(statements, arn(synthesized_lock_webhook, lock.dead_letters))
    assert "sqs:SendMessage" in sent and not {a for a in sent if "Receive" in a or "Delete" in a}
    substitutions = synthesized_lock_webhook.properties(lock.state_machine)["DefinitionSubstitutions"]
    assert substitutions["LockWebhookUrl"] == LOCK_WEBHOOK_CONTEXT["lockWebhookUrl"]


def test_an_undelivered_webhook_waits_in_an_alarmed_dead_letter_queue(
    synthesized_lock_webhook: Synthesized,
) -> None:
    lock = synthesized_lock_webhook.stack.lock
    assert lock is not None and lock.dead_letters is not None
    queue = synthesized_lock_webhook.logical_id(lock.dead_letters)
    alarms = of_type(synthesized_lock_webhook, "AWS::CloudWatch::Alarm")
    watching = [
        a
        for a in alarms
        if {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}} in a.get("Dimensions", [])
    ]
    assert len(watching) == 1 and watching[0]["Threshold"] == 1
