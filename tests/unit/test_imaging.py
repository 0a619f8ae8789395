"""Face crops and frame normalisation on real (generated) pictures."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from smartdoor.domain.imaging import (
    MAX_FRAME_WIDTH,
    MAX_INPUT_BYTES,
    PixelBox,
    crop_face,
    face_crop_box,
    image_size,
    normalise_frame,
)
from smartdoor.domain.picture_size import declared_size
from smartdoor.errors import InvalidImage, TooManyPixels
from smartdoor.models import BoundingBox
from tests.fakes.images import BACKGROUND, FACE_COLOUR, huge_jpeg, huge_png, make_jpeg, open_image


def box(left: float, top: float, width: float, height: float) -> BoundingBox:
    return BoundingBox(Left=left, Top=top, Width=width, Height=height)


def close_to(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


class TestFaceCropBox:
    def test_adds_the_margin_on_every_side(self) -> None:
        # GIVEN a 1000x500 frame and a face box of 100x100 px at (400, 200)
        # WHEN the crop box is computed with a 50% margin
        crop = face_crop_box(1000, 500, box(0.4, 0.4, 0.1, 0.2), margin=0.5)
        # THEN 50 px are kept on each side
        assert crop == PixelBox(left=350, top=150, right=550, bottom=350)

    def test_without_margin_is_the_face_box(self) -> None:
        assert face_crop_box(640, 480, box(0.25, 0.5, 0.5, 0.25), margin=0) == PixelBox(160, 240, 480, 360)

    def test_a_face_at_the_edge_is_clipped_to_the_frame(self) -> None:
        # GIVEN a face whose box starts left of the frame (Rekognition reports negative Left)
        crop = face_crop_box(640, 480, box(-0.05, 0.9, 0.2, 0.2), margin=0.4)
        # THEN the crop starts at the frame's edge and ends inside it
        assert crop.left == 0 and crop.top > 0
        assert crop.bottom == 480
        assert 0 < crop.right < 640

    def test_a_box_outside_the_frame_is_invalid(self) -> None:
        with pytest.raises(InvalidImage, match="outside"):
            face_crop_box(640, 480, box(1.5, 0.2, 0.1, 0.1))

    def test_a_box_of_no_size_is_invalid(self) -> None:
        with pytest.raises(InvalidImage):
            face_crop_box(640, 480, box(0.5, 0.5, 0.0, 0.0))

    def test_a_negative_margin_is_refused(self) -> None:
        with pytest.raises(ValueError, match="margin"):
            face_crop_box(640, 480, box(0.4, 0.4, 0.1, 0.1), margin=-0.1)


class TestCropFace:
    def test_the_crop_holds_the_face_and_its_margin(self) -> None:
        # GIVEN a 640x480 frame with a face block at left .4, top .3, 20% x 30% of the frame
        frame = make_jpeg(640, 480, face=(0.4, 0.3, 0.2, 0.3))
        # WHEN the face is cropped with the default margin (40% of the face each side)
        face = crop_face(frame, box(0.4, 0.3, 0.2, 0.3))
        # THEN the crop is a JPEG 1.8 times the face's size, face in the middle, background at the corner
        crop = open_image(face)
        assert crop.format == "JPEG"
        # x: 204.8 -> 435.2 rounds to 205 -> 435; y: 86.4 -> 345.6 rounds to 86 -> 346
        assert crop.size == (230, 260)
        assert close_to(crop.getpixel((115, 130)), FACE_COLOUR)
        assert close_to(crop.getpixel((3, 3)), BACKGROUND)

    def test_cropping_garbage_is_invalid(self) -> None:
        with pytest.raises(InvalidImage, match="not a JPEG or PNG"):
            crop_face(b"this is not a picture", box(0.4, 0.3, 0.2, 0.3))

    def test_cropping_a_truncated_jpeg_is_invalid(self) -> None:
        frame = make_jpeg(640, 480)
        with pytest.raises(InvalidImage, match="truncated or corrupt"):
            crop_face(frame[: len(frame) // 2], box(0.4, 0.3, 0.2, 0.3))


class TestNormaliseFrame:
    def test_a_wide_picture_is_scaled_to_the_maximum_width(self) -> None:
        # GIVEN a 2560x1440 upload
        upload = make_jpeg(2560, 1440)
        # WHEN it is normalised
        frame = normalise_frame(upload)
        # THEN it is a JPEG of the maximum width, same proportions
        assert image_size(frame) == (MAX_FRAME_WIDTH, 720)
        assert open_image(frame).format == "JPEG"

    def test_a_small_picture_keeps_its_size(self) -> None:
        assert image_size(normalise_frame(make_jpeg(320, 240))) == (320, 240)

    def test_camera_metadata_is_dropped(self) -> None:
        # GIVEN an upload whose EXIF names the camera
        exif = Image.Exif()
        exif[0x010F] = "DoorCam Inc."  # Make
        upload = make_jpeg(320, 240, exif=exif.tobytes())
        assert open_image(upload).getexif().get(0x010F) == "DoorCam Inc."
        # WHEN it is normalised
        frame = normalise_frame(upload)
        # THEN no EXIF survives
        assert dict(open_image(frame).getexif()) == {}
        assert b"DoorCam" not in frame

    def test_a_png_upload_becomes_a_jpeg(self) -> None:
        frame = normalise_frame(make_jpeg(320, 240, fmt="PNG"))
        assert open_image(frame).format == "JPEG"

    def test_other_formats_are_refused(self) -> None:
        buffer = io.BytesIO()
        Image.new("RGB", (32, 32)).save(buffer, format="GIF")
        with pytest.raises(InvalidImage):
            normalise_frame(buffer.getvalue())

    def test_an_empty_upload_is_refused(self) -> None:
        with pytest.raises(InvalidImage, match="empty"):
            normalise_frame(b"")

    def test_an_oversized_upload_is_refused_before_decoding(self) -> None:
        with pytest.raises(InvalidImage, match="limit"):
            normalise_frame(b"\xff\xd8" + b"\x00" * MAX_INPUT_BYTES)

    def test_a_picture_with_too_many_pixels_is_refused(self) -> None:
        # 8000 x 6000 = 48 MP, above the limit; a 1-bit PNG of one colour stays tiny on disk.
        buffer = io.BytesIO()
        Image.new("1", (8000, 6000)).save(buffer, format="PNG")
        with pytest.raises(InvalidImage, match="too many pixels"):
            normalise_frame(buffer.getvalue())


# Pillow warns past 89.5 MP and raises past 179 MP (DecompressionBombWarning / Error) from inside
# Image.open; the suite turns the warning into an error, so a picture reaching Pillow would fail.
PAST_PILLOW_LIMITS = {
    "a 20000x20000 PNG (400 MP, Pillow raises)": lambda: huge_png(20_000, 20_000),
    "a 15000x15000 JPEG (225 MP, Pillow raises)": lambda: huge_jpeg(15_000, 15_000),
    "a 10000x10000 PNG (100 MP, Pillow warns)": lambda: huge_png(10_000, 10_000),
    "a 10000x10000 JPEG (100 MP, Pillow warns)": lambda: huge_jpeg(10_000, 10_000),
}


@pytest.fixture(params=list(PAST_PILLOW_LIMITS), scope="module")
def huge_picture(request: pytest.FixtureRequest) -> bytes:
    return PAST_PILLOW_LIMITS[request.param]()


class TestPicturesPastPillowsLimits:
    def test_normalising_one_is_too_many_pixels(self, huge_picture: bytes) -> None:
        with pytest.raises(TooManyPixels, match="too many pixels") as refused:
            normalise_frame(huge_picture)
        assert isinstance(refused.value, InvalidImage)

    def test_cropping_one_is_too_many_pixels(self, huge_picture: bytes) -> None:
        with pytest.raises(TooManyPixels):
            crop_face(huge_picture, box(0.4, 0.3, 0.2, 0.3))

    def test_measuring_one_is_too_many_pixels(self, huge_picture: bytes) -> None:
        with pytest.raises(TooManyPixels):
            image_size(huge_picture)


class TestDeclaredSize:
    @pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
    def test_it_is_the_size_pillow_reads(self, fmt: str) -> None:
        assert declared_size(make_jpeg(321, 123, fmt=fmt)) == (321, 123)

    def test_a_jpeg_is_measured_past_its_exif(self) -> None:
        exif = Image.Exif()
        exif[0x010E] = "x" * 30_000  # ImageDescription: 30 kB of metadata before the frame header
        assert declared_size(make_jpeg(64, 48, exif=exif.tobytes())) == (64, 48)

    def test_the_header_is_enough(self) -> None:
        assert declared_size(huge_jpeg(15_000, 14_000)[:400]) == (15_000, 14_000)
        assert declared_size(huge_png(20_000, 19_000)[:33]) == (20_000, 19_000)

    @pytest.mark.parametrize("data", [b"", b"GIF89a", b"\xff\xd8\xff\xe0\x00\x10JFIF", b"\x89PNG\r\n\x1a\n"])
    def test_no_size_when_the_header_declares_none(self, data: bytes) -> None:
        assert declared_size(data) is None

    def test_a_picture_without_a_declared_size_is_not_a_picture(self) -> None:
        with pytest.raises(InvalidImage, match="not a JPEG or PNG"):
            normalise_frame(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64)
