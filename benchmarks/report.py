"""Figures, the table on stdout and benchmarks/RESULTS.md.

Every benchmark returns `Figure`s: a name, a value shown as text, a target (or none, for
figures that are context) and whether the target was met. Nothing here is a test: a missed
target is reported, never raised.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Figure:
    section: str
    name: str
    value: float | None
    shown: str
    target: str = ""
    met: bool | None = None  # None: no target (context)
    why: str = ""  # for a missed target: what limits it

    @property
    def verdict(self) -> str:
        return {True: "yes", False: "NO", None: "-"}[self.met]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Figure:
        return cls(**data)


@dataclass
class Section:
    """One benchmark's figures and whatever else it measured (charts, details)."""

    key: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    details: list[str] = field(default_factory=list)  # Markdown lines for RESULTS.md
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, *figures: Figure) -> None:
        self.figures.extend(figures)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "figures": [figure.to_json() for figure in self.figures],
            "details": self.details,
            "data": self.data,
            "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Section:
        return cls(
            key=data["key"],
            title=data["title"],
            figures=[Figure.from_json(item) for item in data["figures"]],
            details=list(data.get("details", [])),
            data=dict(data.get("data", {})),
            seconds=float(data.get("seconds", 0.0)),
        )

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2), encoding="utf-8")


def write_timed(out: Path, measure: Callable[[], Section]) -> None:
    """Run one benchmark, record how long it took and write its section to `out`."""
    started = time.perf_counter()
    section = measure()
    section.seconds = time.perf_counter() - started
    section.write(out)


def at_least(value: float, target: float) -> bool:
    return value >= target


def at_most(value: float, target: float) -> bool:
    return value <= target


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (p95 of 20 runs is the 19th smallest)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = max(1, min(len(ordered), -(-int(share * 100) * len(ordered) // 100)))
    return float(ordered[rank - 1])


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * width for width in widths)
    out = ["  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(header)).rstrip(), line]
    out += ["  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    return "\n".join(out)


def markdown_table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|")

    out = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


FIGURE_HEADER = ("figure", "value", "target", "met?")


def figure_rows(sections: Iterable[Section]) -> list[list[str]]:
    rows = []
    for section in sections:
        for figure in section.figures:
            rows.append([f"{section.key}. {figure.name}", figure.shown, figure.target or "-", figure.verdict])
    return rows


def missed(sections: Iterable[Section]) -> list[tuple[Section, Figure]]:
    return [(section, figure) for section in sections for figure in section.figures if figure.met is False]
