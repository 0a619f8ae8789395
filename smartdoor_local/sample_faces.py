"""Real face photos available offline: scikit-image's bundled sample data (nothing is downloaded).

- `astronaut()`: NASA's portrait of astronaut Eileen Collins (`skimage.data.astronaut()`,
  public domain): the story's visitor. `astronaut_again()` is "another photo" of her: mirrored,
  cropped closer and brighter.
- `camera_man()`: the man in `skimage.data.camera()` (CC0, Lav Varshney), his face cut out and
  enlarged (in the whole picture his half-profile face is too small for dlib's frontal detector).
- `lfw_faces()`: the 100 faces of `skimage.data.lfw_subset()` (people from the Labeled Faces in
  the Wild data set, 25x25 pixels each), enlarged to 200x200: different people.
- `no_face()`: `skimage.data.coffee()`, a cup of coffee.

All are returned as JPEG bytes, as a camera would send them. The repository commits no photos.
"""

from __future__ import annotations

import io
from functools import cache

import numpy as np
from PIL import Image, ImageEnhance

JPEG_QUALITY = 92
LFW_SIDE = 200


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def _image(pixels: np.ndarray) -> Image.Image:
    if pixels.dtype != np.uint8:
        pixels = (np.clip(pixels, 0.0, 1.0) * 255).round().astype(np.uint8)
    return Image.fromarray(pixels).convert("RGB")


@cache
def _astronaut_image() -> Image.Image:
    from skimage import data

    return _image(data.astronaut())


def astronaut() -> bytes:
    return _jpeg(_astronaut_image())


def astronaut_again() -> bytes:
    """Another photo of the same person: mirrored, cropped to head and shoulders, brighter."""
    image = _astronaut_image().transpose(Image.Transpose.FLIP_LEFT_RIGHT).crop((120, 20, 420, 320))
    return _jpeg(ImageEnhance.Brightness(image).enhance(1.2))


def camera_man() -> bytes:
    from skimage import data

    face = _image(data.camera()).crop((150, 60, 330, 240))
    return _jpeg(face.resize((face.width * 3, face.height * 3), Image.Resampling.LANCZOS))


def lfw_faces() -> list[bytes]:
    from skimage import data

    faces = data.lfw_subset()[:100]  # the first 100 are faces, the rest are not
    return [_jpeg(_image(face).resize((LFW_SIDE, LFW_SIDE), Image.Resampling.BICUBIC)) for face in faces]


def no_face() -> bytes:
    from skimage import data

    return _jpeg(_image(data.coffee()))
