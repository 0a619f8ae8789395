"""Typed exceptions. Step Functions matches Lambda errors by class name, so names are a contract."""


class SmartDoorError(Exception):
    """Base for every expected failure."""


class InvalidField(SmartDoorError):
    """A request field is missing or malformed (400); `field` names it, never the value."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


class TransientError(SmartDoorError):
    """A dependency is throttling or failing; the same call may succeed later (ASL retries it)."""


class UnknownDoor(SmartDoorError):
    """A ring, event, upload or passcode names a door this deployment does not serve (404 in the API)."""


class UnknownCommand(SmartDoorError):
    """No unlock command of this door has this id (404 in the API; ids are uuid4, not guessable)."""


class VersionConflict(SmartDoorError):
    """A versioned item (a door's session or visit) changed after it was read; read it again."""


class SessionContended(TransientError):
    """The door's session item kept changing under us; retry."""


class MediaNotAvailable(SmartDoorError):
    """KVS has no image for the requested time yet (ingestion lag); retry shortly."""


class NoFaceInPhoto(SmartDoorError):
    """The stored photo has no face the engine can search with."""


class NoUsableFace(SmartDoorError):
    """IndexFaces found no face good enough to enrol."""


class VisitorNotFound(SmartDoorError):
    """A visitorId has no record."""


class InvalidImage(SmartDoorError):
    """An image cannot be decoded, is too large, or the face box lies outside it (not retryable)."""


class TooManyPixels(InvalidImage):
    """An image's header declares more pixels than the project decodes (found before decoding it)."""


class MalformedPasscode(SmartDoorError):
    """A typed code is not exactly 6 ASCII digits (a 400: rejected before any state changes)."""


class SmsNotDelivered(SmartDoorError):
    """SNS refused a text message for good (not throttling): an SMS-sandbox number that is not
    verified, an invalid or opted-out number, the monthly spend limit, a bad sender setting.

    The message names only SNS's error code, never the number (SNS's own message quotes it).
    """

    def __init__(self, code: str) -> None:
        super().__init__(f"SNS refused the text message ({code})")
        self.code = code
