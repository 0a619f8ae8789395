"""A picture's width and height as its header declares them, read without decoding a pixel.

Every picture is measured here before Pillow opens it: Pillow's own guard against
decompression bombs warns (`DecompressionBombWarning`) past 89 MP and raises
(`DecompressionBombError`) past 179 MP from inside `Image.open`, before the caller can look at
the size, and a picture that large is refused with this project's error (`TooManyPixels`, an
`InvalidImage`) instead. Pure Python: `process_snapshot`, which has no Pillow, measures an upload
from its first bytes.

JPEG: the frame header (SOFn) among the segments before the scan, walked as Pillow walks them
(stray bytes between segments skipped, fill bytes and marker-only segments stepped over).
PNG: the IHDR chunk. When a header declares several sizes, the largest counts.
"""

from __future__ import annotations

from smartdoor.errors import TooManyPixels

MAX_INPUT_PIXELS = 40_000_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_START = b"\xff\xd8"
_JPEG_SOS = 0xDA
_JPEG_FRAME_HEADERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length (Pillow's table: TEM, JPG, RSTn, SOI, EOI, JPGn), and the stuffed 0x00.
_JPEG_NO_LENGTH = frozenset({0x00, 0x01, 0xC8, *range(0xD0, 0xDA), *range(0xF0, 0xFE)})


def declared_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's or PNG's header; None when `head` declares none (not a JPEG
    or PNG, or the header goes on past the bytes given)."""
    if head.startswith(PNG_SIGNATURE):
        return _largest(_png_sizes(head))
    if head.startswith(JPEG_START):
        return _largest(_jpeg_sizes(head))
    return None


def has_too_many_pixels(width: int, height: int, limit: int = MAX_INPUT_PIXELS) -> bool:
    return width * height > limit


def check_pixels(width: int, height: int, limit: int = MAX_INPUT_PIXELS) -> None:
    """TooManyPixels when a width x height picture is over `limit` pixels."""
    if has_too_many_pixels(width, height, limit):
        raise TooManyPixels(f"image is {width}x{height}: too many pixels (the limit is {limit / 1e6:g} MP)")


def _largest(sizes: list[tuple[int, int]]) -> tuple[int, int] | None:
    return max(sizes, key=lambda size: size[0] * size[1], default=None)


def _png_sizes(data: bytes) -> list[tuple[int, int]]:
    sizes = []
    position = len(PNG_SIGNATURE)
    while position + 8 <= len(data):
        length = int.from_bytes(data[position : position + 4])
        kind = data[position + 4 : position + 8]
        if kind == b"IDAT":
            break
        if kind == b"IHDR" and position + 16 <= len(data):
            body = data[position + 8 : position + 16]
            sizes.append((int.from_bytes(body[:4]), int.from_bytes(body[4:])))
        position += 12 + length  # length, type, data, CRC
    return sizes


def _jpeg_sizes(data: bytes) -> list[tuple[int, int]]:
    sizes = []
    position = len(JPEG_START)
    while position + 1 < len(data):
        if data[position] != 0xFF or data[position + 1] == 0xFF:
            position += 1  # a stray byte between segments, or a fill byte before a marker
            continue
        marker = data[position + 1]
        if marker == _JPEG_SOS:
            break
        if marker in _JPEG_NO_LENGTH:
            position += 2
            continue
        length = int.from_bytes(data[position + 2 : position + 4])
        frame = data[position + 4 : position + 2 + length]  # precision, height, width, ...
        if marker in _JPEG_FRAME_HEADERS and len(frame) >= 5:
            sizes.append((int.from_bytes(frame[3:5]), int.from_bytes(frame[1:3])))
        position += 2 + length
    return sizes
