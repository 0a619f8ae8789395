"""Small real JPEGs made on the fly (Pillow), with an optional coloured "face" block to crop."""

from __future__ import annotations

import io

from PIL import Image

BACKGROUND = (30, 60, 90)
FACE_COLOUR = (240, 200, 160)


def make_jpeg(
    width: int = 640,
    height: int = 480,
    face: tuple[float, float, float, float] | None = (0.4, 0.3, 0.2, 0.3),
    *,
    fmt: str = "JPEG",
    exif: bytes | None = None,
) -> bytes:
    """An image of `width` x `height`; `face` = (left, top, width, height) ratios, filled with
    FACE_COLOUR on a BACKGROUND, like Rekognition's BoundingBox."""
    image = Image.new("RGB", (width, height), BACKGROUND)
    if face is not None:
        left, top, box_width, box_height = face
        block = Image.new("RGB", (round(box_width * width), round(box_height * height)), FACE_COLOUR)
        image.paste(block, (round(left * width), round(top * height)))
    buffer = io.BytesIO()
    if exif is not None:
        image.save(buffer, format=fmt, quality=95, exif=exif)
    else:
        image.save(buffer, format=fmt, quality=95)
    return buffer.getvalue()


def open_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
