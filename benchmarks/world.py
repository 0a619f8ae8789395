"""The local stack as the benchmarks use it: only Rekognition and KVS are stood in for, instantly.

`smartdoor_local.LocalStack` runs the real handlers on moto. Its face engine is dlib and it has
no KVS, which would measure dlib and a 31 s MediaNotAvailable retry rather than Smart Door's own
code. The benchmarks swap exactly those adapters (through the runtime's public `register`,
which replaces a function's overrides) for the in-memory doubles the workflow tests use:

- extract_frame: `FakeVideoFrames` (a JPEG for any KVS frame, at once);
- check_collection, enrol_face: `FakeFaceEngine` (searches match nobody, IndexFaces enrols one
  face), i.e. a Rekognition that answers in no time.

Everything else (DynamoDB, S3, SNS, EventBridge rules, Step Functions, Secrets Manager, the
Kinesis mapping) is moto, and every handler is the real one.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from smartdoor_local.stack import LocalConfig, LocalStack, cdk_defaults

OWNER_PHONE = "+15550100000"
VISITOR_PHONE_PREFIX = "+1555020"


def swap_overrides(stack: LocalStack, engine: Any, frames: Any) -> None:
    """Replace the dlib engine and the missing KVS by instant doubles (see the module docstring)."""
    swaps = {
        "extract_frame": {"frames": frames},
        "check_collection": {"engine": engine},
        "enrol_face": {"engine": engine},
    }
    for name, overrides in swaps.items():
        function = stack.runtime.function(name)
        stack.runtime.register(dataclasses.replace(function, overrides={**function.overrides, **overrides}))


def seed_visitors(stack: LocalStack, visitor_ids: list[str]) -> dict[str, str]:
    """Known visitors in the Visitors table (as an approval would have saved them); id -> phone."""
    from smartdoor.adapters.visitor_store import DynamoVisitorStore
    from smartdoor.domain.visitors import Visitor

    store = DynamoVisitorStore(stack.names["visitors"])
    phones = {}
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    for number, visitor_id in enumerate(visitor_ids, start=1):
        phone = f"{VISITOR_PHONE_PREFIX}{number:03d}"
        store.put(
            Visitor(
                visitor_id=visitor_id,
                name=f"Visitor {number}",
                phone=phone,
                face_ids=(f"face-{visitor_id}",),
                created_at=now,
                door_id=stack.config.door_id,
            )
        )
        phones[visitor_id] = phone
    return phones


SMS_PER_DOOR_CEILING = 1000  # cdk_app/config.py's bound for smsPerDoorPerHour


def bench_config(**changes: Any) -> LocalConfig:
    """The deployed defaults (cdk_app/config.py), not the local stack's short visit gap."""
    deployed_gap = float(cdk_defaults()["visit_gap_seconds"])
    # A benchmark sends a day's (or 20 runs') texts in minutes: CDK's cap of 20 an hour per door
    # would refuse most of them, so it is lifted to its ceiling; the per-visitor cap stays.
    base = LocalConfig(
        owner_phone=OWNER_PHONE, visit_gap_seconds=deployed_gap, sms_per_door_per_hour=SMS_PER_DOOR_CEILING
    )
    return dataclasses.replace(base, **changes)
