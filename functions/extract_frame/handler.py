"""extract_frame: fetch the frame of a face event (KVS GetImages or an uploaded snapshot) and
store it and the face crop under `visits/<visitId>/` in the photos bucket.

Input `{visitId, doorId, frame, boundingBox}` -> `{bucket, frameKey, faceKey}`.
Raises MediaNotAvailable while KVS has no image yet (the workflow retries it).
Needs Pillow: deployed with the Pillow layer (scripts/build_pillow_layer.sh).
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from smartdoor.adapters.photo_store import PhotoStore, S3PhotoStore
from smartdoor.adapters.video_frames import KvsVideoFrames, VideoFrames
from smartdoor.domain.visit_photos import extract_visit_photos
from smartdoor.models import BoundingBox, FrameLocation, WireModel
from smartdoor.observability import log_counts, logger
from smartdoor.process_cache import process_cache
from smartdoor.schema import Meta, field
from smartdoor.settings import FunctionSettings, load_settings


class Settings(FunctionSettings):
    photos_bucket: Annotated[str, Meta(min_length=3)] = field(name="PHOTOS_BUCKET")
    video_stream_arn: str | None = field(default=None, name="VIDEO_STREAM_ARN")


class ExtractFrameInput(WireModel):
    visit_id: Annotated[str, Meta(min_length=1)]
    door_id: Annotated[str, Meta(min_length=1)]
    frame: FrameLocation
    bounding_box: BoundingBox


@process_cache
def _kvs_frames() -> VideoFrames:
    # One per process: it remembers the stream's GetImages endpoint across invocations.
    return KvsVideoFrames()


@logger.inject_lambda_context(clear_state=True)
def handler(
    event: dict[str, Any],
    context: LambdaContext,
    frames: VideoFrames | None = None,
    photos: PhotoStore | None = None,
) -> dict[str, Any]:
    settings = load_settings(Settings)
    request = ExtractFrameInput.parse(event)
    logger.append_keys(visit_id=request.visit_id, door_id=request.door_id)
    photo = extract_visit_photos(
        request.visit_id,
        request.frame,
        request.bounding_box,
        frames=frames or _kvs_frames(),
        photos=photos or S3PhotoStore(settings.photos_bucket),
        default_stream_arn=settings.video_stream_arn,
    )
    log_counts(
        "Visit photos stored",
        {"VisitPhotosStored": 1},
        source=request.frame.source,
        frame_key=photo.frame_key,
    )
    return photo.to_wire()
