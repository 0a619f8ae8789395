"""ask_owner's Lambda handler on moto: DynamoDB (the approval), S3 (the photos), SNS (the owner's
SMS, recorded by moto, and the alerts topic, read back through a subscribed SQS queue)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends
from msgspec import ValidationError

from ask_owner.handler import handler, reset_adapters
from smartdoor.adapters.approval_store import DynamoApprovalStore
from smartdoor.adapters.notifications import SnsNotifier
from smartdoor.adapters.secrets import SecretsManagerHmacKey
from smartdoor.domain.approvals import (
    Approval,
    ApprovalExpired,
    approval_link_id,
    create_approval,
    ref_from_link_id,
)
from smartdoor.errors import TransientError
from smartdoor.models import VisitPhoto
from smartdoor.observability import logger
from tests.fakes.lambda_context import FakeLambdaContext
from tests.integration.test_approval_store import BUCKET, TABLE, create_approvals_table
from tests.integration.test_passcode_store import TABLE as PASSCODES_TABLE
from tests.integration.test_passcode_store import create_passcodes_table

REGION = "us-east-1"
OWNER_PHONE = "+15550100000"
SITE = "https://door.example.com"
FRAME = b"\xff\xd8frame-jpeg"
FACE = b"\xff\xd8face-jpeg"
PHOTO = VisitPhoto(bucket=BUCKET, frame_key="visits/v-1/frame.jpg", face_key="visits/v-1/face.jpg")
TOKEN_1 = "AQCEAAAAKgAAAAMAAAAAAAAAA-secret-task-token-attempt-1"
TOKEN_2 = "AQCEAAAAKgAAAAMAAAAAAAAAA-secret-task-token-attempt-2"
LINK_KEY = "per-deployment-hmac-key-for-tests-" + "k" * 30


class Owner:
    """The owner's phone (moto's SMS log) and inbox (an SQS queue subscribed to the alerts topic)."""

    def __init__(self) -> None:
        sns, sqs = boto3.client("sns"), boto3.client("sqs")
        self.topic_arn = sns.create_topic(Name="smartdoor-alerts")["TopicArn"]
        self._queue_url = sqs.create_queue(QueueName="owner-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=queue_arn)
        self._sqs = sqs

    def texts(self) -> list[tuple[str, str]]:
        return list(sns_backends[DEFAULT_ACCOUNT_ID][REGION].sms_messages.values())

    def emails(self) -> list[dict[str, str]]:
        received = self._sqs.receive_message(
            QueueUrl=self._queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        )
        return [json.loads(message["Body"]) for message in received.get("Messages", [])]


@pytest.fixture
def owner(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Owner]:
    create_approvals_table()
    create_passcodes_table()
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=PHOTO.frame_key, Body=FRAME)
    s3.put_object(Bucket=BUCKET, Key=PHOTO.face_key, Body=FACE)
    the_owner = Owner()
    secret_arn = boto3.client("secretsmanager").create_secret(Name="otp-key", SecretString=LINK_KEY)["ARN"]
    reset_adapters()
    for name, value in {
        "OTP_SECRET_ARN": secret_arn,
        "APPROVALS_TABLE": TABLE,
        "PHOTOS_BUCKET": BUCKET,
        "ALERTS_TOPIC_ARN": the_owner.topic_arn,
        "OWNER_PHONE": OWNER_PHONE,
        "SITE_URL": SITE,
        "SMS_BUDGET_TABLE": PASSCODES_TABLE,
        "SMS_PER_VISITOR_PER_HOUR": "3",
        "SMS_PER_DOOR_PER_HOUR": "20",
    }.items():
        monkeypatch.setenv(name, value)
    yield the_owner
    reset_adapters()


def a_pending_approval(now: datetime) -> Approval:
    return create_approval(
        visit_id="v-1",
        door_id="front-door",
        photo=PHOTO,
        seen_at=now - timedelta(seconds=15),
        timeout_seconds=600,
        photos_bucket=BUCKET,
        approvals=DynamoApprovalStore(TABLE),
        now=now,
    )


def everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)


def test_the_owner_gets_one_sms_and_one_email_with_the_link_and_a_working_photo_link(
    owner: Owner, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a pending approval created just now
    now = datetime.now(UTC)
    approval = a_pending_approval(now)
    caplog.set_level(logging.DEBUG, logger=logger.name)

    # WHEN the workflow's wait state invokes ask_owner with its task token
    result = handler(
        {"taskToken": TOKEN_1, "approvalRef": approval.approval_ref, "executionName": "exec-1"},
        FakeLambdaContext(),
    )

    # THEN the token is kept on the approval, server side
    stored = DynamoApprovalStore(TABLE).get(approval.approval_ref)
    assert stored is not None and stored.task_token == TOKEN_1
    assert stored.sms_sent_at is not None and stored.email_sent_at is not None
    # AND the owner's phone got one short text with the approval link
    approval_id = approval_link_id(approval.approval_ref, LINK_KEY.encode())
    link = f"{SITE}/owner/?a={approval_id}"
    [(phone, text)] = owner.texts()
    assert phone == OWNER_PHONE
    assert link in text and "front-door" in text and len(text) <= 160
    # AND the owner's inbox got one email with the link, the times and the photo links
    [email] = owner.emails()
    assert email["Subject"] == "Someone is at front-door"
    body = email["Message"]
    assert link in body
    assert "Seen at:" in body and "Decide by:" in body
    assert TOKEN_1 not in body and TOKEN_1 not in text
    photo_urls = [line for line in body.splitlines() if line.startswith("https://") and "X-Amz" in line]
    assert len(photo_urls) == 2
    frame_url = photo_urls[0]
    assert urlsplit(frame_url).path.endswith("/visits/v-1/frame.jpg")
    expires_in = int(parse_qs(urlsplit(frame_url).query)["X-Amz-Expires"][0])
    assert 590 <= expires_in <= 600  # valid until the approval expires, not longer
    assert requests.get(frame_url, timeout=5).content == FRAME  # served by moto's S3
    assert requests.get(photo_urls[1], timeout=5).content == FACE
    # AND nothing secret reached the logs
    logged = everything_logged(caplog)
    assert "Owner asked" in logged and "SMS sent" in logged
    for secret in (TOKEN_1, OWNER_PHONE, approval_id, approval_id.partition(".")[2]):
        assert secret not in logged
    # AND the link's id is the one the API accepts with the deployment's key, and the task's
    # output (which reaches the execution history) does not carry it
    secret_arn = boto3.client("secretsmanager").describe_secret(SecretId="otp-key")["ARN"]
    assert ref_from_link_id(approval_id, SecretsManagerHmacKey(secret_arn)) == approval.approval_ref
    assert result == {"smsSent": True, "emailSent": True, "pushesDelivered": 0}


def failing_email_once() -> Any:
    """An SNS client whose first publish to a topic is throttled (SMS publishes go through)."""
    sns = boto3.client("sns")
    failures = {"left": 1}

    def throttle_topic_publish(params: dict[str, Any], **_: Any) -> None:
        if "TopicArn" in params and failures["left"]:
            failures["left"] -= 1
            raise ClientError(
                {
                    "Error": {"Code": "Throttling", "Message": "Rate exceeded"},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                "Publish",
            )

    sns.meta.events.register("before-parameter-build.sns.Publish", throttle_topic_publish)
    return sns


def test_past_the_doors_hourly_texts_the_owner_is_asked_by_email_alone(
    owner: Owner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a door allowed one text an hour, and two strangers at it
    monkeypatch.setenv("SMS_PER_DOOR_PER_HOUR", "1")
    now = datetime.now(UTC)
    first, second = a_pending_approval(now), a_pending_approval(now)

    # WHEN the owner is asked about each
    for number, approval in enumerate((first, second)):
        event = {
            "taskToken": TOKEN_1,
            "approvalRef": approval.approval_ref,
            "executionName": f"exec-{number}",
        }
        handler(event, FakeLambdaContext())

    # THEN one text went (the first), and both emails, the second saying why it comes alone
    assert len(owner.texts()) == 1
    emails = owner.emails()
    assert len(emails) == 2
    assert "No text message was sent to your phone" not in emails[0]["Message"]
    assert (
        "No text message was sent to your phone: this door has caused 1 texts this hour"
        in emails[1]["Message"]
    )
    # AND the second request is still waiting for the owner, with its token kept
    stored = DynamoApprovalStore(TABLE).get(second.approval_ref)
    assert stored is not None and stored.task_token == TOKEN_1 and stored.sms_sent_at is None


def test_a_retry_after_the_email_failed_sends_the_email_but_not_the_sms_again(owner: Owner) -> None:
    # GIVEN SNS throttles the first email
    approval = a_pending_approval(datetime.now(UTC))
    notifier = SnsNotifier(owner.topic_arn, sns_client=failing_email_once())

    # WHEN the first attempt runs, the task fails with a TransientError (the ASL retries it)
    with pytest.raises(TransientError):
        handler(
            {"taskToken": TOKEN_1, "approvalRef": approval.approval_ref, "executionName": "exec-1"},
            FakeLambdaContext(),
            notifier=notifier,
        )
    assert len(owner.texts()) == 1
    assert owner.emails() == []

    # AND the retry (a new task token) succeeds
    handler(
        {"taskToken": TOKEN_2, "approvalRef": approval.approval_ref, "executionName": "exec-1"},
        FakeLambdaContext(),
        notifier=notifier,
    )

    # THEN the owner has one SMS and one email, and the record holds the retry's token
    assert len(owner.texts()) == 1
    assert len(owner.emails()) == 1
    stored = DynamoApprovalStore(TABLE).get(approval.approval_ref)
    assert stored is not None and stored.task_token == TOKEN_2


def test_asking_about_an_expired_request_sends_nothing(owner: Owner) -> None:
    # GIVEN an approval that expired ten minutes ago
    approval = a_pending_approval(datetime.now(UTC) - timedelta(minutes=20))

    with pytest.raises(ApprovalExpired):
        handler(
            {"taskToken": TOKEN_1, "approvalRef": approval.approval_ref, "executionName": "exec-1"},
            FakeLambdaContext(),
        )

    assert owner.texts() == [] and owner.emails() == []
    stored = DynamoApprovalStore(TABLE).get(approval.approval_ref)
    assert stored is not None and stored.task_token is None


def test_a_malformed_event_fails_without_echoing_the_token(owner: Owner) -> None:
    with pytest.raises(ValidationError) as raised:
        handler({"taskToken": TOKEN_1, "executionName": "exec-1"}, FakeLambdaContext())

    assert "approvalRef" in str(raised.value)
    assert TOKEN_1 not in str(raised.value)
    assert owner.texts() == []
