"""A synthetic day at the door: visits of face-search records, seeded, with the truth beside them.

A day holds `visits` visits of 20-60 s each, at about 2 records a second (as a stream processor
writes them), spread from 07:00 to 22:00 UTC with at least `MIN_GAP_SECONDS` between visits, so
the match function's 120 s visit gap separates them. Each visit is one of:

- `known`: a visitor in the collection walks up (match similarity 95-99.5; now and then a second,
  weaker match of the same person, as Rekognition returns when a person has several faces);
- `unknown`: somebody nobody knows (no match);
- `tiny`: a passer-by in the street, face too small to recognise, every frame;
- `blurry`: a face too blurred every frame (rain on the lens, fast movement at night);
- `empty`: motion without a face (a cat, a parcel): records with `FaceSearchResponse: []`.

In known and unknown visits the person is first far away (tiny faces), and some frames are empty
(head turned) or blurred, as a real approach is. Records are Rekognition's documented format,
built with the fixtures the tests use (tests/fixtures/face_search).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tests.fixtures.face_search import STREAM_ARN, blurry_face, known_face, record, tiny_face, unknown_face

DEFAULT_SEED = 20261121
DAY_START = 1_795_158_000.0  # 2026-11-20 07:00:00 UTC
DAY_SECONDS = 15 * 3600  # 07:00 - 22:00
MIN_GAP_SECONDS = 180.0  # > the default 120 s visit gap
KNOWN_VISITORS = tuple(f"vis-bench-{number:02d}" for number in range(1, 6))


class VisitKind(StrEnum):
    KNOWN = "known"
    UNKNOWN = "unknown"
    TINY = "tiny"
    BLURRY = "blurry"
    EMPTY = "empty"


@dataclass(frozen=True)
class DayMix:
    """What the day is made of. Shares are of visits; frame shares are within a person's visit."""

    visits: int = 50
    known: float = 0.40
    unknown: float = 0.30
    tiny: float = 0.10
    blurry: float = 0.10
    empty: float = 0.10
    min_seconds: float = 20.0
    max_seconds: float = 60.0
    records_per_second: float = 2.0
    approach_share: float = 0.15  # first frames of a person's visit: still far away (tiny)
    empty_frame_share: float = 0.20  # head turned away
    blurry_frame_share: float = 0.10  # moving

    def counts(self) -> dict[VisitKind, int]:
        """Visits per kind: shares rounded, the remainder given to the largest share."""
        shares = {
            VisitKind.KNOWN: self.known,
            VisitKind.UNKNOWN: self.unknown,
            VisitKind.TINY: self.tiny,
            VisitKind.BLURRY: self.blurry,
            VisitKind.EMPTY: self.empty,
        }
        total = sum(shares.values())
        if total <= 0:
            raise ValueError("the visit shares must add up to more than 0")
        counts = {kind: int(self.visits * share / total) for kind, share in shares.items()}
        largest = max(shares, key=lambda kind: shares[kind])
        counts[largest] += self.visits - sum(counts.values())
        return counts

    def describe(self) -> str:
        counts = self.counts()
        kinds = ", ".join(f"{counts[kind]} {kind}" for kind in VisitKind)
        return (
            f"{self.visits} visits ({kinds}), {self.min_seconds:.0f}-{self.max_seconds:.0f} s each at "
            f"~{self.records_per_second:g} records/s; in a person's visit {self.approach_share:.0%} of "
            f"frames approach (tiny face), {self.empty_frame_share:.0%} empty, "
            f"{self.blurry_frame_share:.0%} blurred"
        )


@dataclass(frozen=True)
class SyntheticVisit:
    number: int
    kind: VisitKind
    start: float
    end: float
    visitor_id: str | None
    records: tuple[dict[str, Any], ...]

    def contains(self, frame_time: float) -> bool:
        return self.start - 1e-6 <= frame_time <= self.end + 1e-6

    @property
    def records_with_a_face(self) -> int:
        return sum(1 for item in self.records if item["FaceSearchResponse"])


@dataclass(frozen=True)
class SyntheticDay:
    seed: int
    mix: DayMix
    visits: tuple[SyntheticVisit, ...]
    stream_arn: str = STREAM_ARN
    kinds: Counter[VisitKind] = field(default_factory=Counter)

    @property
    def records(self) -> list[dict[str, Any]]:
        return [item for visit in self.visits for item in visit.records]

    def visit_at(self, frame_time: float) -> SyntheticVisit | None:
        for visit in self.visits:
            if visit.contains(frame_time):
                return visit
        return None

    def of_kind(self, kind: VisitKind) -> list[SyntheticVisit]:
        return [visit for visit in self.visits if visit.kind is kind]


def synthetic_day(
    seed: int = DEFAULT_SEED, mix: DayMix | None = None, *, day_start: float = DAY_START
) -> SyntheticDay:
    mix = mix or DayMix()
    if mix.visits < 1:
        raise ValueError("a day needs at least one visit")
    slot = DAY_SECONDS / mix.visits
    if slot < mix.max_seconds + MIN_GAP_SECONDS:
        raise ValueError(f"{mix.visits} visits do not fit in a day with {MIN_GAP_SECONDS:.0f} s between them")
    rng = random.Random(seed)
    kinds = [kind for kind, count in mix.counts().items() for _ in range(count)]
    rng.shuffle(kinds)
    visits = []
    for number, kind in enumerate(kinds):
        seconds = rng.uniform(mix.min_seconds, mix.max_seconds)
        start = day_start + number * slot + rng.uniform(0, slot - mix.max_seconds - MIN_GAP_SECONDS)
        visitor_id = rng.choice(KNOWN_VISITORS) if kind is VisitKind.KNOWN else None
        records = tuple(_visit_records(rng, mix, kind, start, seconds, visitor_id))
        visits.append(
            SyntheticVisit(
                number=number + 1,
                kind=kind,
                start=records[0]["_frameTime"],
                end=records[-1]["_frameTime"],
                visitor_id=visitor_id,
                records=tuple(_without_private_keys(item) for item in records),
            )
        )
    return SyntheticDay(seed=seed, mix=mix, visits=tuple(visits), kinds=Counter(kinds))


def _frame_times(rng: random.Random, start: float, seconds: float, per_second: float) -> Iterator[float]:
    interval = 1.0 / per_second
    time = start
    while time <= start + seconds:
        yield round(time, 3)
        time += interval * rng.uniform(0.8, 1.2)


def _visit_records(
    rng: random.Random, mix: DayMix, kind: VisitKind, start: float, seconds: float, visitor_id: str | None
) -> Iterator[dict[str, Any]]:
    times = list(_frame_times(rng, start, seconds, mix.records_per_second))
    approach = int(len(times) * mix.approach_share)
    for index, frame_time in enumerate(times):
        faces = _faces(rng, mix, kind, visitor_id, approaching=index < approach)
        item = record(frame_time, faces)
        item["_frameTime"] = frame_time
        yield item


def _faces(
    rng: random.Random, mix: DayMix, kind: VisitKind, visitor_id: str | None, *, approaching: bool
) -> list[dict[str, Any]]:
    if kind is VisitKind.EMPTY:
        return []
    if kind is VisitKind.TINY:
        return [tiny_face()]
    if kind is VisitKind.BLURRY:
        return [blurry_face()]
    if approaching:
        return [tiny_face()]
    roll = rng.random()
    if roll < mix.empty_frame_share:
        return []
    if roll < mix.empty_frame_share + mix.blurry_frame_share:
        return [blurry_face()]
    size = rng.uniform(0.12, 0.3)
    box = {"width": size, "height": size * 1.3, "confidence": rng.uniform(97.0, 99.9)}
    if kind is VisitKind.UNKNOWN:
        return [unknown_face(**box)]
    assert visitor_id is not None
    number = KNOWN_VISITORS.index(visitor_id) + 1
    face = known_face(
        visitor_id=visitor_id,
        face_id=f"{number:08d}-0000-4000-8000-{number:012d}",
        similarity=round(rng.uniform(95.0, 99.5), 2),
        **box,
    )
    if rng.random() < 0.3:  # a second collection face of the same person, a weaker match
        second = known_face(
            visitor_id=visitor_id,
            face_id=f"{number:08d}-0000-4000-8000-{number + 100:012d}",
            similarity=round(rng.uniform(90.5, 95.0), 2),
        )
        face["MatchedFaces"].extend(second["MatchedFaces"])
    return [face]


def _without_private_keys(item: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if not key.startswith("_")}
