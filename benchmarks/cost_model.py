"""A monthly cost estimate for one Smart Door deployment, from its synthesized template.

    python -m benchmarks.cost_model --template cdk.out/SmartDoor.template.json \
        [--profile benchmarks/usage_profile.json] [--prices benchmarks/prices.json] \
        [--transitions known=6,approved=14,denied=9,expired=10]

What it reads:

- the template (`read_template`): every Lambda function's memory and architecture, the Kinesis
  data stream's capacity mode and shards, the video stream's retention, the state machines'
  types, the photos' lifecycle, and how many secrets, customer-managed KMS keys, alarms (and
  the metrics they read), log metric filters, API detailed metrics, tables (with PITR), REST
  APIs and CloudFront distributions it creates;
- a usage profile (`UsageProfile`): visits a day, the share of unknown visitors and what the
  owner decides, frames searched per visit, durations, sizes;
- the price book (`prices.json`): every unit price with its source and date, nothing else.

What it prints: per service, the monthly cost of each of three ways to find faces, with the
rest of the system the same:

- `stream-processor-24x7`: a Rekognition stream processor on the camera all day (design A as
  first built);
- `stream-processor-per-ring`: the processor started by a ring and stopped after the visit;
- `doorbell-sessions`: a ring samples a few KVS frames and searches them with
  SearchFacesByImage (design B, the default).

Per-visit counts follow the code: one owner SMS per unknown visit (measured by `make bench`),
one passcode SMS per known or approved visit, the workflows' state transitions per outcome
(measured from execution histories when `make bench` runs; the profile's otherwise).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.code_facts import CodeFacts, read_code

HERE = Path(__file__).resolve().parent
DEFAULT_PRICES = HERE / "prices.json"
DEFAULT_PROFILE = HERE / "usage_profile.json"

SCENARIOS = ("stream-processor-24x7", "stream-processor-per-ring", "doorbell-sessions")
# faceSource=snapshots: priced on its own template (no Kinesis Video, no Kinesis Data Stream).
SNAPSHOTS = "door-agent-snapshots"
# How the owner hears of an unknown visitor: "sms" (today) or "push" (Web Push, issue 17 part 4).
# Web Push services (FCM, Mozilla autopush, Apple) charge the sender nothing: push is priced $0.
OWNER_NOTIFICATIONS = ("sms", "push")
PUSH_SUBSCRIPTION_QUERY_RRU = 1.0
SCENARIO_TITLES = {
    "stream-processor-24x7": "stream processor 24/7",
    "stream-processor-per-ring": "stream processor per ring",
    "doorbell-sessions": "doorbell sessions (image APIs)",
    SNAPSHOTS: "door agent snapshots",
}
OUTCOMES = ("approved", "denied", "expired")
HOURS_PER_DAY = 24
GB = 1e9
EXPRESS_MIN_GB = 64 / 1024  # Express is billed at 64 MB at least
MAX_BILLED_ROTATIONS = 2  # KMS: rotations after the second add nothing to a key's monthly price
DEFAULT_ROTATION_DAYS = 365  # KMS EnableKeyRotation without RotationPeriodInDays (90-2560 allowed)


class CostModelError(ValueError):
    """A price book, profile or template the model cannot use (the message says what is wrong)."""


# ---------------------------------------------------------------------------- prices


@dataclass(frozen=True)
class Price:
    key: str
    usd: float
    unit: str
    source: str
    date: str


@dataclass(frozen=True)
class PriceBook:
    region: str
    as_of: str
    note: str
    prices: Mapping[str, Price]

    def __getitem__(self, key: str) -> Price:
        try:
            return self.prices[key]
        except KeyError:
            raise CostModelError(f"the price book has no price {key!r}") from None


def parse_prices(data: Mapping[str, Any]) -> PriceBook:
    """A price book: every price needs a non-negative `usd`, a `unit`, a `source` and a `date`."""
    entries = data.get("prices")
    if not isinstance(entries, Mapping) or not entries:
        raise CostModelError("the price book needs a non-empty 'prices' object")
    prices = {}
    for key, entry in entries.items():
        if not isinstance(entry, Mapping):
            raise CostModelError(f"price {key!r} must be an object")
        missing = [name for name in ("usd", "unit", "source", "date") if name not in entry]
        if missing:
            raise CostModelError(f"price {key!r} lacks {', '.join(missing)}")
        usd = entry["usd"]
        if isinstance(usd, bool) or not isinstance(usd, int | float) or usd < 0 or not math.isfinite(usd):
            raise CostModelError(f"price {key!r} must be a non-negative number of dollars")
        prices[key] = Price(key, float(usd), str(entry["unit"]), str(entry["source"]), str(entry["date"]))
    return PriceBook(
        region=str(data.get("region", "")),
        as_of=str(data.get("as_of", "")),
        note=str(data.get("note", "")),
        prices=prices,
    )


def load_prices(path: Path = DEFAULT_PRICES) -> PriceBook:
    return parse_prices(json.loads(path.read_text(encoding="utf-8")))


# ---------------------------------------------------------------------------- the template


@dataclass(frozen=True)
class FunctionFacts:
    memory_mb: int
    arm64: bool


@dataclass(frozen=True)
class TemplateFacts:
    """What the synthesized template says about the things that cost money."""

    functions: Mapping[str, FunctionFacts]  # handler module ("stream_match") -> facts
    kinesis_shards: int  # provisioned shards (0 if none)
    kinesis_on_demand_streams: int
    video_retention_hours: float
    state_machines: Mapping[str, str]  # logical id -> STANDARD | EXPRESS
    photo_retention_days: float | None
    secrets: int
    customer_kms_keys: int
    rotating_kms_keys: int  # EnableKeyRotation: each rotation adds to the key's price
    rotation_periods_days: tuple[float, ...]  # per rotating key: RotationPeriodInDays (365 if unset)
    alarms: int
    alarm_metrics: int  # CloudWatch bills alarms per metric: a metric-math alarm per metric it reads
    metric_filters: int  # each publishes a custom metric
    api_method_metrics: int  # a stage's detailed (per-method) metrics: custom metrics, billed
    cloudfront_functions: int  # run on every viewer request
    tables: int
    tables_with_pitr: int
    rest_apis: int
    distributions: int
    log_retention_days: float | None


# Every resource type of the synthesized template is either priced above (`estimate`) or costs
# nothing by itself, for the reason given; tests/infra/test_cost_coverage.py fails on a new one.
PRICED_TYPES = frozenset(
    {
        "AWS::Lambda::Function",
        "AWS::Kinesis::Stream",
        "AWS::KinesisVideo::Stream",
        "AWS::StepFunctions::StateMachine",
        "AWS::S3::Bucket",
        "AWS::DynamoDB::Table",
        "AWS::SecretsManager::Secret",
        "AWS::KMS::Key",
        "AWS::CloudWatch::Alarm",
        "AWS::Logs::LogGroup",
        "AWS::Logs::MetricFilter",
        "AWS::ApiGateway::RestApi",
        "AWS::CloudFront::Distribution",
        "AWS::CloudFront::Function",
        "AWS::SNS::Topic",
        "AWS::Events::EventBus",
        "AWS::Rekognition::Collection",
    }
)
NO_CHARGE_TYPES = {
    "AWS::IAM::Role": "IAM is free",
    "AWS::IAM::Policy": "IAM is free",
    "AWS::Lambda::Permission": "configuration of a function",
    "AWS::Lambda::EventInvokeConfig": "configuration of a function",
    "AWS::Lambda::EventSourceMapping": "Lambda's polling of a Kinesis stream is free; invocations are priced",
    "AWS::Lambda::LayerVersion": "layer storage counts against the free 75 GB of code storage",
    "AWS::ApiGateway::Account": "configuration; requests are priced on the REST API",
    "AWS::ApiGateway::ApiKey": "configuration; requests are priced on the REST API",
    "AWS::ApiGateway::Deployment": "configuration; requests are priced on the REST API",
    "AWS::ApiGateway::GatewayResponse": "configuration; requests are priced on the REST API",
    "AWS::ApiGateway::Method": "configuration; requests are priced on the REST API",
    "AWS::ApiGateway::Model": "configuration; requests are priced on the REST API",
    "AWS::ApiGateway::RequestValidator": "configuration; requests are priced on the REST API",
    "AWS::ApiGateway::Resource": "configuration; requests are priced on the REST API",
    "AWS::ApiGateway::Stage": (
        "no cache, no execution data; requests and detailed metrics are priced on the REST API"
    ),
    "AWS::ApiGateway::UsagePlan": "configuration; requests are priced on the REST API",
    "AWS::ApiGateway::UsagePlanKey": "configuration; requests are priced on the REST API",
    "AWS::CloudFront::OriginAccessControl": "configuration of the distribution",
    "AWS::CloudFront::ResponseHeadersPolicy": "configuration of the distribution",
    "AWS::Events::Rule": "rules are free; events on the bus are priced",
    "AWS::SNS::Subscription": "deliveries are priced per email",
    "AWS::SNS::TopicPolicy": "configuration of the topic",
    "AWS::S3::BucketPolicy": "configuration of a bucket",
    "AWS::SQS::Queue": "dead-letter queues: requests only on a failed delivery (none priced)",
    "AWS::SQS::QueuePolicy": "configuration of a queue",
    "Custom::CDKBucketDeployment": "runs once per deploy",
    "Custom::LogRetention": "runs once per deploy",
    "Custom::SmsDeliveryStatusLogging": "runs once per deploy (an account setting)",
}


def resource_types(template: Mapping[str, Any]) -> set[str]:
    return {str(resource.get("Type")) for resource in (template.get("Resources") or {}).values()}


def _resources(template: Mapping[str, Any], kind: str) -> list[tuple[str, dict[str, Any]]]:
    resources = template.get("Resources")
    if not isinstance(resources, Mapping):
        raise CostModelError("not a CloudFormation template: no Resources")
    return [
        (logical_id, resource.get("Properties") or {})
        for logical_id, resource in resources.items()
        if isinstance(resource, Mapping) and resource.get("Type") == kind
    ]


def read_template(template: Mapping[str, Any]) -> TemplateFacts:
    functions = {}
    for _, properties in _resources(template, "AWS::Lambda::Function"):
        handler = properties.get("Handler")
        if not isinstance(handler, str) or not handler.endswith(".handler.handler"):
            continue  # CDK's own custom resources (they run on deploy, not every month)
        module = handler.removesuffix(".handler.handler")
        functions[module] = FunctionFacts(
            memory_mb=int(properties.get("MemorySize", 128)),
            arm64="arm64" in (properties.get("Architectures") or ["x86_64"]),
        )
    shards = 0
    on_demand = 0
    for _, properties in _resources(template, "AWS::Kinesis::Stream"):
        mode = (properties.get("StreamModeDetails") or {}).get("StreamMode", "PROVISIONED")
        if mode == "ON_DEMAND":
            on_demand += 1
        else:
            shards += int(properties.get("ShardCount", 1))
    retention = sum(
        float(properties.get("DataRetentionInHours", 0))
        for _, properties in _resources(template, "AWS::KinesisVideo::Stream")
    )
    machines = {
        logical_id: str(properties.get("StateMachineType", "STANDARD"))
        for logical_id, properties in _resources(template, "AWS::StepFunctions::StateMachine")
    }
    photo_days = None
    for _, properties in _resources(template, "AWS::S3::Bucket"):
        for rule in (properties.get("LifecycleConfiguration") or {}).get("Rules", []):
            if rule.get("Prefix") == "visits/" and "ExpirationInDays" in rule:
                photo_days = float(rule["ExpirationInDays"])
    tables = _resources(template, "AWS::DynamoDB::Table")
    alarms = _resources(template, "AWS::CloudWatch::Alarm")
    keys = _resources(template, "AWS::KMS::Key")
    log_days = [
        float(properties["RetentionInDays"])
        for _, properties in _resources(template, "AWS::Logs::LogGroup")
        if "RetentionInDays" in properties
    ]
    return TemplateFacts(
        functions=functions,
        kinesis_shards=shards,
        kinesis_on_demand_streams=on_demand,
        video_retention_hours=retention,
        state_machines=machines,
        photo_retention_days=photo_days,
        secrets=len(_resources(template, "AWS::SecretsManager::Secret")),
        customer_kms_keys=len(keys),
        rotating_kms_keys=sum(1 for _, properties in keys if properties.get("EnableKeyRotation")),
        rotation_periods_days=tuple(
            float(properties.get("RotationPeriodInDays", DEFAULT_ROTATION_DAYS))
            for _, properties in keys
            if properties.get("EnableKeyRotation")
        ),
        alarms=len(alarms),
        alarm_metrics=sum(_alarm_metrics(properties) for _, properties in alarms),
        metric_filters=_metric_filters(template),
        api_method_metrics=_api_method_metrics(template),
        cloudfront_functions=len(_resources(template, "AWS::CloudFront::Function")),
        tables=len(tables),
        tables_with_pitr=sum(
            1
            for _, properties in tables
            if (properties.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled")
        ),
        rest_apis=len(_resources(template, "AWS::ApiGateway::RestApi")),
        distributions=len(_resources(template, "AWS::CloudFront::Distribution")),
        log_retention_days=max(log_days) if log_days else None,
    )


# API Gateway's detailed metrics, one set per method (resource and verb) of a stage that enables
# them; the stage-level metrics are free. CacheHitCount and CacheMissCount need a cache (none).
API_METHOD_METRIC_NAMES = ("Count", "4XXError", "5XXError", "Latency", "IntegrationLatency")


def _api_method_metrics(template: Mapping[str, Any]) -> int:
    stages = _resources(template, "AWS::ApiGateway::Stage")
    if not any(setting.get("MetricsEnabled") for _, p in stages for setting in p.get("MethodSettings", [])):
        return 0
    methods = len(_resources(template, "AWS::ApiGateway::Method"))
    return len(stages) * methods * len(API_METHOD_METRIC_NAMES)


def _metric_filters(template: Mapping[str, Any]) -> int:
    """Each filter is one custom metric: one without dimensions. A dimension (a field of the log
    line) makes one metric per value it takes, a visit or visitor id thousands: refused."""
    filters = _resources(template, "AWS::Logs::MetricFilter")
    for logical_id, properties in filters:
        for transformation in properties.get("MetricTransformations", []):
            if transformation.get("Dimensions"):
                raise CostModelError(
                    f"metric filter {logical_id} has dimensions: one metric per value, not priced"
                )
    return len(filters)


def _alarm_metrics(alarm: Mapping[str, Any]) -> int:
    """One for an alarm on a metric; for a metric-math alarm, the metrics its expression reads
    (its MetricStat queries; expressions themselves are not billed)."""
    queries = alarm.get("Metrics")
    if not queries:
        return 1
    return sum(1 for query in queries if isinstance(query, Mapping) and "MetricStat" in query)


def load_template(path: Path) -> TemplateFacts:
    return read_template(json.loads(path.read_text(encoding="utf-8")))


# ---------------------------------------------------------------------------- the usage profile


@dataclass(frozen=True)
class UsageProfile:
    raw: Mapping[str, Any]

    def number(self, key: str, *path: str) -> float:
        value: Any = self.raw
        for part in (key, *path):
            if not isinstance(value, Mapping) or part not in value:
                raise CostModelError(f"the usage profile lacks {'.'.join((key, *path))}")
            value = value[part]
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise CostModelError(f"usage profile {'.'.join((key, *path))} must be a non-negative number")
        return float(value)

    @property
    def owner_notification(self) -> str:
        """ "sms" or "push": how the owner is asked about an unknown visitor."""
        value = str(self.raw.get("owner_notification", "sms"))
        if value not in OWNER_NOTIFICATIONS:
            raise CostModelError(
                f"owner_notification is one of {', '.join(OWNER_NOTIFICATIONS)}, not {value!r}"
            )
        return value

    @property
    def visits_per_month(self) -> float:
        return self.number("visits_per_day") * self.number("days_per_month")

    @property
    def hours_per_month(self) -> float:
        return self.number("days_per_month") * HOURS_PER_DAY

    def outcome_shares(self) -> dict[str, float]:
        shares = {outcome: self.number("unknown_outcomes", outcome) for outcome in OUTCOMES}
        total = sum(shares.values())
        if total <= 0:
            raise CostModelError("usage profile unknown_outcomes must add up to more than 0")
        return {outcome: share / total for outcome, share in shares.items()}


def parse_profile(data: Mapping[str, Any]) -> UsageProfile:
    profile = UsageProfile(data)
    share = profile.number("unknown_share")
    if share > 1:
        raise CostModelError("usage profile unknown_share is a share of visits (0-1)")
    profile.outcome_shares()
    return profile


def load_profile(path: Path = DEFAULT_PROFILE) -> UsageProfile:
    return parse_profile(json.loads(path.read_text(encoding="utf-8")))


# ---------------------------------------------------------------------------- the estimate


@dataclass(frozen=True)
class LineItem:
    service: str
    item: str
    quantity: float
    price: Price

    @property
    def usd(self) -> float:
        return self.quantity * self.price.usd


@dataclass
class Estimate:
    scenario: str
    items: list[LineItem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, service: str, item: str, quantity: float, price: Price) -> None:
        if quantity < 0:
            raise CostModelError(f"{service} {item}: negative quantity {quantity}")
        self.items.append(LineItem(service, item, quantity, price))

    @property
    def total(self) -> float:
        return sum(item.usd for item in self.items)

    def by_service(self) -> dict[str, float]:
        totals: dict[str, float] = defaultdict(float)
        for item in self.items:
            totals[item.service] += item.usd
        return dict(totals)

    def service_total(self, service: str) -> float:
        return self.by_service().get(service, 0.0)

    @property
    def sms_total(self) -> float:
        return sum(item.usd for item in self.items if item.service == "SNS" and item.item.startswith("SMS"))


@dataclass(frozen=True)
class MonthlyVolumes:
    """Visit counts for a month, split the way the workflows split them."""

    visits: float
    known: float
    unknown: float
    outcomes: Mapping[str, float]  # approved, denied, expired: visits

    @property
    def codes_sent(self) -> float:
        """Passcode SMS to visitors: every known visit and every approved one."""
        return self.known + self.outcomes["approved"]

    @property
    def owner_sms(self) -> float:
        """One approval request per unknown visit (the figure `make bench` measures as 1.00)."""
        return self.unknown

    @property
    def owner_emails(self) -> float:
        """Known: 'code sent'. Unknown: the approval request; approved: 'code sent'; expired:
        'approval expired' (workflows/*.asl.json). A denial sends none."""
        return self.known + self.unknown + self.outcomes["approved"] + self.outcomes["expired"]


def monthly_volumes(profile: UsageProfile) -> MonthlyVolumes:
    visits = profile.visits_per_month
    unknown = visits * profile.number("unknown_share")
    shares = profile.outcome_shares()
    return MonthlyVolumes(
        visits=visits,
        known=visits - unknown,
        unknown=unknown,
        outcomes={outcome: unknown * share for outcome, share in shares.items()},
    )


@dataclass
class _Month:
    """One estimate in the making: its inputs, the bill, and what the sections pass on to later ones."""

    scenario: str
    facts: TemplateFacts
    profile: UsageProfile
    prices: PriceBook
    code: CodeFacts
    volumes: MonthlyVolumes
    bill: Estimate
    invocations: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    records: float = 0.0  # face-search records written to Kinesis
    good_records: float = 0.0  # of them, with a face good enough for the match function
    sessions: float = 0.0  # Express executions (doorbell sessions or processor runs)
    session_seconds: float = 0.0
    ring_events: float = 0.0
    upload_forms: float = 0.0  # POST /doors/{doorId}/snapshots (faceSource=snapshots)
    unlock_requests: float = 0.0
    api_requests: float = 0.0
    standard_transitions: float = 0.0

    @property
    def motion(self) -> float:
        """Sessions a passer-by starts (MotionDetected) in a month."""
        return self.profile.number("motion_sessions_per_day") * self.profile.number("days_per_month")


def estimate(
    scenario: str,
    facts: TemplateFacts,
    profile: UsageProfile,
    prices: PriceBook,
    transitions: Mapping[str, float] | None = None,
    code: CodeFacts | None = None,
) -> Estimate:
    """The monthly bill of one scenario. `transitions`: state transitions per visit by outcome
    (known, approved, denied, expired); the profile's when not given. `code`: the metrics and
    SMS segments of the code (read from functions/ when not given)."""
    if scenario not in (*SCENARIOS, SNAPSHOTS):
        raise CostModelError(f"unknown scenario {scenario!r}; one of {', '.join(SCENARIOS)}, {SNAPSHOTS}")
    month = _Month(
        scenario, facts, profile, prices, code or read_code(), monthly_volumes(profile), Estimate(scenario)
    )
    _FACE_SEARCH[scenario](month)
    for section in (_camera_video, _face_search_records, _task_functions, _lambda):
        section(month)
    _step_functions(month, transitions or {})
    for section in (
        _dynamodb,
        _sns,
        _eventbridge,
        _workflow_rekognition,
        _s3,
        _cloudwatch,
        _secrets_and_keys,
    ):
        section(month)
    _api_and_pages(month)
    return month.bill


# ---------------------------------------------------------------------------- face search
# The part the three scenarios differ in.


def _processor_24x7(month: _Month) -> None:
    bill, profile, prices, volumes = month.bill, month.profile, month.prices, month.volumes
    hours, rps = profile.hours_per_month, profile.number("records_per_second")
    month.records = rps * 3600 * hours
    bill.add(
        "Rekognition", "stream processor minutes", hours * 60, prices["rekognition.video_streaming_minute"]
    )
    bill.add(
        "Kinesis Video Streams",
        "read by the processor (GB)",
        _video_gb(profile, hours),
        prices["kvs.consumed_gb"],
    )
    month.invocations["stream_match"] += month.records / profile.number(
        "stream_match_records_per_invocation", "continuous"
    )
    month.good_records = (
        volumes.visits * profile.number("visit_seconds") * rps * profile.number("good_face_share")
    )


def _processor_per_ring(month: _Month) -> None:
    bill, profile, prices, volumes, motion = (
        month.bill,
        month.profile,
        month.prices,
        month.volumes,
        month.motion,
    )
    rps = profile.number("records_per_second")
    run_seconds = profile.number("processor_seconds_per_ring")
    month.records = volumes.visits * run_seconds * rps
    minutes = (volumes.visits + motion) * math.ceil(run_seconds / 60)
    bill.add(
        "Rekognition",
        "stream processor minutes (whole minutes per ring)",
        minutes,
        prices["rekognition.video_streaming_minute"],
    )
    bill.add(
        "Kinesis Video Streams",
        "read by the processor (GB)",
        _video_gb(profile, (volumes.visits + motion) * run_seconds / 3600),
        prices["kvs.consumed_gb"],
    )
    month.invocations["stream_match"] += month.records / profile.number(
        "stream_match_records_per_invocation", "continuous"
    )
    month.good_records = (
        volumes.visits * profile.number("visit_seconds") * rps * profile.number("good_face_share")
    )
    # Someone walking past starts a session too (MotionDetected): the processor runs for it.
    runs = volumes.visits + motion
    month.sessions, month.session_seconds, month.ring_events = runs, run_seconds, runs
    month.invocations["open_session"] += runs
    month.invocations["stream_processor"] += 2 * runs  # start, stop


def _doorbell_sessions(month: _Month) -> None:
    bill, profile, prices, volumes, motion = (
        month.bill,
        month.profile,
        month.prices,
        month.volumes,
        month.motion,
    )
    # A motion-only session (someone walking past) samples until its empty samples run out.
    images = volumes.visits * profile.number("frames_per_visit") + motion * profile.number(
        "frames_per_motion_session"
    )
    month.records = images
    bill.add(
        "Rekognition",
        "SearchFacesByImage (doorbell samples)",
        images,
        prices["rekognition.image_api_call"],
    )
    bill.add(
        "Kinesis Video Streams",
        "GetImages frames (GB)",
        images * profile.number("image_bytes") / GB,
        prices["kvs.consumed_gb"],
    )
    month.invocations["stream_match"] += month.records / profile.number(
        "stream_match_records_per_invocation", "per_visit"
    )
    month.good_records = images * profile.number("good_face_share")
    month.sessions, month.session_seconds, month.ring_events = (
        volumes.visits + motion,
        profile.number("session_seconds"),
        volumes.visits + motion,
    )
    month.invocations["open_session"] += volumes.visits + motion
    month.invocations["sample_door"] += images


def _snapshots(month: _Month) -> None:
    """The door agent uploads a few frames per ring or motion: each one an upload form (the API),
    an S3 PUT, S3's Object Created event (AWS service events on the default bus are free),
    process_snapshot (HEAD, a ranged GET, one SearchFacesByImage) and the match function it
    invokes."""
    bill, profile, prices, volumes = month.bill, month.profile, month.prices, month.volumes
    uploads = volumes.visits * profile.number("snapshots_per_visit") + month.motion * profile.number(
        "snapshots_per_motion"
    )
    bill.add(
        "Rekognition",
        "SearchFacesByImage (uploaded snapshots)",
        uploads,
        prices["rekognition.image_api_call"],
    )
    bill.add("S3", "snapshot uploads (PUT)", uploads, prices["s3.put_request"])
    bill.add("S3", "snapshot reads (HEAD, ranged GET)", 2 * uploads, prices["s3.get_request"])
    month.invocations["process_snapshot"] += uploads
    month.invocations["stream_match"] += uploads  # invoked once per snapshot, no stream in between
    month.records, month.upload_forms = uploads, uploads
    month.good_records = uploads * profile.number("good_face_share")
    month.ring_events = volumes.visits


_FACE_SEARCH = {
    "stream-processor-24x7": _processor_24x7,
    "stream-processor-per-ring": _processor_per_ring,
    "doorbell-sessions": _doorbell_sessions,
    SNAPSHOTS: _snapshots,
}


# ---------------------------------------------------------------------------- what every scenario pays


def _camera_video(month: _Month) -> None:
    """The camera's video: KVS keeps it whatever finds the faces (none with snapshots)."""
    bill, profile, prices = month.bill, month.profile, month.prices
    if not month.facts.video_retention_hours:
        return
    bill.add(
        "Kinesis Video Streams",
        "camera video ingested (GB)",
        _video_gb(profile, profile.hours_per_month),
        prices["kvs.ingested_gb"],
    )
    bill.add(
        "Kinesis Video Streams",
        "camera video stored (GB-month)",
        _video_gb(profile, month.facts.video_retention_hours),
        prices["kvs.stored_gb_month"],
    )


def _face_search_records(month: _Month) -> None:
    bill, facts, prices, records = month.bill, month.facts, month.prices, month.records
    hours = month.profile.hours_per_month
    if facts.kinesis_shards:
        bill.add(
            "Kinesis Data Streams",
            f"{facts.kinesis_shards} provisioned shard(s), shard-hours",
            facts.kinesis_shards * hours,
            prices["kinesis.shard_hour"],
        )
        bill.add("Kinesis Data Streams", "PUT payload units", records, prices["kinesis.put_payload_unit"])
    if facts.kinesis_on_demand_streams:
        bill.add(
            "Kinesis Data Streams",
            "on-demand stream-hours",
            facts.kinesis_on_demand_streams * hours,
            prices["kinesis.on_demand_stream_hour"],
        )
        bill.add(
            "Kinesis Data Streams",
            "on-demand data in (GB)",
            records * 2000 / GB,
            prices["kinesis.on_demand_gb_in"],
        )


def _task_functions(month: _Month) -> None:
    """The workflows' task functions and the API: how often each runs."""
    volumes, invocations = month.volumes, month.invocations
    shares = volumes.outcomes
    for name in ("extract_frame", "check_collection", "create_approval", "ask_owner"):
        invocations[name] += volumes.unknown
    invocations["enrol_face"] += shares["approved"]
    invocations["save_visitor"] += shares["approved"]
    invocations["issue_passcode"] += volumes.codes_sent
    month.unlock_requests = volumes.codes_sent * month.profile.number("unlock_tries_per_code")
    decisions = shares["approved"] + shares["denied"]
    # view, decide, unlock, ring, upload forms
    month.api_requests = (
        volumes.unknown + decisions + month.unlock_requests + month.ring_events + month.upload_forms
    )
    invocations["api"] += month.api_requests


def _lambda(month: _Month) -> None:
    bill, facts, profile, prices = month.bill, month.facts, month.profile, month.prices
    memory_default = profile.number("assumed_memory_mb")
    for name, count in sorted(month.invocations.items()):
        function = facts.functions.get(name)
        if function is None:
            bill.notes.append(f"{name} is not in the template: assumed arm64, {memory_default:.0f} MB")
            function = FunctionFacts(memory_mb=int(memory_default), arm64=True)
        gb_seconds = count * function.memory_mb / 1024 * profile.number("lambda_ms", name) / 1000
        duration_price = prices["lambda.arm64_gb_second" if function.arm64 else "lambda.x86_gb_second"]
        bill.add("Lambda", f"{name} requests", count, prices["lambda.request"])
        bill.add("Lambda", f"{name} GB-seconds", gb_seconds, duration_price)


def _step_functions(month: _Month, transitions: Mapping[str, float]) -> None:
    bill, profile, prices, volumes = month.bill, month.profile, month.prices, month.volumes
    shares = volumes.outcomes
    per_visit = {
        key: transitions.get(key, profile.number("transitions_per_visit", key))
        for key in ("known", "approved", "denied", "expired")
    }
    standard = volumes.known * per_visit["known"] + sum(shares[o] * per_visit[o] for o in OUTCOMES)
    month.standard_transitions = standard
    if any(kind == "STANDARD" for kind in month.facts.state_machines.values()):
        bill.add(
            "Step Functions",
            "Standard state transitions",
            standard,
            prices["stepfunctions.standard_transition"],
        )
    if month.sessions:
        bill.add(
            "Step Functions",
            "Express session requests",
            month.sessions,
            prices["stepfunctions.express_request"],
        )
        bill.add(
            "Step Functions",
            "Express session GB-seconds",
            month.sessions * month.session_seconds * EXPRESS_MIN_GB,
            prices["stepfunctions.express_gb_second"],
        )


def _dynamodb(month: _Month) -> None:
    """DynamoDB, on demand."""
    bill, profile, prices, volumes = month.bill, month.profile, month.prices, month.volumes
    shares = volumes.outcomes
    rru, wru = 0.0, 0.0
    for key, visits in (
        ("known", volumes.known),
        ("unknown_approved", shares["approved"]),
        ("unknown_denied", shares["denied"]),
        ("unknown_expired", shares["expired"]),
        ("session", month.sessions),
        ("per_good_face_record", month.good_records),
    ):
        rru += visits * profile.number("dynamodb_per_visit", key, "rru")
        wru += visits * profile.number("dynamodb_per_visit", key, "wru")
    if profile.owner_notification == "push":
        # ask_owner reads the owner's devices (one Query, eventually consistent: under 4 KB is
        # 0.5 RRU, billed as 1); its pushSentAt write replaces the smsSentAt one. No extra secret:
        # the VAPID key is derived from the OTP secret (docs/notifications.md).
        rru += PUSH_SUBSCRIPTION_QUERY_RRU * (shares["approved"] + shares["denied"] + shares["expired"])
    bill.add("DynamoDB", "read request units", rru, prices["dynamodb.on_demand_rru"])
    bill.add("DynamoDB", "write request units", wru, prices["dynamodb.on_demand_wru"])
    stored = profile.number("dynamodb_stored_gb")
    bill.add("DynamoDB", "storage (GB-month)", stored, prices["dynamodb.storage_gb_month"])
    if month.facts.tables_with_pitr:
        bill.add("DynamoDB", "PITR backups (GB-month)", stored, prices["dynamodb.pitr_gb_month"])


def _sns(month: _Month) -> None:
    """SNS: SMS (billed per message part) and email. With push the owner's approval requests are
    Web Push messages (free to send; the sending Lambda is the ask_owner call already priced)."""
    bill, prices, volumes, code = month.bill, month.prices, month.volumes, month.code
    owner_sms = volumes.owner_sms if month.profile.owner_notification == "sms" else 0.0
    sms = owner_sms + volumes.codes_sent
    parts = owner_sms * code.owner_sms_segments + volumes.codes_sent * code.visitor_sms_segments
    segments = f"{code.owner_sms_segments} part(s) per owner text, {code.visitor_sms_segments} per code"
    bill.add("SNS", f"SMS to the owner and visitors ({segments})", parts, prices["sns.sms_us_message"])
    bill.add("SNS", "SMS carrier fees (per part)", parts, prices["sns.sms_us_carrier_fee"])
    bill.add("SNS", "SMS origination number", 1, prices["sns.sms_us_toll_free_number_month"])
    bill.add("SNS", "owner emails", volumes.owner_emails, prices["sns.email_notification"])
    bill.add("SNS", "publish requests", sms + volumes.owner_emails, prices["sns.publish_request"])


def _eventbridge(month: _Month) -> None:
    """EventBridge: face events, unlocks, denials, expiries, rings."""
    volumes = month.volumes
    shares = volumes.outcomes
    events = volumes.known + volumes.unknown + volumes.codes_sent + shares["denied"] + shares["expired"]
    month.bill.add(
        "EventBridge", "custom events", events + month.ring_events, month.prices["eventbridge.custom_event"]
    )


def _workflow_rekognition(month: _Month) -> None:
    """Rekognition: the unknown-visitor workflow's own search, and enrolment."""
    bill, prices, volumes = month.bill, month.prices, month.volumes
    shares = volumes.outcomes
    bill.add(
        "Rekognition",
        "SearchFacesByImage (check_collection, per unknown visit)",
        volumes.unknown,
        prices["rekognition.image_api_call"],
    )
    bill.add("Rekognition", "IndexFaces", shares["approved"], prices["rekognition.image_api_call"])
    bill.add(
        "Rekognition",
        "faces stored (a year of approvals)",
        shares["approved"] * 12,
        prices["rekognition.face_storage_month"],
    )


def _s3(month: _Month) -> None:
    """S3: visit photos."""
    bill, facts, profile, prices, volumes = (
        month.bill,
        month.facts,
        month.profile,
        month.prices,
        month.volumes,
    )
    photo_days = facts.photo_retention_days if facts.photo_retention_days is not None else 30.0
    per_day = volumes.unknown / profile.number("days_per_month")
    bill.add(
        "S3",
        "photos stored (GB-month)",
        per_day * photo_days * profile.number("photo_bytes_per_unknown_visit") / GB,
        prices["s3.standard_gb_month"],
    )
    bill.add("S3", "PUT requests", 2 * volumes.unknown, prices["s3.put_request"])
    bill.add(
        "S3", "GET requests", 4 * volumes.unknown + volumes.outcomes["approved"], prices["s3.get_request"]
    )


def _cloudwatch(month: _Month) -> None:
    """CloudWatch: logs, metrics, alarms; X-Ray."""
    bill, facts, profile, prices = month.bill, month.facts, month.profile, month.prices
    all_invocations = sum(month.invocations.values())
    log_gb = (
        all_invocations * profile.number("log_bytes_per_invocation")
        + month.standard_transitions * profile.number("log_bytes_per_transition")
        + month.api_requests * 500
    ) / GB
    bill.add("CloudWatch", "logs ingested (GB)", log_gb, prices["cloudwatch.logs_ingested_gb"])
    retention_months = (facts.log_retention_days or 30.0) / profile.number("days_per_month")
    bill.add(
        "CloudWatch",
        "logs stored (GB-month)",
        log_gb * retention_months,
        prices["cloudwatch.logs_stored_gb_month"],
    )
    deployed = sorted(name for function, name in month.code.metrics if function in facts.functions)
    bill.add(
        "CloudWatch",
        f"custom metrics (EMF): {len(deployed)} metrics of the deployed functions",
        len(deployed) * profile.number("custom_metric_hour_share"),
        prices["cloudwatch.custom_metric_month"],
    )
    if facts.metric_filters:
        bill.add(
            "CloudWatch",
            f"custom metrics: {facts.metric_filters} log metric filter(s)",
            facts.metric_filters * profile.number("custom_metric_hour_share"),
            prices["cloudwatch.custom_metric_month"],
        )
    if facts.api_method_metrics:
        bill.add(
            "CloudWatch",
            f"custom metrics: {facts.api_method_metrics} API Gateway detailed (per-method) metrics",
            facts.api_method_metrics * profile.number("custom_metric_hour_share"),
            prices["cloudwatch.custom_metric_month"],
        )
    bill.add(
        "CloudWatch",
        f"{facts.alarms} alarms reading {facts.alarm_metrics} metrics",
        facts.alarm_metrics,
        prices["cloudwatch.alarm_month"],
    )
    bill.add("X-Ray", "traces", all_invocations + month.api_requests, prices["xray.trace_recorded"])


def _secrets_and_keys(month: _Month) -> None:
    bill, facts, profile, prices = month.bill, month.facts, month.profile, month.prices
    bill.add(
        "Secrets Manager", f"{facts.secrets} secret(s)", facts.secrets, prices["secretsmanager.secret_month"]
    )
    # Only issuing and checking a passcode reads the OTP key (at most once per call; cached 300 s).
    bill.add(
        "Secrets Manager",
        "GetSecretValue calls",
        month.invocations["issue_passcode"] + month.unlock_requests,
        prices["secretsmanager.api_call"],
    )
    bill.add(
        "KMS",
        f"{facts.customer_kms_keys} customer managed key(s)",
        facts.customer_kms_keys,
        prices["kms.customer_key_month"],
    )
    # A rotating key's first and second rotations each add the key's price; later ones do not
    # (AWS KMS pricing since May 2024). A key rotates every RotationPeriodInDays (365 if unset).
    age = profile.number("deployment_age_years")
    rotations = sum(_billed_rotations(age, days) for days in facts.rotation_periods_days)
    if rotations:
        bill.add(
            "KMS",
            f"rotated key material ({rotations} billed rotation(s) after {age:g} years)",
            rotations,
            prices["kms.customer_key_month"],
        )
    bill.add("KMS", "requests", profile.number("kms_requests_per_month"), prices["kms.request"])


def _billed_rotations(age_years: float, period_days: float) -> int:
    return min(math.floor(age_years * 365 / period_days), MAX_BILLED_ROTATIONS)


def _api_and_pages(month: _Month) -> None:
    """API Gateway and CloudFront (the owner page per request, the keypad per code)."""
    bill, facts, profile, prices, volumes = (
        month.bill,
        month.facts,
        month.profile,
        month.prices,
        month.volumes,
    )
    if facts.rest_apis:
        bill.add("API Gateway", "REST requests", month.api_requests, prices["apigateway.rest_request"])
    if not facts.distributions:
        return
    views = volumes.unknown + volumes.codes_sent
    requests = views * profile.number("page_requests_per_view")
    bill.add("CloudFront", "HTTPS requests", requests, prices["cloudfront.https_request"])
    if facts.cloudfront_functions:
        bill.add(
            "CloudFront",
            "CloudFront Functions invocations (every viewer request)",
            facts.cloudfront_functions * views * profile.number("page_requests_per_view"),
            prices["cloudfront.function_invocation"],
        )
    bill.add(
        "CloudFront",
        "data out (GB)",
        views * profile.number("page_bytes_per_view") / GB,
        prices["cloudfront.data_out_gb"],
    )


@dataclass(frozen=True)
class Split:
    """A month's bill as what a deployment costs with nobody at the door and what each visit adds."""

    total: float
    fixed: float  # no visits (passers-by still start motion sessions)
    per_visit: float
    per_visit_before_sms: float


def split(
    scenario: str,
    facts: TemplateFacts,
    profile: UsageProfile,
    prices: PriceBook,
    transitions: Mapping[str, float] | None = None,
    code: CodeFacts | None = None,
) -> Split:
    """The fixed part is the same deployment's bill at no visits; the rest is divided by the visits."""
    code = code or read_code()
    full = estimate(scenario, facts, profile, prices, transitions, code)
    idle = estimate(
        scenario, facts, UsageProfile({**profile.raw, "visits_per_day": 0}), prices, transitions, code
    )
    visits = profile.visits_per_month
    variable = full.total - idle.total
    sms = full.sms_total - idle.sms_total
    return Split(
        total=full.total,
        fixed=idle.total,
        per_visit=variable / visits if visits else 0.0,
        per_visit_before_sms=(variable - sms) / visits if visits else 0.0,
    )


def _video_gb(profile: UsageProfile, hours: float) -> float:
    """Camera video at the profile's bitrate for `hours` hours, in GB."""
    return profile.number("camera_bitrate_mbps") * 1e6 / 8 * 3600 * hours / GB


def compare(
    facts: TemplateFacts,
    profile: UsageProfile,
    prices: PriceBook,
    transitions: Mapping[str, float] | None = None,
    code: CodeFacts | None = None,
) -> dict[str, Estimate]:
    code = code or read_code()
    return {scenario: estimate(scenario, facts, profile, prices, transitions, code) for scenario in SCENARIOS}


# ---------------------------------------------------------------------------- printing


def services_in(estimates: Iterable[Estimate]) -> list[str]:
    seen: dict[str, float] = defaultdict(float)
    for bill in estimates:
        for service, usd in bill.by_service().items():
            seen[service] = max(seen[service], usd)
    return sorted(seen, key=lambda service: -seen[service])


def comparison_rows(
    estimates: Mapping[str, Estimate], splits: Mapping[str, Split] | None = None
) -> list[list[str]]:
    """Rows of service | one column per scenario, then the totals (and, given the splits, the
    fixed part and what a visit adds)."""
    rows = []
    for service in services_in(estimates.values()):
        rows.append([service, *(usd_text(bill.service_total(service)) for bill in estimates.values())])
    rows.append(["total per month", *(usd_text(bill.total) for bill in estimates.values())])
    if splits:
        rows.append(["  fixed (no visits)", *(usd_text(splits[s].fixed) for s in estimates)])
        rows.append(["  per visit", *(f"${splits[s].per_visit:.4f}" for s in estimates)])
        rows.append(
            ["  per visit before SMS", *(f"${splits[s].per_visit_before_sms:.4f}" for s in estimates)]
        )
    return rows


def usd_text(usd: float) -> str:
    if usd >= 100:
        return f"${usd:,.0f}"
    if usd >= 0.01 or usd == 0:
        return f"${usd:,.2f}"
    return "<$0.01"


def format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(header))]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)) for row in rows]
    return "\n".join(lines)


def parse_transitions(text: str) -> dict[str, float]:
    values = {}
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        name, _, number = part.partition("=")
        if name not in ("known", *OUTCOMES) or not number:
            raise CostModelError(f"--transitions takes known=N,approved=N,denied=N,expired=N, not {part!r}")
        values[name] = float(number)
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--template", type=Path, required=True, help="the synthesized SmartDoor.template.json"
    )
    parser.add_argument("--profile", type=Path, default=DEFAULT_PROFILE)
    parser.add_argument("--prices", type=Path, default=DEFAULT_PRICES)
    parser.add_argument(
        "--transitions", default="", help="per visit: known=6,approved=14,denied=9,expired=10"
    )
    parser.add_argument("--detail", action="store_true", help="every line item of every scenario")
    args = parser.parse_args(argv)
    try:
        facts = load_template(args.template)
        profile = load_profile(args.profile)
        prices = load_prices(args.prices)
        transitions = parse_transitions(args.transitions)
        code = read_code()
        estimates = compare(facts, profile, prices, transitions, code)
        splits = {
            scenario: split(scenario, facts, profile, prices, transitions, code) for scenario in estimates
        }
    except (OSError, ValueError) as error:
        print(f"cost model: {error}", file=sys.stderr)
        return 2
    print(
        f"Monthly estimate, {profile.number('visits_per_day'):.0f} visits a day, prices of {prices.as_of} "
        f"({prices.region}, list prices, assumptions: {args.prices})"
    )
    print(
        format_table(
            ["service", *(SCENARIO_TITLES[s] for s in estimates)], comparison_rows(estimates, splits)
        )
    )
    if args.detail:
        for bill in estimates.values():
            print(f"\n{SCENARIO_TITLES[bill.scenario]}")
            print(
                format_table(
                    ["service", "item", "quantity", "unit price", "monthly"],
                    [
                        [
                            i.service,
                            i.item,
                            f"{i.quantity:,.2f}",
                            f"${i.price.usd:g}/{i.price.unit}",
                            usd_text(i.usd),
                        ]
                        for i in bill.items
                    ],
                )
            )
    notes = sorted({note for bill in estimates.values() for note in bill.notes})
    for note in notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
