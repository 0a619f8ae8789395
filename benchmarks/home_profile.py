"""The default home profile's cost targets (issue 17): a home with the door agent
(faceSource=snapshots), the owner told by Web Push, priced on the snapshots template.

    python -m benchmarks.home_profile [--template SNAPSHOTS.template.json]

is the fast entry point (one synth, no other benchmark): it prints the targets table that
`make bench` prints in its summary. The owner notification is a flag of the usage profile
(`owner_notification`: "push" or "sms"); the table shows both, push being the home profile.
Web Push is priced at $0: the push services (FCM, Mozilla autopush, Apple's) do not charge the
sender; what sending costs on our side is the ask_owner invocation, already priced.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from benchmarks import cost_model
from benchmarks.code_facts import read_code
from benchmarks.report import FIGURE_HEADER, Figure, Section, at_most, figure_rows, table

TARGET_FIXED_USD = 12.0
TARGET_CLOUDWATCH_USD = 2.0
TARGET_PER_VISIT_BEFORE_SMS_USD = 0.01
TARGET_TOTAL_USD = 25.0
TARGET_VISITS_PER_DAY = 50
TYPICAL_VISITS_PER_DAY = 10
HOME_NOTIFICATION = "push"


def home_section(template: Path) -> Section:
    facts = cost_model.load_template(template)
    base = cost_model.load_profile()
    prices = cost_model.load_prices()
    code = read_code()
    section = Section("6", "Money: the default home profile (door agent snapshots, owner by push)")
    for notification in (HOME_NOTIFICATION, "sms"):
        for visits in (TARGET_VISITS_PER_DAY, TYPICAL_VISITS_PER_DAY):
            profile = cost_model.UsageProfile(
                {**base.raw, "visits_per_day": visits, "owner_notification": notification}
            )
            parts = cost_model.split(cost_model.SNAPSHOTS, facts, profile, prices, None, code)
            bill = cost_model.estimate(cost_model.SNAPSHOTS, facts, profile, prices, None, code)
            targets = notification == HOME_NOTIFICATION
            label = f"{visits} visits/day, owner by {notification}"
            top = sorted(bill.by_service().items(), key=lambda item: -item[1])[:3]
            why = "largest lines: " + ", ".join(f"{s} ${usd:.2f}" for s, usd in top)
            section.add(
                _figure(f"fixed part, {label}", parts.fixed, TARGET_FIXED_USD if targets else None, why)
            )
            section.add(
                _figure(
                    f"  per visit before SMS, {label}",
                    parts.per_visit_before_sms,
                    TARGET_PER_VISIT_BEFORE_SMS_USD if targets else None,
                    why,
                    digits=4,
                )
            )
            total_target = TARGET_TOTAL_USD if targets and visits == TARGET_VISITS_PER_DAY else None
            section.add(_figure(f"  total per month, {label}", parts.total, total_target, why))
            section.add(_cloudwatch_figure(label, bill, targets))
    section.data = {"prices_as_of": prices.as_of, "template": str(template)}
    return section


def _cloudwatch_figure(label: str, bill: cost_model.Estimate, targets: bool) -> Figure:
    lines = [item for item in bill.items if item.service == "CloudWatch" and item.usd >= 0.01]
    why = "lines: " + ", ".join(f"{item.item} ${item.usd:.2f}" for item in lines)
    target = TARGET_CLOUDWATCH_USD if targets else None
    return _figure(f"  of which CloudWatch, {label}", bill.service_total("CloudWatch"), target, why)


def _figure(name: str, usd: float, target: float | None, why: str, digits: int = 2) -> Figure:
    shown = f"${usd:.{digits}f}"
    if target is None:
        return Figure("6", name, usd, shown)
    met = at_most(usd, target)
    return Figure("6", name, usd, shown, f"<= ${target:g}", met, "" if met else why)


def synthesize_snapshots(outdir: Path) -> Path:
    from benchmarks.synth import synthesize

    return synthesize(outdir, faceSource="snapshots")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", type=Path, help="a faceSource=snapshots template (default: synth one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="smartdoor-home-") as work:
        template = args.template or synthesize_snapshots(Path(work) / "cdk.out")
        section = home_section(template)
    print(f"Default home profile, prices of {section.data['prices_as_of']}")
    print(table(figure_rows([section]), FIGURE_HEADER))
    for figure in section.figures:
        if figure.met is False:
            print(f"missed: {figure.name.strip()}: {figure.why}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
