"""Measure the local engine's threshold on real photos available offline (docs/local.md).

    python -m smartdoor_local.threshold

Same person: NASA's portrait of Eileen Collins (skimage.data.astronaut) against crops,
rescales, a mirror image, brightness changes, greyscale, a rotation and heavy JPEG compression
of it. Different people: the camera man (skimage.data.camera) and the faces of
skimage.data.lfw_subset (Labeled Faces in the Wild) that the detector finds with at least 90 %
confidence. Prints each distance and its similarity, and the margins around dlib's 0.6.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageEnhance

from smartdoor.errors import NoFaceInPhoto
from smartdoor_local import sample_faces
from smartdoor_local.face_engine import (
    DLIB_SAME_PERSON_DISTANCE,
    MIN_INDEX_CONFIDENCE,
    InMemoryFaceStore,
    LocalFaceEngine,
    similarity_from_distance,
)


def _jpeg(image: Image.Image, quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _astronaut() -> Image.Image:
    return Image.open(io.BytesIO(sample_faces.astronaut())).convert("RGB")


def same_person_variants() -> dict[str, bytes]:
    """Other pictures of the astronaut: what a second photo or another camera frame changes."""
    photo = _astronaut()
    variants: dict[str, Callable[[Image.Image], Image.Image]] = {
        "head and shoulders crop": lambda i: i.crop((100, 20, 360, 300)),
        "tight face crop": lambda i: i.crop((150, 50, 290, 190)),
        "mirrored": lambda i: i.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        "half size": lambda i: i.resize((256, 256), Image.Resampling.LANCZOS),
        "double size": lambda i: i.resize((1024, 1024), Image.Resampling.LANCZOS),
        "darker (60 %)": lambda i: ImageEnhance.Brightness(i).enhance(0.6),
        "brighter (130 %)": lambda i: ImageEnhance.Brightness(i).enhance(1.3),
        "greyscale": lambda i: i.convert("L").convert("RGB"),
        "rotated 10 degrees": lambda i: i.rotate(10, resample=Image.Resampling.BICUBIC),
    }
    pictures = {name: _jpeg(change(photo)) for name, change in variants.items()}
    pictures["JPEG quality 30"] = _jpeg(photo, quality=30)
    pictures["the story's second photo"] = sample_faces.astronaut_again()
    return pictures


@dataclass(frozen=True)
class Measurement:
    label: str
    distance: float

    @property
    def similarity(self) -> float:
        return similarity_from_distance(self.distance)


@dataclass(frozen=True)
class Report:
    same_person: list[Measurement]
    different_people: list[Measurement]
    lfw_faces_used: int
    lfw_faces_skipped: int

    @property
    def largest_same_person_distance(self) -> float:
        return max(m.distance for m in self.same_person)

    @property
    def smallest_different_person_distance(self) -> float:
        return min(m.distance for m in self.different_people)


def _confident(engine: LocalFaceEngine, picture: bytes) -> bool:
    faces = engine.detect_faces(picture)
    return bool(faces) and faces[0].confidence >= MIN_INDEX_CONFIDENCE


def measure(engine: LocalFaceEngine | None = None, lfw_limit: int | None = None) -> Report:
    """Distances from the astronaut's portrait; `lfw_limit` checks only the first N LFW faces."""
    engine = engine or LocalFaceEngine(InMemoryFaceStore())
    reference = engine.embedding(sample_faces.astronaut())

    def distance(picture: bytes) -> float:
        return float(np.linalg.norm(reference - engine.embedding(picture)))

    same = [Measurement(label, distance(picture)) for label, picture in same_person_variants().items()]
    different = [Measurement("the camera man", distance(sample_faces.camera_man()))]
    used = skipped = 0
    for index, face in enumerate(sample_faces.lfw_faces()[:lfw_limit]):
        try:
            if not _confident(engine, face):
                skipped += 1
                continue
            different.append(Measurement(f"LFW face {index}", distance(face)))
            used += 1
        except NoFaceInPhoto:
            skipped += 1
    return Report(same, different, used, skipped)


def main() -> None:
    report = measure()
    print("| same person (astronaut vs) | distance | similarity |")
    print("|---|---|---|")
    for m in report.same_person:
        print(f"| {m.label} | {m.distance:.3f} | {m.similarity:.3f} % |")
    lfw = sorted((m for m in report.different_people if m.label.startswith("LFW")), key=lambda m: m.distance)
    camera = next(m for m in report.different_people if not m.label.startswith("LFW"))
    distances = np.array([m.distance for m in lfw])
    print()
    print("| different people (astronaut vs) | distance | similarity |")
    print("|---|---|---|")
    print(f"| {camera.label} | {camera.distance:.3f} | {camera.similarity:.3f} % |")
    print(f"| closest of {len(lfw)} LFW faces | {lfw[0].distance:.3f} | {lfw[0].similarity:.3f} % |")
    for percentile in (5, 50):
        value = float(np.percentile(distances, percentile))
        print(f"| LFW {percentile}th percentile | {value:.3f} | {similarity_from_distance(value):.3f} % |")
    print()
    print(
        f"dlib threshold {DLIB_SAME_PERSON_DISTANCE}: largest same-person distance "
        f"{report.largest_same_person_distance:.3f}, smallest different-person distance "
        f"{report.smallest_different_person_distance:.3f} "
        f"({report.lfw_faces_skipped} LFW faces not confidently detected, left out)"
    )


if __name__ == "__main__":
    main()
