"""What differs locally from the template, each named once with why: the only hand-written part
of the local deployment (smartdoor_local.emulation reads everything else from the template).

- `ENVIRONMENT_OVERRIDES`: variables whose local value differs (the local server's URL, the
  visit gap, replay's match rules); `local_overrides` and `site_overrides` give them values;
- `ADAPTER_OVERRIDES`: adapters the handlers get instead of the ones they would build, because
  moto cannot emulate them (KVS, Rekognition, presigned photo links, upload forms);
- `SERVICE_OVERRIDES`: AWS behaviour moto lacks, emulated by a patch at one point each
  (the MQTT broker behind IoT Core, the topic rules, Step Functions' HTTP Task);
- `LOCK_CONTEXT` / `lock_context`: the CDK context for `smartdoor local --lock iot|webhook|none`,
  with the webhook's local stand-ins (`LOCAL_WEBHOOK_URL`, `LOCAL_WEBHOOK_SECRET`);
- `TEST_WORLD_OVERRIDES`: the workflow test worlds' one variable (sampling without a pause);
- `LOCAL_FACES`: the one table that is not in the template (the local face engine's collection).
"""

from __future__ import annotations

from collections.abc import Mapping

from smartdoor_local.emulation.model import Table

MATCH_RULE_VARIABLES = (
    "FACE_MATCH_THRESHOLD",
    "MIN_FRAMES_FOR_DECISION",
    "MIN_FACE_CONFIDENCE",
    "MIN_FACE_SIZE_RATIO",
    "MIN_FACE_SHARPNESS",
    "MIN_FACE_BRIGHTNESS",
)
# Environment variables whose local value differs from the template's, and why (`_environment_overrides`).
ENVIRONMENT_OVERRIDES = {
    "SITE_URL": "the local server's URL, not the CloudFront distribution's",
    "SITE_ORIGIN": "the local server's origin, not the CloudFront distribution's",
    "VISIT_GAP_SECONDS": "seconds, so walking away and back takes seconds (CDK's floor: 5 whole seconds)",
    **{
        variable: "replay only: the rules to try, before any deployment has them (any value, like the gap)"
        for variable in MATCH_RULE_VARIABLES
    },
}
# Adapters the handlers get instead of the ones they would build (`_adapter_overrides`): what moto
# cannot emulate. By function folder.
ADAPTER_OVERRIDES = {
    "extract_frame": "frames: no KVS; the camera page's frames (LocalCameraFeed)",
    "sample_door": "camera and engine: no KVS, no Rekognition; camera frames and the dlib engine",
    "check_collection": "engine: no Rekognition collections in moto; the dlib engine",
    "enrol_face": "engine: as check_collection",
    "process_snapshot": "engine: as check_collection",
    "ask_owner": (
        "photo_links: links the local server serves, not S3 presigned URLs; push_http_hosts: the "
        "local push service is plain http on 127.0.0.1"
    ),
    "api": (
        "photo_links and push_http_hosts as ask_owner; snapshot_forms: upload forms that point at "
        "the local moto server"
    ),
}

# AWS behaviour moto does not have, emulated where the stack runs (each a patch at one point,
# whose moto shape tests/integration/test_moto_internals.py checks).
SERVICE_OVERRIDES = {
    "IoT Core broker": "smartdoor_local.mqtt_broker: amqtt on 127.0.0.1, anonymous (no certificates)",
    "iot-data Publish": "smartdoor_local.iot.MqttPublish: moto's publish, then the broker at QoS 1",
    "IoT topic rules": "smartdoor_local.iot.TopicRuleBridge: SELECT * FROM '<topic>' -> Lambda actions",
    "Step Functions http:invoke": "smartdoor_local.http_tasks.HttpInvoke: moto's task factory, real HTTP",
}

# The lock's local stand-ins. The template's webhook URL must be https (cdk_app/config.py): the
# local stack synthesizes with this one and HttpInvoke sends its requests to the local receiver
# (`/local/lock-webhook`) instead; the secret is the one the owner creates on AWS, made locally
# with a random value (the receiver checks the header against it).
LOCAL_WEBHOOK_URL = "https://lock.smartdoor.invalid/webhook"
LOCAL_WEBHOOK_SECRET = "smartdoor-local-lock-webhook"  # noqa: S105 - its name, not its value
LOCAL_WEBHOOK_PATH = "/local/lock-webhook"
LOCKS = ("iot", "webhook", "none")
LOCK_CONTEXT: Mapping[str, Mapping[str, object]] = {
    "iot": {"lockIot": True},
    "webhook": {"lockWebhookUrl": LOCAL_WEBHOOK_URL, "lockWebhookSecretName": LOCAL_WEBHOOK_SECRET},
    "none": {},
}


def lock_context(lock: str) -> dict[str, object]:
    if lock not in LOCK_CONTEXT:
        raise ValueError(f"lock must be one of {', '.join(LOCKS)}, not {lock!r}")
    return dict(LOCK_CONTEXT[lock])


# The local face engine's collection (Rekognition's stand-in; smartdoor_local.face_engine).
LOCAL_FACES = Table(
    "LocalFaces",
    key_schema=[{"AttributeName": "faceId", "KeyType": "HASH"}],
    attribute_definitions=[{"AttributeName": "faceId", "AttributeType": "S"}],
    global_secondary_indexes=[],
    ttl_attribute=None,
)


def site_overrides(site_url: str) -> dict[str, str]:
    """The pages' URL and origin, where a function's template sets them (CloudFront's, on AWS):
    the local server's, for the local stack and the browser tests."""
    return {"SITE_URL": site_url, "SITE_ORIGIN": site_url.rstrip("/")}


def local_overrides(site_url: str, visit_gap_seconds: float) -> dict[str, str]:
    """ENVIRONMENT_OVERRIDES' values for the local stack (replay adds its match rules)."""
    return site_overrides(site_url) | {"VISIT_GAP_SECONDS": str(visit_gap_seconds)}


# The workflow test worlds' one environment override (tests/workflows): sample the camera without
# a pause (CDK's floor is 1 s), so a session's samples take milliseconds, not seconds.
TEST_WORLD_OVERRIDES: Mapping[str, str] = {"SAMPLING_INTERVAL_SECONDS": "0"}
