"""Requests checked against AWS's own API models, more strictly than botocore does by default.

botocore validates required members, types and minimums before every call; the service checks
the rest (maximums, enums, limits documented only in the API reference) and answers
ValidationException, which moto and Stubber do not. `violations(operation_model, params)` adds
those checks; `install(events)` runs them before every call of every client created from a
botocore/boto3 session, so the whole test suite (adapters on moto or Stubber) is held to them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from botocore.model import OperationModel, Shape
from botocore.validate import ParamValidator


def _seconds(value: Any) -> float:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return float(value)


def _get_images(params: dict[str, Any]) -> list[str]:
    # https://docs.aws.amazon.com/kinesisvideostreams/latest/dg/API_reader_GetImages.html
    problems = []
    window = _seconds(params["EndTimestamp"]) - _seconds(params["StartTimestamp"])
    if not 0 <= window <= 300:
        problems.append(f"EndTimestamp - StartTimestamp is {window} s (GetImages allows 0-300 s)")
    if "SamplingInterval" in params and int(params["SamplingInterval"]) < 200:
        problems.append(f"SamplingInterval {params['SamplingInterval']} ms (minimum 200 ms)")
    for key, value in params.get("FormatConfig", {}).items():
        if key != "JPEGQuality" or not 1 <= int(value) <= 100:
            problems.append(f"FormatConfig {key}={value} (only JPEGQuality 1-100)")
    return problems


# https://docs.aws.amazon.com/sns/latest/dg/sms_publish-to-phone.html (message attributes)
SMS_ATTRIBUTES: dict[str, Callable[[str], bool]] = {
    "AWS.SNS.SMS.SMSType": lambda v: v in {"Promotional", "Transactional"},
    "AWS.SNS.SMS.SenderID": lambda v: 1 <= len(v) <= 11 and v.isalnum() and not v.isdigit(),
    "AWS.SNS.SMS.MaxPrice": lambda v: float(v) >= 0,
    "AWS.MM.SMS.OriginationNumber": lambda v: v.startswith("+") and v[1:].isdigit(),
    "AWS.MM.SMS.EntityId": lambda v: bool(v),
    "AWS.MM.SMS.TemplateId": lambda v: bool(v),
}


def _publish(params: dict[str, Any]) -> list[str]:
    problems = []
    # https://docs.aws.amazon.com/sns/latest/api/API_Publish.html: one of the three targets
    targets = [name for name in ("TopicArn", "TargetArn", "PhoneNumber") if name in params]
    if len(targets) != 1:
        problems.append(f"Publish needs exactly one of TopicArn, TargetArn, PhoneNumber: {targets}")
    if "Subject" in params and (len(params["Subject"]) > 100 or not params["Subject"].isascii()):
        problems.append("Subject: at most 100 ASCII characters")
    for name, attribute in params.get("MessageAttributes", {}).items():
        if name.startswith(("AWS.SNS.SMS.", "AWS.MM.SMS.")):
            check = SMS_ATTRIBUTES.get(name)
            value = attribute.get("StringValue", "")
            if "PhoneNumber" not in params:
                problems.append(f"{name} is an SMS attribute on a publish that is not an SMS")
            if check is None or attribute.get("DataType") != "String" or not check(value):
                problems.append(f"SMS attribute {name}={value!r} ({attribute.get('DataType')})")
    return problems


# Limits the API references document but the models do not encode.
DOCUMENTED_LIMITS: dict[tuple[str, str], Callable[[dict[str, Any]], list[str]]] = {
    ("kinesis-video-archived-media", "GetImages"): _get_images,
    ("sns", "Publish"): _publish,
}


def _over_max(shape: Shape, size: float, path: str, what: str) -> list[str]:
    """`path: <size> <what> (max N)` when the shape's `max` is below `size`."""
    limit = shape.metadata.get("max")
    return [f"{path}: {size}{what} (max {limit})"] if limit is not None and size > limit else []


def _structure(shape: Shape, value: Any, path: str) -> list[str]:
    problems: list[str] = []
    for name, member in value.items():
        if name in shape.members:
            problems += _shape_violations(shape.members[name], member, f"{path}.{name}")
    return problems


def _list(shape: Shape, value: Any, path: str) -> list[str]:
    problems = _over_max(shape, len(value), path, " items")
    for index, item in enumerate(value):
        problems += _shape_violations(shape.member, item, f"{path}[{index}]")  # type: ignore[attr-defined]
    return problems


def _map(shape: Shape, value: Any, path: str) -> list[str]:
    problems = _over_max(shape, len(value), path, " entries")
    for key, item in value.items():
        problems += _shape_violations(shape.key, key, f"{path} key")  # type: ignore[attr-defined]
        problems += _shape_violations(shape.value, item, f"{path}[{key!r}]")  # type: ignore[attr-defined]
    return problems


def _string(shape: Shape, value: Any, path: str) -> list[str]:
    problems = _over_max(shape, len(value), path, " characters")
    if shape.enum and value not in shape.enum:  # type: ignore[attr-defined]
        problems.append(f"{path}: {value!r} not one of {shape.enum}")  # type: ignore[attr-defined]
    return problems


def _number(shape: Shape, value: Any, path: str) -> list[str]:
    return _over_max(shape, value, path, "")


def _blob(shape: Shape, value: Any, path: str) -> list[str]:
    return _over_max(shape, len(value), path, " bytes")


# Per shape type: the Python types a value of it may have here, and its check.
_SHAPE_CHECKS: dict[str, tuple[type | tuple[type, ...], Callable[[Shape, Any, str], list[str]]]] = {
    "structure": (dict, _structure),
    "list": (list, _list),
    "map": (dict, _map),
    "string": (str, _string),
    "integer": ((int, float), _number),
    "long": ((int, float), _number),
    "float": ((int, float), _number),
    "double": ((int, float), _number),
    "blob": ((bytes, str), _blob),
}


def _shape_violations(shape: Shape, value: Any, path: str) -> list[str]:
    kinds, check = _SHAPE_CHECKS.get(shape.type_name, ((), None))
    return check(shape, value, path) if check is not None and isinstance(value, kinds) else []


def violations(operation: OperationModel, params: dict[str, Any]) -> list[str]:
    """Everything AWS would refuse in these parameters that the model or the API reference says."""
    report = ParamValidator().validate(params, operation.input_shape)
    problems = [report.generate_report()] if report.has_errors() else []
    if operation.input_shape is not None:
        problems += _shape_violations(operation.input_shape, params, operation.name)
    check = DOCUMENTED_LIMITS.get((operation.service_model.service_name, operation.name))
    return problems + (check(params) if check else [])


class RequestRefused(AssertionError):
    """A request that AWS would answer with ValidationException."""


def install(events: Any, seen: list[str] | None = None) -> None:
    """Check every request an emitter's clients build (`seen` collects what was refused, so a test
    can fail even when the code under test swallows the exception)."""

    def check(params: dict[str, Any], model: OperationModel, **_: Any) -> None:
        problems = violations(model, params)
        if problems:
            message = f"{model.service_model.service_name} {model.name}: " + "; ".join(problems)
            if seen is not None:
                seen.append(message)
            raise RequestRefused(message)

    # last: after boto3's DynamoDB resource layer has turned Python values into AttributeValues
    events.register_last("before-parameter-build", check, unique_id="smartdoor-aws-models")
