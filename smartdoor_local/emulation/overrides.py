"""What differs locally from the template, each named once with why: the only hand-written part
of the local deployment (smartdoor_local.emulation reads everything else from the template).

- `ENVIRONMENT_OVERRIDES`: variables whose local value differs (the local server's URL, the
  visit gap, replay's match rules); `local_overrides` and `site_overrides` give them values;
- `ADAPTER_OVERRIDES`: adapters the handlers get instead of the ones they would build, because
  moto cannot emulate them (KVS, Rekognition, presigned photo links, upload forms);
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
