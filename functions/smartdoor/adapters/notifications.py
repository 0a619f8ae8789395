"""Owner and visitor notifications over SNS: SMS to a phone number, email through the alerts topic."""

from __future__ import annotations

from typing import Any, Protocol

from smartdoor.adapters.aws import client, transient_errors_as
from smartdoor.domain.phones import mask_phone
from smartdoor.errors import TransientError
from smartdoor.observability import logger

# SNS email subjects must be ASCII, under 100 characters, with no line breaks.
_MAX_SUBJECT = 99


class Notifier(Protocol):
    def send_sms(self, phone: str, text: str) -> str: ...

    def send_email(self, subject: str, body: str) -> str: ...


class SnsNotifier:
    """SMS via SNS direct publish; email via the alerts topic (the owner's subscription)."""

    def __init__(self, alerts_topic_arn: str, sns_client: Any | None = None) -> None:
        self._topic_arn = alerts_topic_arn
        self._sns = sns_client

    @property
    def _client(self) -> Any:
        return self._sns or client("sns")

    def send_sms(self, phone: str, text: str) -> str:
        with transient_errors_as(TransientError):
            response = self._client.publish(
                PhoneNumber=phone,
                Message=text,
                MessageAttributes={
                    "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"},
                },
            )
        logger.info("SMS sent", extra={"to": mask_phone(phone), "message_id": response["MessageId"]})
        return str(response["MessageId"])

    def send_email(self, subject: str, body: str) -> str:
        clean_subject = " ".join(subject.split()).encode("ascii", "replace").decode()[:_MAX_SUBJECT]
        with transient_errors_as(TransientError):
            response = self._client.publish(TopicArn=self._topic_arn, Subject=clean_subject, Message=body)
        logger.info("Email sent through alerts topic", extra={"message_id": response["MessageId"]})
        return str(response["MessageId"])
