"""POST /doors/{doorId}/ring and POST /doors/{doorId}/snapshots: the real API handler on moto."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from smartdoor.adapters.event_bus import RecordingEventBus
from smartdoor.domain.snapshots import MAX_SNAPSHOT_BYTES, parse_snapshot_key
from tests.e2e.api_world import DOOR_ID, PHOTOS_BUCKET, ApiWorld

NOW = datetime(2026, 11, 21, 20, 0, 0, tzinfo=UTC)


def test_a_ring_is_accepted_and_announced_on_the_bus(world: ApiWorld) -> None:
    answer = world.call("POST", f"/doors/{DOOR_ID}/ring", now=NOW)

    assert answer.status == 202
    assert answer.body == {"doorId": DOOR_ID, "accepted": True, "ringAt": "2026-11-21T20:00:00Z"}
    assert answer.header("Cache-Control") == "no-store"
    (event,) = world.bus_events()
    assert (event["source"], event["detail-type"]) == ("smartdoor", "DoorbellPressed")
    assert event["detail"] == {
        "version": "1",
        "doorId": DOOR_ID,
        "occurredAt": "2026-11-21T20:00:00Z",
        "reportedBy": "api",
    }


def test_ringing_twice_is_two_announcements_the_session_turns_into_one(world: ApiWorld) -> None:
    assert world.call("POST", f"/doors/{DOOR_ID}/ring", {}).status == 202
    assert world.call("POST", f"/doors/{DOOR_ID}/ring", {}).status == 202

    assert [e["detail-type"] for e in world.bus_events()] == ["DoorbellPressed", "DoorbellPressed"]


def test_ringing_a_door_this_deployment_does_not_serve_is_404_and_announces_nothing(world: ApiWorld) -> None:
    answer = world.call("POST", "/doors/garage/ring")

    assert answer.status == 404
    assert world.bus_events() == []


def test_a_ring_eventbridge_refuses_is_503_so_the_device_rings_again(world: ApiWorld) -> None:
    bus = RecordingEventBus()
    bus.reject_next(10)

    answer = world.call("POST", f"/doors/{DOOR_ID}/ring", bus=bus)

    assert answer.status == 503 and answer.header("Retry-After")
    assert bus.published == []


def test_a_snapshot_request_gets_a_presigned_post_for_one_new_jpeg_key(world: ApiWorld) -> None:
    answer = world.call("POST", f"/doors/{DOOR_ID}/snapshots", now=NOW)

    assert answer.status == 201
    body = answer.body
    parsed = parse_snapshot_key(body["key"])
    assert parsed is not None and parsed.door_id == DOOR_ID
    assert parsed.taken_at == NOW.timestamp()
    assert body["contentType"] == "image/jpeg" and body["maxBytes"] == MAX_SNAPSHOT_BYTES
    assert body["expiresAt"] == "2026-11-21T20:01:00Z"
    upload = body["upload"]
    assert upload["method"] == "POST" and upload["fileField"] == "file"
    assert PHOTOS_BUCKET in upload["url"]
    fields = upload["fields"]
    assert fields["key"] == body["key"] and fields["Content-Type"] == "image/jpeg"
    conditions = json.loads(base64.b64decode(fields["policy"]))["conditions"]
    assert ["content-length-range", 1, MAX_SNAPSHOT_BYTES] in conditions


def test_every_snapshot_request_gets_its_own_key(world: ApiWorld) -> None:
    keys = {world.call("POST", f"/doors/{DOOR_ID}/snapshots", now=NOW).body["key"] for _ in range(3)}

    assert len(keys) == 3


def test_a_snapshot_for_a_door_this_deployment_does_not_serve_is_404(world: ApiWorld) -> None:
    answer = world.call("POST", "/doors/garage/snapshots")

    assert answer.status == 404
    assert "upload" not in answer.body
