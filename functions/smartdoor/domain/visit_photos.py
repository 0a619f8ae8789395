"""A visit's photos: fetch the frame of the face event, store it and the face crop.

The extract_frame task is a thin wrapper around `extract_visit_photos`. Adapters come in as
arguments; nothing here talks to AWS directly. This module needs Pillow (through imaging);
face search and enrolment live in face_matching, which does not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smartdoor.domain.imaging import crop_face, normalise_frame
from smartdoor.models import BoundingBox, FrameLocation, VisitPhoto

if TYPE_CHECKING:
    from smartdoor.adapters.photo_store import PhotoStore
    from smartdoor.adapters.video_frames import VideoFrames


def extract_visit_photos(
    visit_id: str,
    frame: FrameLocation,
    box: BoundingBox,
    *,
    frames: VideoFrames,
    photos: PhotoStore,
    default_stream_arn: str | None = None,
) -> VisitPhoto:
    """Fetch the visit's frame (KVS or an uploaded snapshot), store it and the face crop.

    Writing is idempotent: a retried task overwrites the same two keys.
    """
    photo = VisitPhoto.for_visit(photos.bucket, visit_id)
    if frame.source == "kvs":
        stream_arn = frame.stream_arn or default_stream_arn
        if not stream_arn:
            raise ValueError("a KVS frame needs frame.streamArn (or VIDEO_STREAM_ARN)")
        # GetImages already returns a bounded, metadata-free JPEG; re-encoding would only lose quality.
        picture = frames.get_frame(stream_arn, frame.frame_time)
    else:
        if not frame.s3_key:
            raise ValueError("a snapshot frame needs frame.s3Key")
        picture = normalise_frame(photos.read(frame.s3_key, bucket=frame.s3_bucket))
    face = crop_face(picture, box)
    photos.put_jpeg(photo.frame_key, picture)
    photos.put_jpeg(photo.face_key, face)
    return photo
