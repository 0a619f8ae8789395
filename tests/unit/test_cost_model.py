"""The cost model (benchmarks/cost_model.py): template reading, the price book, the arithmetic."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest

from benchmarks.code_facts import (
    FUNCTIONS,
    CodeFacts,
    UnpricedDimension,
    UnreadableMetric,
    metric_inventory,
    sample_texts,
    sms_segments,
)
from benchmarks.cost_model import (
    DEFAULT_PRICES,
    DEFAULT_PROFILE,
    SCENARIOS,
    CostModelError,
    PriceBook,
    TemplateFacts,
    UsageProfile,
    compare,
    estimate,
    load_prices,
    load_profile,
    main,
    monthly_volumes,
    parse_prices,
    parse_profile,
    parse_transitions,
    read_template,
    split,
)


def function(handler: str, memory: int = 256, arch: str = "arm64") -> dict[str, Any]:
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Handler": handler,
            "MemorySize": memory,
            "Architectures": [arch],
            "Runtime": "python3.13",
        },
    }


def template(**extra: dict[str, Any]) -> dict[str, Any]:
    """A template shaped like the synthesized one, small enough to read at a glance."""
    resources: dict[str, Any] = {
        "StreamMatchFunction": function("stream_match.handler.handler", 256),
        "ExtractFrameFunction": function("extract_frame.handler.handler", 1024),
        "ApiFunction": function("api.handler.handler", 512),
        "BucketDeploymentHandler": function("index.handler", 1024),  # CDK's custom resource
        "FaceSearchRecords": {"Type": "AWS::Kinesis::Stream", "Properties": {"ShardCount": 1}},
        "DoorCamera": {"Type": "AWS::KinesisVideo::Stream", "Properties": {"DataRetentionInHours": 24}},
        "UnknownVisitorStateMachine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {}},
        "KnownVisitorStateMachine": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {"StateMachineType": "STANDARD"},
        },
        "Photos": {
            "Type": "AWS::S3::Bucket",
            "Properties": {
                "LifecycleConfiguration": {
                    "Rules": [{"ExpirationInDays": 30, "Prefix": "visits/", "Status": "Enabled"}]
                }
            },
        },
        "Visits": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            },
        },
        "Visitors": {"Type": "AWS::DynamoDB::Table", "Properties": {"BillingMode": "PAY_PER_REQUEST"}},
        "OtpKey": {"Type": "AWS::SecretsManager::Secret", "Properties": {}},
        "AlertsKey": {"Type": "AWS::KMS::Key", "Properties": {"EnableKeyRotation": True}},
        "MatchErrors": {"Type": "AWS::CloudWatch::Alarm", "Properties": {}},
        "ApiErrors": {"Type": "AWS::CloudWatch::Alarm", "Properties": {}},
        "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {}},
        "Pages": {"Type": "AWS::CloudFront::Distribution", "Properties": {}},
        "MatchLogs": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 30}},
    }
    resources.update(extra)
    return {"Resources": resources}


def profile(**changes: Any) -> UsageProfile:
    data = json.loads(DEFAULT_PROFILE.read_text())
    data.update(changes)
    return parse_profile(data)


@pytest.fixture(scope="module")
def prices() -> PriceBook:
    return load_prices()


@pytest.fixture
def facts() -> TemplateFacts:
    return read_template(template())


def line(bill: Any, service: str, item: str) -> Any:
    matches = [entry for entry in bill.items if entry.service == service and entry.item == item]
    assert len(matches) == 1, f"{service} / {item}: {[(e.service, e.item) for e in bill.items]}"
    return matches[0]


# ---------------------------------------------------------------------------- the template


def test_reads_every_smart_door_function_with_its_memory_and_architecture(facts: TemplateFacts) -> None:
    # GIVEN the template (WHEN it is read)
    # THEN the functions are keyed by handler module; CDK's deploy-time custom resource is not one
    assert set(facts.functions) == {"stream_match", "extract_frame", "api"}
    assert facts.functions["extract_frame"].memory_mb == 1024
    assert facts.functions["extract_frame"].arm64
    assert (
        read_template(template(X=function("x.handler.handler", 128, "x86_64"))).functions["x"].arm64 is False
    )


def test_reads_streams_workflows_lifecycle_and_the_fixed_monthly_resources(facts: TemplateFacts) -> None:
    assert facts.kinesis_shards == 1
    assert facts.kinesis_on_demand_streams == 0
    assert facts.video_retention_hours == 24
    assert facts.state_machines == {
        "UnknownVisitorStateMachine": "STANDARD",
        "KnownVisitorStateMachine": "STANDARD",
    }
    assert facts.photo_retention_days == 30
    assert (facts.secrets, facts.customer_kms_keys, facts.alarms) == (1, 1, 2)
    assert (facts.tables, facts.tables_with_pitr) == (2, 1)
    assert (facts.rest_apis, facts.distributions) == (1, 1)
    assert facts.log_retention_days == 30


def test_an_on_demand_stream_is_priced_per_stream_hour_not_per_shard(prices: PriceBook) -> None:
    # GIVEN a template whose face-search stream is on-demand
    on_demand = template(
        FaceSearchRecords={
            "Type": "AWS::Kinesis::Stream",
            "Properties": {"StreamModeDetails": {"StreamMode": "ON_DEMAND"}},
        }
    )
    facts = read_template(on_demand)
    # WHEN it is priced
    bill = estimate("doorbell-sessions", facts, profile(), prices)
    # THEN there are stream-hours and no shard-hours
    assert (facts.kinesis_shards, facts.kinesis_on_demand_streams) == (0, 1)
    items = {entry.item for entry in bill.items if entry.service == "Kinesis Data Streams"}
    assert "on-demand stream-hours" in items
    assert not any("shard" in item for item in items)


def test_something_that_is_not_a_template_is_refused() -> None:
    with pytest.raises(CostModelError, match="no Resources"):
        read_template({"AWSTemplateFormatVersion": "2010-09-09"})


# ---------------------------------------------------------------------------- the price book


def test_every_shipped_price_has_a_source_a_unit_and_the_books_date() -> None:
    raw = json.loads(DEFAULT_PRICES.read_text())
    book = load_prices()
    assert book.region == "us-east-1"
    assert "ASSUMPTIONS" in book.note
    assert len(book.prices) == len(raw["prices"])
    for price in book.prices.values():
        assert price.source.strip() and price.unit.strip()
        assert price.date in {book.as_of, "2026-12-03"}  # the book's date, or a later check


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"usd": 1.0, "unit": "x", "source": "y"}, "lacks date"),
        ({"usd": -1.0, "unit": "x", "source": "y", "date": "d"}, "non-negative"),
        ({"usd": True, "unit": "x", "source": "y", "date": "d"}, "non-negative"),
        ({"usd": "1", "unit": "x", "source": "y", "date": "d"}, "non-negative"),
    ],
)
def test_a_price_without_its_source_and_date_or_with_a_bad_amount_is_refused(
    entry: dict[str, Any], problem: str
) -> None:
    with pytest.raises(CostModelError, match=problem):
        parse_prices({"prices": {"lambda.request": entry}})


def test_a_price_the_model_needs_but_the_book_lacks_is_named(facts: TemplateFacts) -> None:
    book = json.loads(DEFAULT_PRICES.read_text())
    del book["prices"]["sns.sms_us_message"]
    with pytest.raises(CostModelError, match=r"sns\.sms_us_message"):
        estimate("doorbell-sessions", facts, profile(), parse_prices(book))


# ---------------------------------------------------------------------------- the arithmetic


def test_monthly_volumes_split_visits_by_who_came_and_what_the_owner_decided() -> None:
    # GIVEN 10 visits a day for 30 days, 40 % unknown, owners approving half and denying a quarter
    volumes = monthly_volumes(
        profile(
            visits_per_day=10,
            days_per_month=30,
            unknown_share=0.4,
            unknown_outcomes={"approved": 2, "denied": 1, "expired": 1},
        )
    )
    # THEN 300 visits: 180 known, 120 unknown (60 approved, 30 denied, 30 expired)
    assert volumes.visits == pytest.approx(300)
    assert (volumes.known, volumes.unknown) == (pytest.approx(180), pytest.approx(120))
    assert volumes.outcomes == {
        "approved": pytest.approx(60),
        "denied": pytest.approx(30),
        "expired": pytest.approx(30),
    }
    # AND one owner SMS per unknown visit, one passcode per known or approved visit
    assert volumes.owner_sms == pytest.approx(120)
    assert volumes.codes_sent == pytest.approx(240)
    # AND emails: 'code sent' per known and approved, the request per unknown, one per expiry
    assert volumes.owner_emails == pytest.approx(180 + 120 + 60 + 30)


def test_sms_cost_is_every_message_at_base_price_plus_carrier_fee_plus_the_number(
    facts: TemplateFacts, prices: PriceBook
) -> None:
    custom = profile(
        visits_per_day=10,
        days_per_month=30,
        unknown_share=0.5,
        unknown_outcomes={"approved": 1, "denied": 0, "expired": 0},
    )
    bill = estimate("doorbell-sessions", facts, custom, prices)
    # 150 owner requests + 150 known passcodes + 150 approved passcodes
    parts = "SMS to the owner and visitors (1 part(s) per owner text, 1 per code)"
    assert line(bill, "SNS", parts).quantity == pytest.approx(450)
    expected = 450 * (prices["sns.sms_us_message"].usd + prices["sns.sms_us_carrier_fee"].usd)
    expected += prices["sns.sms_us_toll_free_number_month"].usd
    sms_items = [e for e in bill.items if e.service == "SNS" and "SMS" in e.item]
    assert sum(e.usd for e in sms_items) == pytest.approx(expected)


def test_lambda_duration_uses_the_templates_memory(facts: TemplateFacts, prices: PriceBook) -> None:
    # GIVEN extract_frame at 1024 MB (template) running 900 ms (profile) once per unknown visit
    custom = profile(visits_per_day=10, days_per_month=30, unknown_share=0.5)
    bill = estimate("doorbell-sessions", facts, custom, prices)
    # THEN 150 invocations x 1 GB x 0.9 s at the arm64 price
    item = line(bill, "Lambda", "extract_frame GB-seconds")
    assert item.quantity == pytest.approx(150 * 1.0 * 0.9)
    assert item.price.key == "lambda.arm64_gb_second"
    assert line(bill, "Lambda", "extract_frame requests").quantity == pytest.approx(150)


def test_a_function_missing_from_the_template_is_priced_at_the_assumed_memory_and_said_so(
    facts: TemplateFacts, prices: PriceBook
) -> None:
    bill = estimate("doorbell-sessions", facts, profile(), prices)
    assert any(note.startswith("sample_door is not in the template") for note in bill.notes)
    visits = profile().visits_per_month
    motion = 20 * profile().number("days_per_month")
    item = line(bill, "Lambda", "sample_door GB-seconds")
    assert item.quantity == pytest.approx((visits * 6 + motion * 5) * 256 / 1024 * 0.6)


def test_the_three_scenarios_differ_in_face_search_only(facts: TemplateFacts, prices: PriceBook) -> None:
    usage = profile()
    bills = compare(facts, usage, prices)
    hours = usage.hours_per_month
    visits = usage.visits_per_month
    # 24/7: every minute of the month
    assert line(bills["stream-processor-24x7"], "Rekognition", "stream processor minutes").quantity == (
        pytest.approx(hours * 60)
    )
    # per ring: whole minutes per ring or passer-by's motion (60 s -> 1 minute)
    motion = 20 * usage.number("days_per_month")
    per_ring = "stream processor minutes (whole minutes per ring)"
    assert line(bills["stream-processor-per-ring"], "Rekognition", per_ring).quantity == pytest.approx(
        visits + motion
    )
    # sessions: frames_per_visit searches per visit, 5 empty samples per motion-only session
    assert line(
        bills["doorbell-sessions"], "Rekognition", "SearchFacesByImage (doorbell samples)"
    ).quantity == (pytest.approx(visits * 6 + motion * 5))
    # the rest is the same bill: SMS, the shard, the secret
    for service in ("SNS", "Secrets Manager", "KMS"):
        totals = {bill.service_total(service) for bill in bills.values()}
        assert len({round(total, 9) for total in totals}) == 1, service
    assert (
        bills["stream-processor-24x7"].total
        > bills["stream-processor-per-ring"].total
        > bills["doorbell-sessions"].total
    )


def test_the_shard_and_the_video_come_from_the_template(facts: TemplateFacts, prices: PriceBook) -> None:
    usage = profile()
    bill = estimate("doorbell-sessions", facts, usage, prices)
    assert line(bill, "Kinesis Data Streams", "1 provisioned shard(s), shard-hours").quantity == (
        pytest.approx(usage.hours_per_month)
    )
    # 1 Mbit/s for the 24 h the template keeps video: 10.8 GB stored
    assert line(bill, "Kinesis Video Streams", "camera video stored (GB-month)").quantity == pytest.approx(
        10.8
    )
    two_shards = copy.deepcopy(template())
    two_shards["Resources"]["FaceSearchRecords"]["Properties"]["ShardCount"] = 2
    doubled = estimate("doorbell-sessions", read_template(two_shards), usage, prices)
    assert (
        doubled.service_total("Kinesis Data Streams")
        > 1.99 * bill.service_total("Kinesis Data Streams") - 0.1
    )


def test_measured_transitions_replace_the_profiles(facts: TemplateFacts, prices: PriceBook) -> None:
    custom = profile(
        visits_per_day=10,
        days_per_month=30,
        unknown_share=0.5,
        unknown_outcomes={"approved": 1, "denied": 1, "expired": 0},
    )
    measured = {"known": 5, "approved": 13, "denied": 8, "expired": 9}
    bill = estimate("doorbell-sessions", facts, custom, prices, measured)
    # 150 known x 5 + 75 approved x 13 + 75 denied x 8
    assert line(bill, "Step Functions", "Standard state transitions").quantity == pytest.approx(
        150 * 5 + 75 * 13 + 75 * 8
    )


def test_no_api_and_no_distribution_in_the_template_means_no_such_lines(prices: PriceBook) -> None:
    bare = template()
    del bare["Resources"]["Api"], bare["Resources"]["Pages"]
    bill = estimate("doorbell-sessions", read_template(bare), profile(), prices)
    assert bill.service_total("API Gateway") == 0
    assert bill.service_total("CloudFront") == 0


def test_the_total_is_the_sum_of_quantity_times_price(facts: TemplateFacts, prices: PriceBook) -> None:
    bill = estimate("stream-processor-per-ring", facts, profile(), prices)
    assert bill.total == pytest.approx(math.fsum(entry.quantity * entry.price.usd for entry in bill.items))
    assert bill.total == pytest.approx(sum(bill.by_service().values()))


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"unknown_share": 1.5}, "unknown_share"),
        ({"visits_per_day": -1}, "visits_per_day"),
        ({"unknown_outcomes": {"approved": 0, "denied": 0, "expired": 0}}, "unknown_outcomes"),
    ],
)
def test_a_bad_usage_profile_is_refused_with_the_field_named(changes: dict[str, Any], problem: str) -> None:
    data = json.loads(DEFAULT_PROFILE.read_text()) | changes
    with pytest.raises(CostModelError, match=problem):
        parsed = parse_profile(data)
        parsed.visits_per_month  # noqa: B018 - reading it validates the number


def test_an_unknown_scenario_is_refused(facts: TemplateFacts, prices: PriceBook) -> None:
    with pytest.raises(CostModelError, match="unknown scenario"):
        estimate("fax-machine", facts, profile(), prices)


def test_transitions_flag_is_parsed_and_checked() -> None:
    assert parse_transitions("known=6, approved=14") == {"known": 6.0, "approved": 14.0}
    with pytest.raises(CostModelError):
        parse_transitions("granted=3")


# ---------------------------------------------------------------------------- the command


def test_the_command_prints_the_comparison_with_totals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "SmartDoor.template.json"
    path.write_text(json.dumps(template()))
    assert main(["--template", str(path)]) == 0
    out = capsys.readouterr().out
    assert "stream processor 24/7" in out and "doorbell sessions" in out
    assert "total per month" in out
    assert "note: sample_door is not in the template" in out


def test_the_command_explains_a_missing_template(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--template", str(tmp_path / "nope.json")]) == 2
    assert "cost model:" in capsys.readouterr().err


def test_the_shipped_profile_loads_and_every_scenario_prices_it(
    facts: TemplateFacts, prices: PriceBook
) -> None:
    bills = compare(facts, load_profile(), prices)
    assert set(bills) == set(SCENARIOS)
    assert all(bill.total > 0 for bill in bills.values())


# ---------------------------------------------------------------------------- what the bill had missed


def metric_math_alarm() -> dict[str, Any]:
    stat = {"MetricStat": {"Metric": {"MetricName": "ExecutionsFailed"}, "Period": 300, "Stat": "Sum"}}
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "Metrics": [
                {"Id": "total", "Expression": "a + b + c"},
                {**stat, "Id": "a"},
                {**stat, "Id": "b"},
                {**stat, "Id": "c"},
            ]
        },
    }


def test_alarms_are_billed_per_metric_they_read(prices: PriceBook) -> None:
    # GIVEN two alarms on one metric each and a metric-math alarm over three metrics
    facts = read_template(template(FailedWorkflows=metric_math_alarm()))
    assert (facts.alarms, facts.alarm_metrics) == (3, 5)
    bill = estimate("doorbell-sessions", facts, profile(), prices)
    assert line(bill, "CloudWatch", "3 alarms reading 5 metrics").quantity == 5


def test_a_rotating_key_costs_two_more_key_months_once_it_has_rotated_twice(prices: PriceBook) -> None:
    # GIVEN a key rotating on KMS's default period (365 days: no RotationPeriodInDays)
    facts = read_template(template(AlertsKey=yearly_key()))
    assert (facts.rotating_kms_keys, facts.rotation_periods_days) == (1, (365.0,))
    for age, billed in ((0.5, 0), (1, 1), (2, 2), (7, 2)):
        assert billed_rotations(facts, prices, age) == billed, age


def test_a_key_rotates_as_often_as_its_template_period_says(prices: PriceBook) -> None:
    # GIVEN a key rotating every 2,560 days (the longest KMS allows) and one every 90
    facts = read_template(
        template(AlertsKey=yearly_key(RotationPeriodInDays=2560), Fast=yearly_key(RotationPeriodInDays=90))
    )
    assert sorted(facts.rotation_periods_days) == [90.0, 2560.0]
    # THEN the slow key adds nothing for seven years; the fast one reaches its two billed rotations
    assert billed_rotations(facts, prices, 0.2) == 0
    assert billed_rotations(facts, prices, 0.5) == 2
    assert billed_rotations(facts, prices, 7) == 2
    assert billed_rotations(facts, prices, 7.1) == 3


def yearly_key(**properties: object) -> dict[str, object]:
    return {"Type": "AWS::KMS::Key", "Properties": {"EnableKeyRotation": True, **properties}}


def billed_rotations(facts: TemplateFacts, prices: PriceBook, age: float) -> int:
    bill = estimate("doorbell-sessions", facts, profile(deployment_age_years=age), prices)
    return sum(int(item.quantity) for item in bill.items if item.item.startswith("rotated key material"))


def test_each_unknown_visit_also_pays_the_workflows_own_face_search(
    facts: TemplateFacts, prices: PriceBook
) -> None:
    usage = profile(visits_per_day=10, days_per_month=30, unknown_share=0.5)
    bill = estimate("doorbell-sessions", facts, usage, prices)
    item = line(bill, "Rekognition", "SearchFacesByImage (check_collection, per unknown visit)")
    assert item.quantity == pytest.approx(150) and item.price.key == "rekognition.image_api_call"


def test_passers_by_cost_face_search_and_a_session_but_no_visit(
    facts: TemplateFacts, prices: PriceBook
) -> None:
    quiet, busy = (
        estimate("doorbell-sessions", facts, profile(motion_sessions_per_day=n), prices) for n in (0, 40)
    )
    searches = "SearchFacesByImage (doorbell samples)"
    extra = 40 * profile().number("days_per_month")
    assert line(busy, "Rekognition", searches).quantity - line(quiet, "Rekognition", searches).quantity == (
        pytest.approx(extra * 5)
    )
    assert line(busy, "Step Functions", "Express session requests").quantity - line(
        quiet, "Step Functions", "Express session requests"
    ).quantity == pytest.approx(extra)
    assert line(busy, "SNS", "owner emails").quantity == line(quiet, "SNS", "owner emails").quantity


def test_a_text_of_more_than_one_part_is_billed_per_part(facts: TemplateFacts, prices: PriceBook) -> None:
    usage = profile(
        visits_per_day=10,
        days_per_month=30,
        unknown_share=0.5,
        unknown_outcomes={"approved": 1, "denied": 0, "expired": 0},
    )
    two_part_owner = CodeFacts(metrics=frozenset(), owner_sms_segments=2, visitor_sms_segments=1)
    bill = estimate("doorbell-sessions", facts, usage, prices, code=two_part_owner)
    # 150 owner requests of 2 parts + 300 codes of 1
    parts = "SMS to the owner and visitors (2 part(s) per owner text, 1 per code)"
    assert line(bill, "SNS", parts).quantity == pytest.approx(600)
    assert line(bill, "SNS", "SMS carrier fees (per part)").quantity == pytest.approx(600)
    assert line(bill, "SNS", "publish requests").quantity == pytest.approx(
        450 + line(bill, "SNS", "owner emails").quantity
    )


def test_custom_metrics_are_the_deployed_functions_metrics_for_the_hours_they_are_published(
    facts: TemplateFacts, prices: PriceBook
) -> None:
    code = CodeFacts(
        metrics=frozenset(
            {
                ("api", "DoorUnlocked"),
                ("api", "WrongPasscodes"),
                ("stream_match", "Records"),
                ("not_deployed", "X"),
            }
        ),
        owner_sms_segments=1,
        visitor_sms_segments=1,
    )
    bill = estimate("doorbell-sessions", facts, profile(custom_metric_hour_share=0.5), prices, code=code)
    item = line(bill, "CloudWatch", "custom metrics (EMF): 3 metrics of the deployed functions")
    assert item.quantity == pytest.approx(1.5)


def test_the_bill_splits_into_what_an_empty_door_costs_and_what_each_visit_adds(
    facts: TemplateFacts, prices: PriceBook
) -> None:
    usage = profile(visits_per_day=10)
    parts = split("doorbell-sessions", facts, usage, prices)
    nobody = estimate("doorbell-sessions", facts, profile(visits_per_day=0), prices)
    assert parts.fixed == pytest.approx(nobody.total)
    assert parts.fixed + parts.per_visit * usage.visits_per_month == pytest.approx(parts.total)
    # SMS is most of a visit: every known visit texts a code
    assert 0 < parts.per_visit_before_sms < parts.per_visit
    # the shard and the camera's video are fixed
    assert parts.fixed > prices["kinesis.shard_hour"].usd * usage.hours_per_month


# ---------------------------------------------------------------------------- the code's facts


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("x" * 160, 1),
        ("x" * 161, 2),
        ("x" * 306, 2),
        ("x" * 307, 3),
        ("€" * 80, 1),  # an extension character takes two septets
        ("€" * 81, 2),
        ("é" * 160, 1),  # in the GSM basic set
        ("✓" * 70, 1),  # outside GSM: UCS-2, 70 in one part
        ("✓" * 71, 2),
    ],
)
def test_sms_parts_are_counted_as_aws_splits_them(text: str, parts: int) -> None:
    assert sms_segments(text) == parts


def test_the_texts_the_functions_send_fit_one_part_on_cloudfronts_domain() -> None:
    texts = sample_texts()
    assert (
        texts["owner"].startswith("Smart Door: someone is at front-door.") and "/owner/?a=" in texts["owner"]
    )
    assert texts["visitor"].startswith("Smart Door: code ") and "/door/?door=front-door#" in texts["visitor"]
    assert {name: sms_segments(text) for name, text in texts.items()} == {"owner": 1, "visitor": 1}
    # a door id at its longest (32 characters) makes the owner's text two parts: make bench says so
    assert sms_segments(sample_texts(door_id="a" * 32)["owner"]) == 2


def test_no_function_emits_a_custom_metric_what_they_count_are_log_fields() -> None:
    # No alarm reads a function's count, so none is a billed metric (docs/performance.md)
    assert metric_inventory() == frozenset()
    assert sum(path.read_text().count(".add_metric(") for path in FUNCTIONS.rglob("*.py")) == 0


def test_a_metric_a_function_emits_is_read_with_its_function(tmp_path: Path) -> None:
    # GIVEN a function that counts an event as a metric again, under a name in each readable form
    (tmp_path / "doorbell").mkdir()
    (tmp_path / "doorbell" / "handler.py").write_text(
        "NAMES = {'a': 'Rings'}\n"
        "def handler(event, context):\n"
        "    metrics.add_metric(name='Opened' if event else 'Closed', unit='Count', value=1)\n"
        "    metrics.add_metric(name=NAMES['a'], unit='Count', value=1)\n"
        "    metrics.add_metric(name=f'Approvals{event}', unit='Count', value=1)\n"
    )
    # THEN the inventory prices each name with its function
    assert metric_inventory(tmp_path) == {
        ("doorbell", name) for name in ("Opened", "Closed", "Rings", "ApprovalsApproved", "ApprovalsDenied")
    }


@pytest.mark.parametrize(
    "call",
    [
        "metrics.add_dimension(name='visit_id', value=event['visitId'])",
        "metrics.set_default_dimensions(door=event['doorId'])",
        "with single_metric(name='Rings', unit='Count', value=1, namespace='SmartDoor') as metric: pass",
    ],
    ids=["add_dimension", "set_default_dimensions", "single_metric"],
)
def test_a_metric_dimension_beyond_the_service_stops_the_model(tmp_path: Path, call: str) -> None:
    # WHEN a function gives a metric a dimension (one metric per value: per visit, thousands)
    (tmp_path / "doorbell").mkdir()
    (tmp_path / "doorbell" / "handler.py").write_text(f"def handler(event, context):\n    {call}\n")
    # THEN the inventory refuses it rather than price one metric
    with pytest.raises(UnpricedDimension, match=r"handler\.py:2"):
        metric_inventory(tmp_path)


def test_a_log_metric_filter_with_dimensions_stops_the_model() -> None:
    metric_filter = {
        "Type": "AWS::Logs::MetricFilter",
        "Properties": {
            "FilterPattern": "{ $.counts.DoorUnlocked = 1 }",
            "MetricTransformations": [
                {
                    "MetricName": "Unlocks",
                    "MetricValue": "1",
                    "Dimensions": [{"Key": "visit", "Value": "$.visit"}],
                }
            ],
        },
    }
    with pytest.raises(CostModelError, match=r"UnlocksByVisit has dimensions"):
        read_template(template(UnlocksByVisit=metric_filter))


def test_api_detailed_metrics_are_billed_per_method_of_a_stage_that_enables_them(prices: PriceBook) -> None:
    # GIVEN a stage with detailed metrics on, and two methods
    def stage(enabled: bool) -> dict[str, Any]:
        settings = [{"ResourcePath": "/*", "HttpMethod": "*", "MetricsEnabled": enabled}]
        return {"Type": "AWS::ApiGateway::Stage", "Properties": {"MethodSettings": settings}}

    method = {"Type": "AWS::ApiGateway::Method", "Properties": {}}
    enabled = read_template(template(Stage=stage(True), Unlock=method, Ring=method))
    # THEN each method publishes five metrics (Count, 4XX, 5XX, Latency, IntegrationLatency)
    assert enabled.api_method_metrics == 2 * 5
    bill = estimate("doorbell-sessions", enabled, profile(custom_metric_hour_share=0.5), prices)
    item = line(bill, "CloudWatch", "custom metrics: 10 API Gateway detailed (per-method) metrics")
    assert item.quantity == pytest.approx(5)
    # AND with them off (the stage's own metrics are free) nothing is billed
    assert read_template(template(Stage=stage(False), Unlock=method)).api_method_metrics == 0


def test_a_metric_name_the_inventory_cannot_read_stops_the_model(tmp_path: Path) -> None:
    # WHEN a function builds a metric name the inventory has no rule for
    (tmp_path / "doorbell").mkdir()
    (tmp_path / "doorbell" / "handler.py").write_text(
        "def handler(event, context):\n    metrics.add_metric(name=event['kind'], unit='Count', value=1)\n"
    )
    # THEN the cost model refuses to guess
    with pytest.raises(UnreadableMetric, match=r"handler\.py:2"):
        metric_inventory(tmp_path)


# ---------------------------------------------------------------------------- faceSource=snapshots


def snapshots_template() -> dict[str, Any]:
    """faceSource=snapshots: no streams, process_snapshot instead of the session functions."""
    shaped = template(ProcessSnapshotFunction=function("process_snapshot.handler.handler", 256))
    del shaped["Resources"]["FaceSearchRecords"], shaped["Resources"]["DoorCamera"]
    return shaped


def test_snapshots_bill_no_video_and_no_shard_but_every_upload(prices: PriceBook) -> None:
    facts = read_template(snapshots_template())
    custom = profile(visits_per_day=10, days_per_month=30, motion_sessions_per_day=5)
    bill = estimate("door-agent-snapshots", facts, custom, prices)
    services = {entry.service for entry in bill.items}
    assert "Kinesis Video Streams" not in services
    assert "Kinesis Data Streams" not in services
    # 300 visits x 3 snapshots + 150 passers-by x 2: each searched once, invoking the match once
    uploads = 300 * 3 + 150 * 2
    assert line(bill, "Rekognition", "SearchFacesByImage (uploaded snapshots)").quantity == uploads
    assert line(bill, "S3", "snapshot uploads (PUT)").quantity == uploads
    assert line(bill, "Lambda", "process_snapshot requests").quantity == uploads
    assert line(bill, "Lambda", "stream_match requests").quantity == uploads


def test_push_takes_the_owners_approval_requests_off_the_sms_bill(
    facts: TemplateFacts, prices: PriceBook
) -> None:
    custom = {"visits_per_day": 10, "days_per_month": 30, "unknown_share": 0.5}
    by_sms = estimate("doorbell-sessions", facts, profile(**custom, owner_notification="sms"), prices)
    by_push = estimate("doorbell-sessions", facts, profile(**custom, owner_notification="push"), prices)
    item = "SMS to the owner and visitors (1 part(s) per owner text, 1 per code)"
    # 150 unknown visits: their approval requests go by push (priced $0), the codes stay SMS
    assert line(by_sms, "SNS", item).quantity - line(by_push, "SNS", item).quantity == pytest.approx(150)
    assert by_push.total < by_sms.total


def test_an_unknown_owner_notification_is_refused() -> None:
    with pytest.raises(CostModelError, match="owner_notification"):
        _ = profile(owner_notification="pigeon").owner_notification
