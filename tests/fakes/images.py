"""Small real JPEGs made on the fly (Pillow), with an optional coloured "face" block to crop;
and pictures past Pillow's decompression-bomb limits, made without holding their pixels."""

from __future__ import annotations

import io
import struct
import zlib

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


def huge_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A real 1-bit black PNG of `width` x `height`: a few hundred kB, written row by row (Pillow
    would hold every pixel, a byte each, to write it)."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter type 0, then the row's bits
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def huge_jpeg(width: int = 15_000, height: int = 15_000) -> bytes:
    """A real JPEG whose frame header declares `width` x `height` (a small one's, rewritten): the
    header is all a size check reads, and all Pillow reads before its decompression-bomb check."""
    data = bytearray(make_jpeg(64, 64, face=None))
    frame = data.index(b"\xff\xc0")  # Pillow writes baseline JPEGs: SOF0
    data[frame + 5 : frame + 9] = struct.pack(">HH", height, width)
    return bytes(data)
