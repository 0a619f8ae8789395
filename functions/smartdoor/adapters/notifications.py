"""Owner and visitor notifications over SNS: SMS to a phone number, email through the alerts topic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from smartdoor.adapters.aws import client, transient_errors_as
from smartdoor.domain.phones import mask_phone
from smartdoor.errors import SmsNotDelivered, TransientError
from smartdoor.observability import logger
from smartdoor.ports import Notifier as Notifier  # the port this adapter implements (re-exported)

# SNS email subjects must be ASCII, under 100 characters, with no line breaks.
_MAX_SUBJECT = 99


@dataclass(frozen=True)
class SmsOrigin:
    """Who a text message comes from (docs/sms.md). Either may be unset: SNS then picks an
    origination identity of the account (in the US: a toll-free or 10DLC number it owns)."""

    sender_id: str | None = None
    origination_number: str | None = None

    def message_attributes(self) -> dict[str, dict[str, str]]:
        """Publish's MessageAttributes for one SMS (SNS Developer Guide, "Publishing to a mobile
        phone"): always Transactional (codes and approval links are time-critical)."""
        attributes = {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}}
        if self.sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": self.sender_id}
        if self.origination_number:
            attributes["AWS.MM.SMS.OriginationNumber"] = {
                "DataType": "String",
                "StringValue": self.origination_number,
            }
        return attributes


class SnsNotifier:
    """SMS via SNS direct publish; email via the alerts topic (the owner's subscription)."""

    def __init__(
        self,
        alerts_topic_arn: str,
        sns_client: Any | None = None,
        *,
        sms_origin: SmsOrigin | None = None,
    ) -> None:
        self._topic_arn = alerts_topic_arn
        self._sns = sns_client
        self._origin = sms_origin or SmsOrigin()

    @property
    def _client(self) -> Any:
        return self._sns or client("sns")

    def send_sms(self, phone: str, text: str) -> str:
        """Raises TransientError (throttled, 5xx: try again) or SmsNotDelivered (refused for good)."""
        try:
            with transient_errors_as(TransientError):
                response = self._client.publish(
                    PhoneNumber=phone, Message=text, MessageAttributes=self._origin.message_attributes()
                )
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", "Unknown"))
            # SNS's message quotes the number: log and raise the code alone.
            logger.warning("SMS refused by SNS", extra={"to": mask_phone(phone), "error_code": code})
            raise SmsNotDelivered(code) from None
        logger.info("SMS sent", extra={"to": mask_phone(phone), "message_id": response["MessageId"]})
        return str(response["MessageId"])

    def send_email(self, subject: str, body: str) -> str:
        clean_subject = " ".join(subject.split()).encode("ascii", "replace").decode()[:_MAX_SUBJECT]
        with transient_errors_as(TransientError):
            response = self._client.publish(TopicArn=self._topic_arn, Subject=clean_subject, Message=body)
        logger.info("Email sent through alerts topic", extra={"message_id": response["MessageId"]})
        return str(response["MessageId"])
