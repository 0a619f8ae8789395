"""POST /doors/{doorId}/unlock (the keypad), /ring and /snapshots (door devices, docs/doorbell.md)."""

from __future__ import annotations

from http import HTTPStatus

from aws_lambda_powertools.metrics import MetricUnit

from api.adapters import Adapters
from api.contract import LockAnswer, Rang, SnapshotUploadForm, Unlocked, UnlockRefused, UnlockRequest, answer
from api.router import Answer, Call, Doc, Route, json_answer
from api.settings import ApiSettings
from smartdoor.adapters.lock_store import DynamoLockStates
from smartdoor.adapters.snapshot_store import S3SnapshotUploads
from smartdoor.observability import metrics
from smartdoor.services.door_devices import ring_door, snapshot_upload
from smartdoor.services.lock_state import command_state
from smartdoor.services.unlock import LockCommand, iso_utc, unlock_door

DOOR_ID = {"doorId": "the door's id, e.g. front-door"}

_UNKNOWN_DOOR = answer("not a door this deployment serves; counts nothing")
# On AWS, API Gateway checks the devices' key (deviceAuth=apiKey) before the function runs.
DEVICE_SECURITY: list[dict[str, list[str]]] = [{"deviceApiKey": []}]
_NO_KEY = answer("API Gateway (not the local stack): no or a wrong x-api-key / SigV4 signature")


def routes(settings: ApiSettings) -> list[Route]:
    served = {settings.door_id}

    def lock_command(adapters: Adapters) -> LockCommand:
        if settings.lock == "none" or settings.lock_states_table is None:
            return LockCommand(seconds=settings.lock_command_seconds)
        states = adapters.lock_states or DynamoLockStates(settings.lock_states_table)
        return LockCommand(seconds=settings.lock_command_seconds, states=states, via=settings.lock)

    def unlock(call: Call) -> Answer:
        body: UnlockRequest = call.body
        adapters = call.adapters
        opened = unlock_door(
            call.params["doorId"],
            body.otp,
            served_doors=served,
            passcodes=adapters.passcodes,
            visitors=adapters.visitors,
            bus=adapters.bus,
            owner=adapters.owner,
            now=adapters.now,
            client=call.client,
            link_key=body.key,
            lock=lock_command(adapters),
        )
        metrics.add_metric(name="DoorUnlocked", unit=MetricUnit.Count, value=1)
        return json_answer(
            HTTPStatus.OK,
            {
                "granted": True,
                "visitor": opened.visitor_name,
                "commandId": opened.command_id,
                # With a lock, the page asks GET .../lock/{commandId} until it answers.
                "lock": "none" if settings.lock == "none" else "pending",
                "expiresAt": iso_utc(opened.expires_at),
            },
        )

    def lock(call: Call) -> Answer:
        adapters = call.adapters
        states = None
        if settings.lock != "none" and settings.lock_states_table is not None:
            states = adapters.lock_states or DynamoLockStates(settings.lock_states_table)
        found = command_state(
            call.params["doorId"], call.params["commandId"], served_doors=served, states=states
        )
        return json_answer(HTTPStatus.OK, {"state": found.state, "updatedAt": found.updated_at})

    def ring(call: Call) -> Answer:
        adapters = call.adapters
        rang = ring_door(call.params["doorId"], served_doors=served, bus=adapters.bus, now=adapters.now)
        metrics.add_metric(name="DoorbellRings", unit=MetricUnit.Count, value=1)
        return json_answer(
            HTTPStatus.ACCEPTED, {"doorId": rang.door_id, "accepted": True, "ringAt": iso_utc(rang.rang_at)}
        )

    def snapshots(call: Call) -> Answer:
        adapters = call.adapters
        forms = adapters.snapshot_forms or S3SnapshotUploads(settings.photos_bucket)
        upload = snapshot_upload(call.params["doorId"], served_doors=served, forms=forms, now=adapters.now)
        metrics.add_metric(name="SnapshotUploadsIssued", unit=MetricUnit.Count, value=1)
        return json_answer(HTTPStatus.CREATED, upload.to_body())

    return [
        Route("POST", "/doors/{doorId}/unlock", unlock, UNLOCK, body=UnlockRequest),
        Route("GET", "/doors/{doorId}/lock/{commandId}", lock, LOCK_STATE),
        Route("POST", "/doors/{doorId}/ring", ring, RING),
        Route("POST", "/doors/{doorId}/snapshots", snapshots, SNAPSHOTS),
    ]


UNLOCK = Doc(
    summary="A visitor's passcode, typed on the door's keypad",
    tags=("door",),
    params=DOOR_ID,
    responses={
        200: answer("the door opens; DoorUnlocked is on the bus", Unlocked),
        400: answer("not exactly 6 ASCII digits (`field: otp`, counts no try) or not a JSON object"),
        403: answer("wrong, expired or already used code; counts a failed try", UnlockRefused),
        404: _UNKNOWN_DOOR,
        409: answer(
            "this code opened the door moments ago (a double tap, a retry); counts nothing", UnlockRefused
        ),
        413: answer("body over 4096 bytes"),
        415: answer("a body sent as another Content-Type than application/json"),
        429: answer(
            "too many wrong codes from this address or at this door: typed codes refused until "
            "retryAt (Retry-After); the SMS's link still opens",
            UnlockRefused,
        ),
        503: answer("AWS throttled or failed, or the lock could not be told (Retry-After)"),
    },
)
LOCK_STATE = Doc(
    summary="The door page: what the lock answered to the command of a right code",
    tags=("door",),
    params={**DOOR_ID, "commandId": "the unlock answer's commandId (uuid4)"},
    responses={
        200: answer(
            "pending (not answered yet), unlocked / locked (the lock opened for this command), "
            "or no-answer (it did not; the owner has been emailed)",
            LockAnswer,
        ),
        404: answer("not a door this deployment serves, no lock, or no command of this door with this id"),
        503: answer("AWS throttled or failed (Retry-After)"),
    },
)
RING = Doc(
    summary="A door device: start (or extend) the doorbell session",
    tags=("devices",),
    params=DOOR_ID,
    security=DEVICE_SECURITY,
    responses={
        202: answer("DoorbellPressed is on the bus", Rang),
        403: _NO_KEY,
        404: _UNKNOWN_DOOR,
        503: answer("EventBridge refused the event: nothing started, ring again (Retry-After)"),
    },
)
SNAPSHOTS = Doc(
    summary="A door device: a presigned S3 POST for one JPEG",
    tags=("devices",),
    params=DOOR_ID,
    security=DEVICE_SECURITY,
    responses={
        201: answer("a form for one new key, valid 60 s", SnapshotUploadForm),
        403: _NO_KEY,
        404: _UNKNOWN_DOOR,
    },
)
