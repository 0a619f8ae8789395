"""The ports: every interface the use cases (`smartdoor.services`) and the domain talk through.

Each is a `typing.Protocol`, defined here once. The adapters (`smartdoor.adapters`: boto3) and
the fakes (tests, the local stack) satisfy them structurally; nobody inherits from them. A
use case asks for the narrowest port it needs (`OwnerEmail`, not all of `Notifier`), so a
fake implements only what the test exercises.

The types the ports speak in are imported for type checking only: this module has no runtime
dependency, so the domain may name a port without an import cycle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from smartdoor.adapters.door_camera import CameraFrame
    from smartdoor.adapters.event_bus import BusEvent
    from smartdoor.adapters.stream_processor import ProcessorOutcome
    from smartdoor.adapters.visit_store import ApprovedStranger, ClaimOutcome, StoredVisit
    from smartdoor.domain.approvals import Approval, ApprovalStatus, Channel
    from smartdoor.domain.doorbell import Session, StoredSession
    from smartdoor.domain.face_search_records import OutgoingRecord
    from smartdoor.domain.otp import FailureRecord, OtpPolicy, StoredCode, VerifyOutcome
    from smartdoor.domain.sms_budget import SmsScope, SmsWindow
    from smartdoor.domain.snapshot_keys import UploadedObject
    from smartdoor.domain.snapshots import SnapshotOutcome
    from smartdoor.domain.visitors import Visitor
    from smartdoor.domain.visits import VisitState
    from smartdoor.models import ImageRef


# ---------------------------------------------------------------------------- messages out


class SmsSender(Protocol):
    def send_sms(self, phone: str, text: str) -> str: ...


class OwnerEmail(Protocol):
    def send_email(self, subject: str, body: str) -> str: ...


class Notifier(SmsSender, OwnerEmail, Protocol):
    """Text messages and the owner's email (SnsNotifier)."""


class EventBus(Protocol):
    def publish(self, events: Sequence[BusEvent]) -> list[str | None]:
        """Publish events; per event its EventBridge event id, or None if it was rejected.

        Raises TransientError when the call itself fails for a reason a retry may fix.
        """
        ...


class PendingCommands(Protocol):
    """The lock-states table, as the unlock API writes it: a new command, not yet answered."""

    def record_pending(
        self, *, command_id: str, door_id: str, visit_id: str, via: str, now: datetime
    ) -> None: ...


class LockStates(Protocol):
    """The lock-states table, as the door page reads it: `{state, updatedAt, doorId}` or None."""

    def get(self, command_id: str) -> Mapping[str, str] | None: ...


class TaskTokens(Protocol):
    """Step Functions callbacks. Raises TaskTokenRejected when the task no longer waits."""

    def send_success(self, task_token: str, output: Mapping[str, Any]) -> None: ...

    def send_failure(self, task_token: str, error: str, cause: str) -> None: ...


# ---------------------------------------------------------------------------- secrets


class HmacKeySource(Protocol):
    def hmac_key(self) -> bytes: ...


class LinkKey(Protocol):
    """The per-deployment HMAC key (the OTP secret: smartdoor.adapters.secrets.SecretsManagerHmacKey).
    Rotating it invalidates every pending approval link; they live at most the approval timeout."""

    def hmac_key(self) -> bytes: ...


# ---------------------------------------------------------------------------- faces and images


class FaceSearch(Protocol):
    def search(self, image: Any, threshold: float, max_faces: int) -> dict[str, Any]: ...


class FaceEngine(Protocol):
    def search(self, image: ImageRef, threshold: float, max_faces: int) -> dict[str, Any]: ...

    def index(self, image: ImageRef, external_image_id: str) -> dict[str, Any]: ...

    def delete(self, face_ids: Sequence[str]) -> dict[str, Any]: ...


class DoorCamera(Protocol):
    def newest_frame(self, stream_arn: str, now: float, after: float | None) -> CameraFrame | None:
        """The newest image received after `after` (server time, epoch seconds), or None."""
        ...


class VideoFrames(Protocol):
    def get_frame(self, stream_arn: str, frame_time: float) -> bytes:
        """The JPEG closest to `frame_time` (epoch seconds, producer time); MediaNotAvailable if none."""
        ...


class StreamProcessor(Protocol):
    def start(self) -> ProcessorOutcome: ...

    def stop(self) -> ProcessorOutcome: ...


class RecordWriter(Protocol):
    def write(self, records: Sequence[OutgoingRecord]) -> list[str]:
        """Write every record; their sequence numbers in order. Raises RecordsNotWritten/TransientError."""
        ...


# ---------------------------------------------------------------------------- photos and snapshots


class PhotoLinks(Protocol):
    """Short-lived links to photos in the deployment's photos bucket (S3PhotoStore)."""

    @property
    def bucket(self) -> str: ...

    def presigned_get_url(self, key: str, expires_in: int) -> str: ...


class PhotoStore(Protocol):
    @property
    def bucket(self) -> str: ...

    def put_jpeg(self, key: str, data: bytes) -> None: ...

    def read(self, key: str, bucket: str | None = None) -> bytes: ...

    def presigned_get_url(self, key: str, expires_in: int) -> str: ...

    def delete_visit_photos(self, visit_id: str) -> list[str]: ...


class SnapshotForms(Protocol):
    def upload_form(self, key: str, expires_in: int = ...) -> dict[str, Any]: ...


class SnapshotObjects(Protocol):
    def inspect(self, bucket: str, key: str, max_bytes: int) -> UploadedObject | None:
        """Size and first bytes of the object (None: it does not exist). Reads nothing past the head."""
        ...


class SnapshotLog(Protocol):
    def claim(self, key: str, now: float) -> bool:
        """Take the object for processing; False if it was processed (or is being processed)."""
        ...

    def release(self, key: str) -> None: ...

    def finish(self, outcome: SnapshotOutcome, now: float) -> None: ...


# ---------------------------------------------------------------------------- doorbell sessions


class SessionStore(Protocol):
    def load(self, door_id: str) -> StoredSession | None: ...

    def save(self, session: Session, expected_version: int | None) -> int:
        """Write if the stored version is still `expected_version` (None: no item). Raises VersionConflict."""
        ...


class FrameBudget(Protocol):
    def reserve(self, day: str, cap: int) -> bool:
        """Count one frame against the day; False (and nothing counted) if the day's cap is reached."""
        ...

    def claim_cap_alert(self, day: str) -> bool:
        """True exactly once per day: the caller sends the cap email."""
        ...

    def release_cap_alert(self, day: str) -> None:
        """The email could not be sent: let the next refusal try again."""
        ...


# ---------------------------------------------------------------------------- visits


class VisitReader(Protocol):
    def load(self, door_id: str) -> Any:
        """The door's stored visit (`.state` is a VisitState), or None."""
        ...


class VisitStore(Protocol):
    def load(self, door_id: str) -> StoredVisit | None: ...

    def save(self, state: VisitState, expected_version: int | None) -> int:
        """Write the door's visit if its stored version is still `expected_version` (None: no item).

        Returns the new version; raises VersionConflict otherwise.
        """
        ...

    def claim(self, visit_id: str, key: str, token: str) -> ClaimOutcome: ...

    def mark_emitted(self, visit_id: str, key: str, token: str, event_id: str) -> bool:
        """Record that the claimed event went out; False if the claim is no longer ours."""
        ...

    def release(self, visit_id: str, key: str, token: str) -> None:
        """Give a claim back (publish failed) so a retry can claim and publish again."""
        ...

    def known_visitor_handled(self, visit_id: str, visitor_id: str) -> bool:
        """True if this person was already decided in this visit (known-visitor claim taken)."""
        ...

    def approved_visitor(self, visit_id: str) -> ApprovedStranger | None:
        """The visitor the owner approved (and who is saved) for this visit's stranger, if any."""
        ...

    def carry_decided(self, visit_id: str, door_id: str, visitor_ids: list[str]) -> None:
        """Take the known-visitor claim of each person in `visit_id` (one already held stays)."""
        ...


# ---------------------------------------------------------------------------- visitors


class NamedVisitor(Protocol):
    @property
    def name(self) -> str: ...


class VisitorNames(Protocol):
    def get(self, visitor_id: str) -> NamedVisitor | None: ...


class VisitorPhone(Protocol):
    @property
    def phone(self) -> str: ...


class VisitorLookup(Protocol):
    def get(self, visitor_id: str) -> VisitorPhone | None: ...


class VisitorWriter(Protocol):
    """The Visitors table (smartdoor.adapters.visitor_store.DynamoVisitorStore)."""

    def get(self, visitor_id: str) -> Visitor | None: ...

    def put(self, visitor: Visitor) -> None: ...


class VisitorRepository(VisitorWriter, Protocol):
    def delete(self, visitor_id: str) -> bool: ...


# ---------------------------------------------------------------------------- approvals


class ApprovalRepository(Protocol):
    """Storage of approvals. Every transition is one conditional write; on failure it raises
    ConditionNotMet carrying the record as it was, so the domain can say why."""

    def add(self, approval: Approval) -> None: ...

    def get(self, approval_ref: str) -> Approval | None: ...

    def attach_task_token(
        self, approval_ref: str, task_token: str, execution_name: str, now: datetime
    ) -> Approval:
        """PENDING and unexpired at `now` → store the token; returns the updated record."""
        ...

    def mark_notified(self, approval_ref: str, channel: Channel, at: datetime) -> None:
        """Record that the owner was told on `channel` (keeps the first time)."""
        ...

    def record_decision(
        self,
        approval_ref: str,
        status: ApprovalStatus,
        visitor_name: str | None,
        visitor_phone: str | None,
        now: datetime,
    ) -> Approval:
        """PENDING, unexpired at `now` and holding a task token → `status`; returns the updated record."""
        ...

    def expire(
        self,
        approval_ref: str,
        now: datetime,
        from_status: ApprovalStatus = ...,
        decided_at: datetime | None = None,
    ) -> Approval:
        """`from_status` (PENDING by default; and `decided_at`, when given) → EXPIRED, forgetting
        any visitor contact."""
        ...

    def reopen(self, approval_ref: str, from_status: ApprovalStatus, decided_at: datetime) -> Approval:
        """Undo a decision the workflow never received: `from_status` at `decided_at` → PENDING."""
        ...


# ---------------------------------------------------------------------------- passcodes and texts


class PasscodeStore(Protocol):
    def current_code_hash(self, door_id: str, visitor_id: str) -> str | None:
        """Hash of the visitor's most recently issued code at the door, if any (may be used or expired)."""
        ...

    def replace_code(self, code: StoredCode, previous_hash: str | None) -> None:
        """Atomically store `code`, point the visitor at it and delete the code `previous_hash`.

        Raises CodeCollision if a code with the same hash exists at the door, ConcurrentIssue if the
        visitor's pointer no longer holds `previous_hash`. Never deletes another visitor's code.
        """
        ...

    def peek_code(self, door_id: str, code_hash: str) -> StoredCode | None:
        """What is stored for the code (used or not), without changing it."""
        ...

    def take_code(self, door_id: str, code_hash: str, now: float) -> StoredCode | None:
        """Atomically mark the code used at `now` and return what was stored before, or None if
        there is no such code. A code already used is returned as it is (`used_at` set), unmarked
        again: of concurrent calls for one code, exactly one sees `used_at` None. Expired codes
        are returned too (TTL is lazy): judging expiry is the caller's job.
        """
        ...

    def release_code(self, door_id: str, code_hash: str) -> None:
        """Make a used code usable again (the door was never told to open)."""
        ...

    def load_failures(self, door_id: str) -> FailureRecord: ...

    def save_failures(self, door_id: str, record: FailureRecord, expected_version: int, ttl: int) -> bool:
        """Write `record` if the stored version is still `expected_version`; False if it changed."""
        ...


class PasscodeVerifier(Protocol):
    policy: OtpPolicy

    def verify(
        self, door_id: str, otp: str, *, client: str | None = None, link_key: str | None = None
    ) -> VerifyOutcome: ...

    def release(self, door_id: str, otp: str) -> None: ...


class SmsAllowance(Protocol):
    def take(self, scopes: Sequence[SmsScope], window: SmsWindow) -> SmsScope | None:
        """Count one text against every scope in `window`, all or none: None if counted, else
        (counting nothing) a scope whose budget is spent."""
        ...
