"""The adapters' boto3 calls against botocore's service models.

Every call any test makes through a boto3 client is checked before it is sent
(tests/aws_models.py, installed by tests/conftest.py): the model's required members, types,
minimums, maximums and enums, and the limits the API references add (GetImages' 300 s window and
200 ms sampling, JPEGQuality, SNS SMS attributes). The adapter tests on moto and Stubber build
their requests with the adapters' real code, so they are held to those rules. This module proves
the checks refuse what AWS refuses, and that every operation the adapters call exists.
"""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import boto3
import botocore.session
import pytest
from botocore import xform_name
from botocore.stub import Stubber

from tests.aws_models import RequestRefused, violations

ADAPTERS = Path(__file__).resolve().parents[2] / "functions" / "smartdoor" / "adapters"
T0 = dt.datetime(2026, 12, 2, 18, 0, tzinfo=dt.UTC)


def operation(service: str, name: str) -> botocore.model.OperationModel:
    return botocore.session.get_session().get_service_model(service).operation_model(name)


def get_images(**overrides: object) -> dict[str, object]:
    params: dict[str, object] = {
        "StreamARN": "arn:aws:kinesisvideo:us-east-1:123456789012:stream/door/1",
        "ImageSelectorType": "PRODUCER_TIMESTAMP",
        "StartTimestamp": T0,
        "EndTimestamp": T0 + dt.timedelta(seconds=1),
        "SamplingInterval": 200,
        "Format": "JPEG",
        "FormatConfig": {"JPEGQuality": "90"},
        "WidthPixels": 1280,
        "MaxResults": 10,
    }
    return {**params, **overrides}


def test_a_valid_get_images_request_passes() -> None:
    assert violations(operation("kinesis-video-archived-media", "GetImages"), get_images()) == []


@pytest.mark.parametrize(
    ("overrides", "refusal"),
    [
        ({"EndTimestamp": T0 + dt.timedelta(seconds=301)}, "0-300 s"),
        ({"SamplingInterval": 100}, "minimum 200 ms"),
        ({"FormatConfig": {"JPEGQuality": "0"}}, "JPEGQuality"),
        ({"MaxResults": 101}, "max 100"),
        ({"WidthPixels": 4000}, "max 3840"),
        ({"Format": "GIF"}, "not one of"),
    ],
)
def test_get_images_outside_the_documented_limits_is_refused(
    overrides: dict[str, object], refusal: str
) -> None:
    problems = violations(operation("kinesis-video-archived-media", "GetImages"), get_images(**overrides))
    assert any(refusal in problem for problem in problems), problems


def test_rekognition_max_faces_and_sns_sms_attributes_are_checked() -> None:
    search = operation("rekognition", "SearchFacesByImage")
    good = {"CollectionId": "smartdoor", "Image": {"Bytes": b"x"}, "MaxFaces": 5, "FaceMatchThreshold": 90.0}
    assert violations(search, good) == []
    assert violations(search, {**good, "MaxFaces": 5000})
    assert violations(search, {**good, "FaceMatchThreshold": 101.0})
    publish = operation("sns", "Publish")
    sms = {
        "PhoneNumber": "+15550100000",
        "Message": "code",
        "MessageAttributes": {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}},
    }
    assert violations(publish, sms) == []
    wrong_type = {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Urgent"}}
    assert violations(publish, {**sms, "MessageAttributes": wrong_type})
    assert violations(publish, {**sms, "TopicArn": "arn:aws:sns:us-east-1:123456789012:alerts"})
    email = {"TopicArn": "arn:aws:sns:us-east-1:123456789012:alerts", "Message": "hi", "Subject": "x" * 101}
    assert violations(publish, email)


def test_the_checks_run_before_a_real_client_sends_anything() -> None:
    # GIVEN a boto3 client from the default session (as the adapters' client factory makes them)
    rekognition = boto3.client("rekognition", region_name="us-east-1")
    with Stubber(rekognition) as stub:
        stub.add_response("search_faces_by_image", {"FaceMatches": []})
        # WHEN it is asked for more faces than Rekognition allows
        # THEN the request is refused before it reaches the stub (or AWS)
        with pytest.raises(RequestRefused, match="MaxFaces"):
            rekognition.search_faces_by_image(CollectionId="c", Image={"Bytes": b"x"}, MaxFaces=5000)
    # (the conftest's after-test check would fail this test too; clear what it recorded)
    from tests import conftest

    conftest._REFUSED_REQUESTS.clear()


def _calls(module: Path) -> tuple[set[str], set[str]]:
    """The services a module names (client("...") / resource tables) and the methods it calls on
    clients and tables."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    services = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "client"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }
    methods: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            receiver = ast.unparse(node.func.value)
            if receiver.endswith(("_client", "client", "_table", ".meta.client")) or "client(" in receiver:
                methods.add(node.func.attr)
            text = module.read_text(encoding="utf-8")
            if receiver.endswith("_table") or "dynamodb_table" in text or "TableAdapter" in text:
                services.add("dynamodb")
    return services, methods


# boto3 client helpers and functools.cache's cache_clear on the client factory: not API operations.
NOT_OPERATIONS = {
    "get_paginator",
    "generate_presigned_url",
    "generate_presigned_post",
    "get_waiter",
    "cache_clear",
}


@pytest.mark.parametrize("module", sorted(ADAPTERS.glob("*.py")), ids=lambda p: p.name)
def test_every_operation_an_adapter_calls_exists_in_its_services_model(module: Path) -> None:
    services, methods = _calls(module)
    session = botocore.session.get_session()
    known = {
        xform_name(name)
        for service in services
        for name in session.get_service_model(service).operation_names
    }
    unknown = methods - known - NOT_OPERATIONS
    assert not unknown, f"{module.name} calls {unknown}, not operations of {services}"
