"""`python -m benchmarks` (`make bench`): every benchmark, the table, RESULTS.md and the charts.

Each benchmark runs in a process of its own (a clean interpreter: no moto thread or import of
one benchmark slows the next), in this order: synth the CDK app, 2. throughput, 3. cold start
and size, 1. notifications per visit, 4.+5. orchestration and state transitions, then the
cost model on the synthesized template with the measured transitions (and 6., the home
profile), then 7. the door opening: a right code to the door agent's relay on the local stack.
Figures are printed with their targets; a missed target is named in the closing note with what
limits it. Nothing here fails on a missed target: these are measurements, not tests.

    python -m benchmarks [--only 1,2,3,4,5,7] [--cdk-out DIR] [--results-dir benchmarks]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import cost_model
from benchmarks.charts import cost_chart, notifications_chart
from benchmarks.code_facts import read_code
from benchmarks.home_profile import home_section
from benchmarks.lambda_env import REPO_ROOT
from benchmarks.report import (
    FIGURE_HEADER,
    Figure,
    Section,
    at_most,
    figure_rows,
    markdown_table,
    missed,
    table,
)

HERE = Path(__file__).resolve().parent
TARGET_MONTHLY_USD = 15.0
DEFAULT_SCENARIO = "doorbell-sessions"
ALL = ("1", "2", "3", "4", "5", "7")


def _step(title: str, command: list[str], timeout: float = 600) -> float:
    print(f"-- {title}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own interpreter and modules
        [sys.executable, *command],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-4000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"benchmark step failed: {title}")
    print(f"   {seconds:.0f} s", file=sys.stderr, flush=True)
    return seconds


def cost_section(cdk_out: Path, transitions: dict[str, float] | None) -> Section:
    facts = cost_model.load_template(cdk_out / "SmartDoor.template.json")
    profile = cost_model.load_profile()
    prices = cost_model.load_prices()
    code = read_code()
    estimates = cost_model.compare(facts, profile, prices, transitions, code)
    splits = {name: cost_model.split(name, facts, profile, prices, transitions, code) for name in estimates}
    section = Section("5", "Money: monthly estimate per way of finding faces")
    visits = profile.number("visits_per_day")
    for scenario, bill in estimates.items():
        title = cost_model.SCENARIO_TITLES[scenario]
        if scenario == DEFAULT_SCENARIO:
            top = sorted(bill.by_service().items(), key=lambda item: -item[1])[:3]
            met = at_most(bill.total, TARGET_MONTHLY_USD)
            why = "" if met else "largest lines: " + ", ".join(f"{s} ${usd:.2f}" for s, usd in top)
            section.add(
                Figure(
                    "5",
                    f"monthly cost, {visits:.0f} visits/day, {title}",
                    bill.total,
                    cost_model.usd_text(bill.total),
                    f"<= ${TARGET_MONTHLY_USD:.0f}",
                    met,
                    why,
                )
            )
            without_sms = bill.total - bill.service_total("SNS")
            section.add(
                Figure("5", "  same, without SMS (SNS)", without_sms, cost_model.usd_text(without_sms))
            )
            parts = splits[scenario]
            section.add(
                Figure(
                    "5", "  fixed part (nobody at the door)", parts.fixed, cost_model.usd_text(parts.fixed)
                )
            )
            section.add(Figure("5", "  per visit", parts.per_visit, f"${parts.per_visit:.4f}"))
            section.add(
                Figure(
                    "5",
                    "  per visit before SMS",
                    parts.per_visit_before_sms,
                    f"${parts.per_visit_before_sms:.4f}",
                )
            )
            section.add(
                Figure(
                    "5",
                    "  SMS parts per text (owner, visitor)",
                    code.owner_sms_segments,
                    f"{code.owner_sms_segments}, {code.visitor_sms_segments}",
                )
            )
        else:
            section.add(
                Figure(
                    "5",
                    f"monthly cost, {visits:.0f} visits/day, {title}",
                    bill.total,
                    cost_model.usd_text(bill.total),
                )
            )
    header = ["service", *(cost_model.SCENARIO_TITLES[s] for s in estimates)]
    rows = cost_model.comparison_rows(estimates, splits)
    section.data = {
        "header": header,
        "rows": rows,
        "totals": {cost_model.SCENARIO_TITLES[s]: bill.total for s, bill in estimates.items()},
        "fixed": {cost_model.SCENARIO_TITLES[s]: part.fixed for s, part in splits.items()},
        "per_visit": {cost_model.SCENARIO_TITLES[s]: part.per_visit for s, part in splits.items()},
        "default_breakdown": estimates[DEFAULT_SCENARIO].by_service(),
        "notes": sorted({note for bill in estimates.values() for note in bill.notes}),
        "prices_as_of": prices.as_of,
        "prices_note": prices.note,
        "transitions": transitions or {},
        "profile": {
            key: profile.raw[key]
            for key in ("visits_per_day", "unknown_share", "unknown_outcomes", "frames_per_visit", "region")
        },
    }
    return section


def machine() -> str:
    return (
        f"{os.cpu_count()} cores (nproc), Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}"
    )


def write_results(path: Path, sections: list[Section], started_at: datetime, seconds: float) -> None:
    lines = [
        "# Smart Door benchmarks: results",
        "",
        f"Measured {started_at:%Y-%m-%d %H:%M} UTC by `make bench` on {machine()}, "
        f"in {seconds / 60:.1f} minutes.",
        "These are measurements printed as figures, not tests; comparisons are ratios taken in the same run",
        "because the machine is shared and noisy. How each figure is made: docs/performance.md.",
        "",
        "## Summary",
        "",
        markdown_table(figure_rows(sections), FIGURE_HEADER),
        "",
        "## Targets missed, and what limits them",
        "",
    ]
    misses = missed(sections)
    if not misses:
        lines.append("None.")
    for section, figure in misses:
        lines.append(
            f"- **{section.key}. {figure.name}**: {figure.shown} (target {figure.target}). {figure.why}"
        )
    for section in sections:
        lines += ["", f"## {section.key}. {section.title}", ""]
        lines += [f"- {detail}" for detail in section.details]
        if section.key == "1" and section.data:
            lines += ["", "![Notifications per visit: Smart Door vs the naive consumer](notifications.png)"]
        if section.key == "3" and section.data.get("breakdown"):
            lines += ["", markdown_table(section.data["breakdown"], section.data["breakdown_header"])]
        if section.key == "5" and "rows" in section.data:
            data = section.data
            lines += [
                "",
                f"Usage profile (benchmarks/usage_profile.json): {data['profile']}. State transitions "
                f"per visit (measured above): {data['transitions'] or 'the profile default'}.",
                "",
                markdown_table(data["rows"], data["header"]),
                "",
                f"Prices: benchmarks/prices.json, as of {data['prices_as_of']}. {data['prices_note']}",
            ]
            lines += [f"- note: {note}" for note in data["notes"]]
            lines += ["", "![Monthly cost per way of finding faces](cost.png)"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Smart Door benchmarks (make bench)")
    parser.add_argument("--only", default=",".join(ALL), help="which benchmarks, e.g. 1,5")
    parser.add_argument("--cdk-out", type=Path, help="an existing cloud assembly (skips synth)")
    parser.add_argument("--results-dir", type=Path, default=HERE)
    args = parser.parse_args(argv)
    only = {part.strip() for part in args.only.split(",") if part.strip()}
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    print(f"Smart Door benchmarks, {started_at:%Y-%m-%d %H:%M} UTC, {machine()}", file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="smartdoor-bench-") as scratch:
        return _run(args, only, Path(scratch), started_at, started)


def _run(args: argparse.Namespace, only: set[str], work: Path, started_at: datetime, started: float) -> int:
    cdk_out = args.cdk_out
    if cdk_out is None and only & {"3", "5"}:
        cdk_out = work / "cdk.out"
        _step("synth the CDK app (template and assets)", ["-m", "benchmarks.synth", "--out", str(cdk_out)])
    sections = _measure(only, work, cdk_out)
    seconds = time.perf_counter() - started
    cost = next((s for s in sections if "rows" in s.data), None)
    _print_report(sections, cost, seconds)
    if not only >= set(ALL):
        print("A partial run: RESULTS.md and the charts are left as they are.")
        return 0
    _write_results(args.results_dir, sections, cost, started_at, seconds)
    return 0


def _measure(only: set[str], work: Path, cdk_out: Path | None) -> list[Section]:
    """Run the chosen benchmarks, each in its own process; their sections in report order."""
    parts: dict[str, Section] = {}
    steps = [
        ("2", "2. match Lambda throughput", ["-m", "benchmarks.throughput"]),
        ("3", "3. cold start and size", ["-m", "benchmarks.cold_start", "--cdk-out", str(cdk_out)]),
        ("1", "1. notifications per visit", ["-m", "benchmarks.notifications"]),
        ("4", "4. orchestration and 5. state transitions", ["-m", "benchmarks.orchestration"]),
        ("7", "7. the door opens (the lock on the local stack)", ["-m", "benchmarks.lock_delay"]),
    ]
    for key, title, command in steps:
        if key in only or (key == "4" and "5" in only):
            out = work / f"{key}.json"
            _step(title, [*command, "--out", str(out)])
            parts[key] = Section.from_json(json.loads(out.read_text()))

    sections: list[Section] = [parts[key] for key in ("1", "2", "3") if key in parts]
    transitions = None
    if "4" in parts:
        transitions_part = Section.from_json(parts["4"].data.pop("transitions"))
        transitions = transitions_part.data.get("per_visit")
        if "4" in only:
            sections.append(parts["4"])
        if "5" in only:
            sections.append(transitions_part)
    if "5" in only and cdk_out is not None:
        _add_money(sections, cost_section(cdk_out, transitions))
        sections.append(_home_profile(work))
    if "7" in parts:
        sections.append(parts["7"])
    return sections


def _home_profile(work: Path) -> Section:
    """6. The default home profile (issue 17): its own template, faceSource=snapshots."""
    home_out = work / "cdk.out.snapshots"
    _step(
        "synth faceSource=snapshots (the home profile)",
        ["-m", "benchmarks.synth", "--out", str(home_out), "--face-source", "snapshots"],
    )
    return home_section(home_out / "SmartDoor.template.json")


def _add_money(sections: list[Section], money: Section) -> None:
    """The cost estimate joins the state-transitions section (5) when there is one."""
    if sections and sections[-1].key == "5":
        sections[-1].figures += money.figures
        sections[-1].title = "State transitions and money"
        sections[-1].details += money.details
        sections[-1].data.update(money.data)
    else:
        sections.append(money)


def _print_report(sections: list[Section], cost: Section | None, seconds: float) -> None:
    print()
    print(table(figure_rows(sections), FIGURE_HEADER))
    if cost is not None:
        print()
        print(
            f"Monthly estimate by service (prices of {cost.data['prices_as_of']}, "
            "assumptions: benchmarks/prices.json)"
        )
        print(table(cost.data["rows"], cost.data["header"]))
    print()
    misses = missed(sections)
    if misses:
        print("Targets missed:")
        for section, figure in misses:
            print(f"- {section.key}. {figure.name}: {figure.shown} (target {figure.target}). {figure.why}")
    else:
        print("Every target met.")
    print(f"\nmake bench took {seconds / 60:.1f} minutes.")


def _write_results(
    results: Path, sections: list[Section], cost: Section | None, started_at: datetime, seconds: float
) -> None:
    results.mkdir(parents=True, exist_ok=True)
    write_results(results / "RESULTS.md", sections, started_at, seconds)
    notifications = next((s for s in sections if s.key == "1"), None)
    if notifications is not None:
        notifications_chart(notifications.data, results / "notifications.png")
    if cost is not None:
        cost_chart(
            cost.data["totals"],
            cost.data["default_breakdown"],
            TARGET_MONTHLY_USD,
            "Doorbell sessions: the bill by service",
            results / "cost.png",
        )
    print(f"Wrote {results / 'RESULTS.md'} and the charts.")


if __name__ == "__main__":
    sys.exit(main())
