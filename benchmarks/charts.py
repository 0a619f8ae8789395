"""The two charts RESULTS.md and the README link: notifications per visit, and the cost comparison."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

SMART = "#2a7f62"
NAIVE = "#c0504d"
TARGET = "#555555"
FLOOR = 0.01


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False})
    return plt


def notifications_chart(data: Mapping[str, Any], path: Path) -> Path:
    """Smart vs naive, per visit, log scale (the naive consumer is two orders of magnitude off)."""
    plt = _pyplot()
    labels = [
        ("owner_per_unknown_visit", "owner texts\nper unknown visit"),
        ("events_per_known_visit", "events\nper known visit"),
        ("false_alarms_per_nobody_visit", "owner texts per visit\nwith no face to recognise"),
    ]
    figure, axes = plt.subplots(figsize=(6.4, 3.8), dpi=100)
    width = 0.38
    for offset, (who, colour, name) in enumerate(
        ((data["smart"], SMART, "Smart Door"), (data["naive"], NAIVE, "naive consumer"))
    ):
        values = [max(who[key], FLOOR) for key, _ in labels]  # a zero is drawn at the floor
        positions = [index + (offset - 0.5) * width for index in range(len(labels))]
        bars = axes.bar(positions, values, width, color=colour, label=name)
        for bar, (key, _) in zip(bars, labels, strict=True):
            axes.annotate(
                f"{who[key]:.2f}" if who[key] < 10 else f"{who[key]:.0f}",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=8,
            )
    axes.set_yscale("log")
    axes.set_ylim(FLOOR, max(data["naive"].values()) * 4)
    axes.set_xticks(range(len(labels)), [label for _, label in labels])
    axes.axhline(1.0, color=TARGET, linewidth=0.8, linestyle="--")
    axes.set_ylabel("per visit (log scale)")
    axes.set_title(f"Notifications per visit, synthetic day (seed {data['seed']})")
    axes.legend(frameon=False, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def cost_chart(
    totals: Mapping[str, float], breakdown: Mapping[str, float], target: float, title: str, path: Path
) -> Path:
    """Left: monthly total per scenario (log scale) against the target. Right: what the default
    scenario's bill is made of."""
    plt = _pyplot()
    figure, (left, right) = plt.subplots(
        1, 2, figsize=(9.6, 3.6), dpi=100, gridspec_kw={"width_ratios": [1, 1.2]}
    )
    names = list(totals)
    values = [totals[name] for name in names]
    colours = [SMART if value <= target else NAIVE for value in values]
    bars = left.barh(names, values, color=colours)
    left.set_xscale("log")
    left.axvline(target, color=TARGET, linestyle="--", linewidth=0.8)
    left.annotate(f"target ${target:.0f}", (target, len(names) - 0.5), fontsize=8, color=TARGET, ha="left")
    for bar, value in zip(bars, values, strict=True):
        left.annotate(
            f" ${value:,.0f}" if value >= 100 else f" ${value:,.2f}",
            (bar.get_width(), bar.get_y() + bar.get_height() / 2),
            va="center",
            fontsize=8,
        )
    left.invert_yaxis()
    left.set_xlabel("USD per month (log scale)")
    left.set_title("Monthly cost by way of finding faces")
    left.set_xlim(right=max(values) * 8)

    items = sorted(breakdown.items(), key=lambda item: -item[1])
    shown = [(name, usd) for name, usd in items if usd >= 0.5]
    rest = sum(usd for name, usd in items if usd < 0.5)
    if rest:
        shown.append(("everything else", rest))
    right.barh([name for name, _ in shown], [usd for _, usd in shown], color=SMART)
    for index, (_, usd) in enumerate(shown):
        right.annotate(f" ${usd:.2f}", (usd, index), va="center", fontsize=8)
    right.invert_yaxis()
    right.set_xlabel("USD per month")
    right.set_title(title)
    right.set_xlim(right=max(usd for _, usd in shown) * 1.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
