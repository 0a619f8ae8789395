"""The cost model prices what the synthesized template deploys: a new kind of resource, alarm,
key, stream or metric that `make bench` would not bill fails here."""

from __future__ import annotations

import pytest

from benchmarks.code_facts import metric_inventory
from benchmarks.cost_model import NO_CHARGE_TYPES, PRICED_TYPES, read_template, resource_types
from tests.infra.synth import Synthesized

pytestmark = pytest.mark.infra


@pytest.mark.parametrize("fixture", ["synthesized", "synthesized_snapshots"])
def test_every_resource_type_is_priced_or_costs_nothing_for_a_stated_reason(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(fixture)
    types = resource_types(synthesized.template_json)
    unpriced = types - PRICED_TYPES - set(NO_CHARGE_TYPES)
    assert unpriced == set(), f"the cost model does not price {sorted(unpriced)}: add it to estimate()"
    assert PRICED_TYPES.isdisjoint(NO_CHARGE_TYPES)
    assert all(reason.strip() for reason in NO_CHARGE_TYPES.values())


@pytest.mark.parametrize("fixture", ["synthesized", "synthesized_snapshots"])
def test_the_model_reads_every_alarm_metric_key_stream_and_filter_of_the_template(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(fixture)
    resources = synthesized.resources
    facts = read_template(synthesized.template_json)

    def count(kind: str) -> int:
        return sum(1 for resource in resources.values() if resource["Type"] == kind)

    alarm_metrics = 0
    for resource in resources.values():
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            queries = resource["Properties"].get("Metrics", [])
            alarm_metrics += sum("MetricStat" in query for query in queries) if queries else 1
    assert facts.alarms == count("AWS::CloudWatch::Alarm")
    assert facts.alarm_metrics == alarm_metrics > facts.alarms  # the metric-math alarms read several
    assert facts.customer_kms_keys == count("AWS::KMS::Key")
    assert facts.rotating_kms_keys == sum(
        1
        for r in resources.values()
        if r["Type"] == "AWS::KMS::Key" and r["Properties"].get("EnableKeyRotation")
    )
    # The alerts key rotates on the longest period KMS allows: no billed rotation for seven years.
    assert facts.rotation_periods_days == (2560.0,)
    assert facts.kinesis_shards + facts.kinesis_on_demand_streams == count("AWS::Kinesis::Stream")
    assert facts.metric_filters == count("AWS::Logs::MetricFilter")
    assert facts.secrets == count("AWS::SecretsManager::Secret")
    assert len(facts.state_machines) == count("AWS::StepFunctions::StateMachine")


def test_every_deployed_function_that_emits_metrics_is_priced(synthesized: Synthesized) -> None:
    # The default template, which deploys every function (faceSource=snapshots drops the
    # session functions; the model prices only the deployed functions' metrics either way).
    facts = read_template(synthesized.template_json)
    emitting = {function for function, _ in metric_inventory()}
    # Each function folder that emits a metric is a function of the template (a stale folder or
    # a renamed handler would make its metrics vanish from the bill).
    assert emitting <= set(facts.functions), sorted(emitting - set(facts.functions))


@pytest.mark.parametrize("fixture", ["synthesized", "synthesized_snapshots"])
def test_every_alarm_reads_a_metric_aws_publishes_or_one_the_model_prices(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    # AWS/* metrics cost nothing by themselves; a custom one must be a log metric filter's or a
    # metric the code emits (both priced), or an alarm could watch a metric the bill omits.
    synthesized: Synthesized = request.getfixturevalue(fixture)
    resources = synthesized.resources.values()
    priced = {name for _, name in metric_inventory()} | {
        transformation["MetricName"]
        for resource in resources
        if resource["Type"] == "AWS::Logs::MetricFilter"
        for transformation in resource["Properties"]["MetricTransformations"]
    }
    read = []
    for resource in resources:
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        properties = resource["Properties"]
        stats = [q["MetricStat"]["Metric"] for q in properties.get("Metrics", []) if "MetricStat" in q]
        read += [(m["Namespace"], m["MetricName"]) for m in stats] or [
            (properties["Namespace"], properties["MetricName"])
        ]
    custom = {name for namespace, name in read if not namespace.startswith("AWS/")}
    assert read and custom <= priced, sorted(custom - priced)
