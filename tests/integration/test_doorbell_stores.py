"""Doorbell storage on moto: session items, the daily budget under concurrency, the snapshot log,
and snapshot uploads in S3 (upload form, head-only inspection)."""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from smartdoor.adapters.session_store import DynamoFrameBudget, DynamoSessionStore
from smartdoor.adapters.snapshot_store import HEAD_BYTES, DynamoSnapshotLog, S3SnapshotUploads
from smartdoor.domain.doorbell import Session, SessionStatus
from smartdoor.domain.snapshots import (
    MAX_SNAPSHOT_BYTES,
    Rejection,
    SnapshotOutcome,
    SnapshotStatus,
    snapshot_key,
)
from smartdoor.errors import VersionConflict
from tests.fakes import make_jpeg
from tests.integration.test_stream_match_visit_store import TABLE, create_visits_table

BUCKET = "smartdoor-photos-test"
# The update of the session workflow's "Close the session after a failure" state.
CLOSE_AFTER_FAILURE = "SET #status = :ended, endedReason = :failed, endedAtIso = :at ADD #version :one"


@pytest.fixture
def table(aws: None) -> Any:
    return create_visits_table()


def session(**changes: Any) -> Session:
    base = Session(
        door_id="front-door",
        session_id="front-door-1763700000000-abcd1234",
        trigger="DoorbellPressed",
        started_at=1_763_700_000.0,
        ends_at=1_763_700_030.0,
        heartbeat_at=1_763_700_000.0,
    )
    return replace(base, **changes)


class TestSessions:
    def test_a_session_round_trips_with_its_version_and_expiry(self, table: Any) -> None:
        store = DynamoSessionStore(TABLE)
        written = session(first_frame_time=1_763_699_999.75, last_image_at=1_763_700_000.8, frames_sent=2)

        assert store.save(written, None) == 1
        stored = store.load("front-door")

        assert stored is not None and stored.version == 1
        assert stored.session == written
        item = table.get_item(Key={"pk": "DOOR#front-door", "sk": "SESSION"})["Item"]
        assert item["expiresAt"] == 1_763_700_030 + 24 * 3600
        assert item["endsAtIso"] == "2025-11-21T04:40:30.000Z"

    def test_a_write_on_a_stale_version_conflicts_and_changes_nothing(self, table: Any) -> None:
        store = DynamoSessionStore(TABLE)
        store.save(session(), None)
        store.save(session(rings=2), 1)

        with pytest.raises(VersionConflict):
            store.save(session(status=SessionStatus.ENDED), 1)
        with pytest.raises(VersionConflict):
            store.save(session(), None)
        stored = store.load("front-door")
        assert stored is not None and stored.version == 2 and stored.session.rings == 2

    def test_the_workflow_s_failure_close_keeps_versions_honest(self, table: Any) -> None:
        # GIVEN the ASL's "Close the session after a failure" update (ADD version 1) after a read
        store = DynamoSessionStore(TABLE)
        store.save(session(), None)
        read = store.load("front-door")
        table.update_item(
            Key={"pk": "DOOR#front-door", "sk": "SESSION"},
            UpdateExpression=CLOSE_AFTER_FAILURE,
            ConditionExpression="sessionId = :session AND #status = :active",
            ExpressionAttributeNames={"#status": "status", "#version": "version"},
            ExpressionAttributeValues={
                ":ended": "ENDED",
                ":active": "ACTIVE",
                ":failed": "failed",
                ":at": "2025-11-21T04:40:05Z",
                ":one": 1,
                ":session": session().session_id,
            },
        )

        # THEN a writer holding the old version conflicts, and the item reads as ENDED/failed
        assert read is not None
        with pytest.raises(VersionConflict):
            store.save(session(frames_sent=1), read.version)
        closed = store.load("front-door")
        assert closed is not None and closed.session.status is SessionStatus.ENDED
        assert closed.session.ended_reason == "failed"


class TestDailyBudget:
    DAY = "2025-11-21"

    @pytest.mark.usefixtures("atomic_items")
    def test_concurrent_senders_never_exceed_the_cap(self, table: Any) -> None:
        # GIVEN 6 senders (sessions, snapshots) reserving frames at once, each with its own client
        budget = DynamoFrameBudget(TABLE)
        granted: list[bool] = []
        lock = threading.Lock()
        barrier = threading.Barrier(6)

        def send() -> None:
            own = DynamoFrameBudget(TABLE, table=boto3.session.Session().resource("dynamodb").Table(TABLE))
            barrier.wait()
            for _ in range(10):
                ok = own.reserve(self.DAY, 25)
                with lock:
                    granted.append(ok)

        threads = [threading.Thread(target=send) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert granted.count(True) == 25 and granted.count(False) == 35
        assert budget.frames_sent(self.DAY) == 25
        item = table.get_item(Key={"pk": f"BUDGET#{self.DAY}", "sk": "FRAMES"})["Item"]
        assert item["expiresAt"] == 1_763_683_200 + 2 * 24 * 3600

    def test_the_cap_alert_is_claimed_once_and_can_be_given_back(self, table: Any) -> None:
        budget = DynamoFrameBudget(TABLE, clock=lambda: 1_763_700_000.0)

        assert budget.claim_cap_alert(self.DAY) is True
        assert budget.claim_cap_alert(self.DAY) is False
        budget.release_cap_alert(self.DAY)
        assert budget.claim_cap_alert(self.DAY) is True

    def test_days_are_counted_apart(self, table: Any) -> None:
        budget = DynamoFrameBudget(TABLE)
        assert budget.reserve(self.DAY, 1) and not budget.reserve(self.DAY, 1)
        assert budget.reserve("2025-11-22", 1)


class TestSnapshotLog:
    KEY = "snapshots/front-door/1763700000250-0123456789abcdef.jpg"

    def test_an_upload_is_claimed_once_then_finished(self, table: Any) -> None:
        log = DynamoSnapshotLog(TABLE)

        assert log.claim(self.KEY, 1_763_700_001.0)
        assert not log.claim(self.KEY, 1_763_700_002.0)
        log.finish(
            SnapshotOutcome(
                self.KEY, SnapshotStatus.REJECTED, door_id="front-door", reason=Rejection.NOT_JPEG, size=12
            ),
            1_763_700_003.0,
        )

        item = log.get(self.KEY)
        assert item is not None
        assert (item["status"], item["reason"], item["doorId"], item["size"]) == (
            "REJECTED",
            "not-jpeg",
            "front-door",
            12,
        )
        assert not log.claim(self.KEY, 1_763_700_004.0)

    def test_a_released_claim_or_an_expired_lease_can_be_taken_again(self, table: Any) -> None:
        log = DynamoSnapshotLog(TABLE)
        assert log.claim(self.KEY, 1_763_700_001.0)
        log.release(self.KEY)
        assert log.claim(self.KEY, 1_763_700_002.0)

        assert log.claim(self.KEY, 1_763_700_002.0 + 121)  # its holder died: the lease ran out

    def test_releasing_never_removes_a_finished_outcome(self, table: Any) -> None:
        log = DynamoSnapshotLog(TABLE)
        log.claim(self.KEY, 1.0)
        log.finish(SnapshotOutcome(self.KEY, SnapshotStatus.SEARCHED, door_id="front-door"), 2.0)

        log.release(self.KEY)

        item = log.get(self.KEY)
        assert item is not None and item["status"] == "SEARCHED"


class TestSnapshotUploads:
    @pytest.fixture
    def s3(self, aws: None) -> Any:
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        return client

    def test_the_upload_form_allows_one_jpeg_key_up_to_5_mb_for_60_seconds(self, s3: Any) -> None:
        key = snapshot_key("front-door", 1_763_700_000.25)

        before = datetime.now(UTC)
        form = S3SnapshotUploads(BUCKET).upload_form(key)

        assert BUCKET in form["url"]
        fields = form["fields"]
        assert fields["key"] == key and fields["Content-Type"] == "image/jpeg"
        policy = json.loads(base64.b64decode(fields["policy"]))
        conditions = policy["conditions"]
        assert {"key": key} in conditions
        assert {"Content-Type": "image/jpeg"} in conditions
        assert ["content-length-range", 1, MAX_SNAPSHOT_BYTES] in conditions
        assert {"bucket": BUCKET} in conditions
        assert "x-amz-signature" in fields and fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
        expires = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
        assert timedelta(seconds=59) <= expires - before <= timedelta(seconds=62)

    def test_inspection_reads_only_the_head_of_an_acceptable_object(self, s3: Any) -> None:
        jpeg = make_jpeg() + b"\0" * HEAD_BYTES  # longer than the head
        s3.put_object(Bucket=BUCKET, Key="snapshots/a.jpg", Body=jpeg)

        upload = S3SnapshotUploads(BUCKET, s3_client=s3).inspect(
            BUCKET, "snapshots/a.jpg", MAX_SNAPSHOT_BYTES
        )

        assert upload is not None
        assert upload.size == len(jpeg) and upload.head == jpeg[:HEAD_BYTES]

    def test_an_oversized_object_is_never_downloaded(self, s3: Any) -> None:
        s3.put_object(Bucket=BUCKET, Key="snapshots/big.jpg", Body=b"\xff\xd8\xff" + b"\0" * 100)

        class NoGets:
            def __getattr__(self, name: str) -> Any:
                if name == "get_object":
                    raise AssertionError("an oversized upload was downloaded")
                return getattr(s3, name)

        upload = S3SnapshotUploads(BUCKET, s3_client=NoGets()).inspect(BUCKET, "snapshots/big.jpg", 50)

        assert upload is not None and upload.size == 103 and upload.head == b""

    def test_a_missing_object_is_none(self, s3: Any) -> None:
        assert S3SnapshotUploads(BUCKET, s3_client=s3).inspect(BUCKET, "snapshots/gone.jpg", 10) is None
