"""Image handling for visit photos: decode, bound, re-encode, and crop a face by its bounding box.

Pillow is the one image library here. Lambda does not ship it, so the extract_frame function
gets it from a layer built from PyPI's manylinux wheel (scripts/build_pillow_layer.sh).

Bounding boxes are Rekognition's: ratios of the frame's width and height, where Left/Top may
fall slightly outside 0-1 for a face at the edge of the picture.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from smartdoor.domain.picture_size import check_pixels, declared_size
from smartdoor.errors import InvalidImage, TooManyPixels
from smartdoor.models import BoundingBox

# Widest frame we keep: KVS GetImages is asked for this width too, and Rekognition needs no more.
MAX_FRAME_WIDTH = 1280
JPEG_QUALITY = 90
# A snapshot larger than this is not a doorbell picture; refuse before decoding it.
MAX_INPUT_BYTES = 15 * 1024 * 1024
# Context kept around the face on each side, as a fraction of the face's width/height.
# Rekognition finds faces more reliably in a crop that shows some hair, chin and background.
FACE_MARGIN = 0.4
_ACCEPTED_FORMATS = ("JPEG", "PNG")


@dataclass(frozen=True)
class PixelBox:
    """A crop rectangle in pixels: left/top inclusive, right/bottom exclusive (Pillow's convention)."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top


def face_crop_box(width: int, height: int, box: BoundingBox, margin: float = FACE_MARGIN) -> PixelBox:
    """The pixel rectangle of a face plus `margin` on each side, clipped to the frame.

    Raises InvalidImage when nothing of the face lies inside the frame.
    """
    if width <= 0 or height <= 0:
        raise InvalidImage(f"frame has no pixels ({width}x{height})")
    if margin < 0:
        raise ValueError("margin must not be negative")
    left = (box.Left - box.Width * margin) * width
    top = (box.Top - box.Height * margin) * height
    right = (box.Left + box.Width * (1 + margin)) * width
    bottom = (box.Top + box.Height * (1 + margin)) * height
    crop = PixelBox(
        left=max(0, round(left)),
        top=max(0, round(top)),
        right=min(width, round(right)),
        bottom=min(height, round(bottom)),
    )
    if crop.width < 1 or crop.height < 1:
        raise InvalidImage(f"face box {box.to_dict()} lies outside the {width}x{height} frame")
    return crop


def open_picture(data: bytes) -> Image.Image:
    """The picture, decoded; InvalidImage (TooManyPixels for too large a one) when it cannot be used.

    Measured from its header first (smartdoor.domain.picture_size), so Pillow never meets a
    picture past its decompression-bomb limits.
    """
    if not data:
        raise InvalidImage("image is empty")
    if len(data) > MAX_INPUT_BYTES:
        raise InvalidImage(f"image is {len(data)} bytes; the limit is {MAX_INPUT_BYTES}")
    declared = declared_size(data)
    if declared is None:
        raise InvalidImage("image is not a JPEG or PNG picture")
    check_pixels(*declared)
    try:
        image = Image.open(io.BytesIO(data), formats=_ACCEPTED_FORMATS)
    except Image.DecompressionBombError as error:
        raise TooManyPixels("image has more pixels than its header declares") from error
    except (UnidentifiedImageError, OSError) as error:
        raise InvalidImage("image is not a JPEG or PNG picture") from error
    check_pixels(image.width, image.height)
    try:
        image.load()
    except (OSError, Image.DecompressionBombError) as error:
        raise InvalidImage("image data is truncated or corrupt") from error
    return image


def _encode_jpeg(image: Image.Image, quality: int = JPEG_QUALITY) -> bytes:
    buffer = io.BytesIO()
    # No exif/icc arguments: the stored copy carries no camera metadata (GPS, device serials).
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) of an encoded image."""
    image = open_picture(data)
    return image.width, image.height


def normalise_frame(data: bytes, max_width: int = MAX_FRAME_WIDTH) -> bytes:
    """Re-encode an uploaded picture as a JPEG at most `max_width` wide, without metadata.

    Proves the upload is a real picture, bounds what we store and send to Rekognition, and
    drops EXIF (location, device) that the owner never asked us to keep. Ratios, and so
    bounding boxes, are unchanged by the proportional resize.
    """
    image = open_picture(data)
    if image.width > max_width:
        new_height = max(1, round(image.height * max_width / image.width))
        image = image.convert("RGB").resize((max_width, new_height), Image.Resampling.LANCZOS)
    return _encode_jpeg(image)


def crop_face(data: bytes, box: BoundingBox, margin: float = FACE_MARGIN) -> bytes:
    """The face in `box` (plus margin) cut out of the frame, as a JPEG."""
    image = open_picture(data)
    crop = face_crop_box(image.width, image.height, box, margin)
    return _encode_jpeg(image.crop((crop.left, crop.top, crop.right, crop.bottom)))
