"""Where the `smartdoor` command works: a running local stack, or a deployed stack (--aws).

- Local: the local server (`smartdoor local`, default 127.0.0.1:8080) answers GET /local/stack
  with its moto endpoint and resource names. While a command runs, boto3 in this process talks
  to that endpoint (AWS_ENDPOINT_URL) with throwaway credentials, and faces are read and indexed
  by the local dlib engine in the stack's face table: the same collection the stack searches.
- AWS: the CloudFormation stack's outputs (`SmartDoor` unless --stack-name) name the Visitors,
  Passcodes, Visits and Approvals tables, the photos bucket and the Rekognition collection; the
  default AWS credentials and region are used (or --region).

Both give a `VisitorAdmin` built on the same adapters, so enrol/list/forget behave alike.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from smartdoor.adapters.approval_store import DynamoApprovalStore
from smartdoor.adapters.aws import client, dynamodb_table, reset_clients, scan_pages, transient_errors_as
from smartdoor.adapters.passcode_store import DynamoPasscodeStore
from smartdoor.adapters.visit_store import DynamoVisitStore
from smartdoor.adapters.visitor_store import DynamoVisitorStore
from smartdoor.domain.visitors import Visitor
from smartdoor.errors import SmartDoorError, TransientError
from smartdoor_local.visitors import VisitorAdmin

DEFAULT_STACK_NAME = "SmartDoor"
DEFAULT_DOOR_ID = "front-door"


class TargetUnavailable(SmartDoorError):
    """No local stack answers, or the deployed stack cannot be found or read."""


# ---------------------------------------------------------------------------- adapters


class DynamoVisitorDirectory:
    """The Visitors table: the Lambda code's store, plus a scan for listing."""

    def __init__(self, table_name: str) -> None:
        self._table_name = table_name
        self._store = DynamoVisitorStore(table_name)

    def get(self, visitor_id: str) -> Visitor | None:
        return self._store.get(visitor_id)

    def put(self, visitor: Visitor) -> None:
        self._store.put(visitor)

    def delete(self, visitor_id: str) -> bool:
        return self._store.delete(visitor_id)

    def all(self) -> list[Visitor]:
        return [Visitor.parse(item) for item in scan_pages(dynamodb_table(self._table_name))]


class S3PhotoBucket:
    """The photos bucket, for what the owner's tools do: store an enrolment photo, delete photos."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    def put_jpeg(self, key: str, data: bytes) -> None:
        with transient_errors_as(TransientError):
            client("s3").put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="image/jpeg")

    def keys_under(self, prefix: str) -> list[str]:
        keys: list[str] = []
        with transient_errors_as(TransientError):
            pages = client("s3").get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
            for page in pages:
                keys.extend(item["Key"] for item in page.get("Contents", []))
        return keys

    def delete_keys(self, keys: list[str]) -> list[str]:
        deleted: list[str] = []
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            with transient_errors_as(TransientError):
                response = client("s3").delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
                )
            errors = response.get("Errors", [])
            if errors:
                failed = ", ".join(f"{error.get('Key')}: {error.get('Code')}" for error in errors)
                raise RuntimeError(f"could not delete photos: {failed}")
            deleted.extend(batch)
        return deleted


class DynamoPasscodeRevoker:
    """Deletes a visitor's current code, so that it no longer opens the door, then the rest."""

    def __init__(self, table_name: str) -> None:
        self._store = DynamoPasscodeStore(table_name)

    def revoke(self, door_id: str, visitor_id: str) -> bool:
        code_hash = self._store.current_code_hash(door_id, visitor_id)
        if code_hash is None:
            return False
        return self._store.delete_code(door_id, code_hash)

    def forget_visitor(self, visitor_id: str) -> int:
        return self._store.forget_visitor(visitor_id)


@dataclass(frozen=True)
class TargetNames:
    visitors_table: str
    passcodes_table: str | None
    photos_bucket: str
    collection_id: str
    door_id: str
    faces_table: str | None = None  # the local engine's collection
    visits_table: str | None = None
    approvals_table: str | None = None


def admin_for(names: TargetNames, engine: Any) -> VisitorAdmin:
    return VisitorAdmin(
        engine=engine,
        visitors=DynamoVisitorDirectory(names.visitors_table),
        photos=S3PhotoBucket(names.photos_bucket),
        passcodes=DynamoPasscodeRevoker(names.passcodes_table) if names.passcodes_table else None,
        door_id=names.door_id,
        approvals=DynamoApprovalStore(names.approvals_table) if names.approvals_table else None,
        visits=DynamoVisitStore(names.visits_table) if names.visits_table else None,
    )


# ---------------------------------------------------------------------------- local


def local_stack_info(port: int, timeout: float = 5.0) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}/local/stack"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            info: dict[str, Any] = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise TargetUnavailable(
            f"no local stack answers at http://127.0.0.1:{port} ({_reason(error)}). Start one with "
            "`smartdoor local` (or `make demo`), pass --port if it runs elsewhere, or use --aws."
        ) from None
    if not info.get("awsEndpoint"):
        raise TargetUnavailable(f"the server at http://127.0.0.1:{port} is not a Smart Door local stack")
    return info


def _reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None)
    return str(reason or error)


@contextmanager
def local_target(port: int) -> Iterator[VisitorAdmin]:
    """A VisitorAdmin on the running local stack; AWS clients point at its moto endpoint meanwhile."""
    info = local_stack_info(port)
    names = info["names"]
    variables = {
        "AWS_ENDPOINT_URL": info["awsEndpoint"],
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": info.get("region", "us-east-1"),
        "AWS_REGION": info.get("region", "us-east-1"),
    }
    dropped = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
    saved = {name: os.environ.get(name) for name in (*variables, *dropped)}
    for name in dropped:
        os.environ.pop(name, None)
    os.environ.update(variables)
    reset_clients()
    try:
        from smartdoor.adapters.photo_store import S3PhotoStore
        from smartdoor_local.face_engine import DynamoFaceStore, LocalFaceEngine

        target = TargetNames(
            visitors_table=names["visitorsTable"],
            passcodes_table=names.get("passcodesTable"),
            photos_bucket=names["photosBucket"],
            collection_id=names["collectionId"],
            door_id=info.get("doorId") or DEFAULT_DOOR_ID,
            faces_table=names["facesTable"],
            visits_table=names.get("visitsTable"),
            approvals_table=names.get("approvalsTable"),
        )
        engine = LocalFaceEngine(
            DynamoFaceStore(names["facesTable"]), photos=S3PhotoStore(names["photosBucket"])
        )
        yield admin_for(target, engine)
    finally:
        reset_clients()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# ---------------------------------------------------------------------------- AWS


def aws_config_problem(error: Exception) -> str:
    """One line for what is wrong with the AWS profile, region or credentials (--aws)."""
    from botocore import exceptions

    if isinstance(error, exceptions.NoRegionError):
        return "no AWS region: pass --region or set AWS_REGION"
    if isinstance(error, exceptions.InvalidRegionError):
        return f"{error}: pass a region name such as eu-west-1 with --region"
    if isinstance(error, exceptions.ProfileNotFound):
        profile = error.kwargs.get("profile", "?")
        return (
            f"AWS profile {profile!r} is not in your AWS config: set AWS_PROFILE to one that is, or unset it"
        )
    if isinstance(error, exceptions.NoCredentialsError | exceptions.PartialCredentialsError):
        return f"{error}: configure credentials (aws configure, aws sso login) or set AWS_PROFILE"
    if isinstance(error, exceptions.SSOError | exceptions.TokenRetrievalError):
        return f"{error} (try aws sso login)".replace("\n", " ")
    return f"cannot reach AWS: {error}".replace("\n", " ")


def stack_outputs(stack_name: str, region: str | None = None) -> dict[str, str]:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        cloudformation = boto3.client("cloudformation", region_name=region)
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        message = error.response.get("Error", {}).get("Message", str(error))
        raise TargetUnavailable(f"cannot read stack {stack_name}: {message}") from None
    except BotoCoreError as error:
        raise TargetUnavailable(aws_config_problem(error)) from None
    return {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}


def aws_names(outputs: dict[str, str], stack_name: str) -> TargetNames:
    required = ("VisitorsTableName", "PhotosBucketName", "CollectionId")
    missing = [key for key in required if not outputs.get(key)]
    if missing:
        raise TargetUnavailable(
            f"stack {stack_name} has no output {', '.join(missing)}; redeploy it with this version"
        )
    door_id = DEFAULT_DOOR_ID
    door_page = outputs.get("DoorPageUrl")
    if door_page:
        door_id = parse_qs(urlsplit(door_page).query).get("door", [door_id])[0]
    return TargetNames(
        visitors_table=outputs["VisitorsTableName"],
        passcodes_table=outputs.get("PasscodesTableName"),
        photos_bucket=outputs["PhotosBucketName"],
        collection_id=outputs["CollectionId"],
        door_id=door_id,
        visits_table=outputs.get("VisitsTableName"),
        approvals_table=outputs.get("ApprovalsTableName"),
    )


@contextmanager
def aws_target(stack_name: str = DEFAULT_STACK_NAME, region: str | None = None) -> Iterator[VisitorAdmin]:
    if region:
        os.environ["AWS_DEFAULT_REGION"] = region
    names = aws_names(stack_outputs(stack_name, region), stack_name)
    from smartdoor.adapters.face_engine import RekognitionFaceEngine

    reset_clients()
    yield admin_for(names, RekognitionFaceEngine(names.collection_id))
