"""Every stack output the docs tell a person (or the device simulator) to read exists by exactly that name."""

from __future__ import annotations

import re
from pathlib import Path

from cdk_app.constants import REPO_ROOT
from tests.infra.synth import Synthesized

# Where people are told which output to read.
DOCUMENTS = [
    REPO_ROOT / "README.md",
    *sorted((REPO_ROOT / "docs").glob("*.md")),
    REPO_ROOT / "smartdoor_local" / "device.py",
]
# An output name as the docs write one: CamelCase ending the way this stack's outputs end.
OUTPUT_NAME = re.compile(r"(?<![\w.])([A-Z][a-z0-9]+(?:[A-Z][a-z0-9]+)*(?:Url|Id|Name|Arn))(?!\w)")
# A paragraph, or one item of a list: the unit in which "output" and the names it refers to sit.
BLOCK_BREAK = re.compile(r"\n\s*\n|\n(?=\s*(?:[-*]|\d+\.)\s)")
MENTIONS_OUTPUTS = re.compile(r"\boutputs?\b", re.IGNORECASE)


def documented_outputs(paths: list[Path]) -> dict[str, set[str]]:
    """Output name -> the documents that name it, from every block that speaks of outputs."""
    named: dict[str, set[str]] = {}
    for path in paths:
        for block in BLOCK_BREAK.split(path.read_text()):
            if MENTIONS_OUTPUTS.search(block):
                for name in OUTPUT_NAME.findall(block):
                    named.setdefault(name, set()).add(str(path.relative_to(REPO_ROOT)))
    return named


def test_the_reader_finds_the_outputs_a_person_is_told_about() -> None:
    # The extraction itself: the names the README's deploy steps and the doorbell guide give.
    named = documented_outputs(DOCUMENTS)
    assert {"SiteUrl", "OwnerPageUrl", "DoorPageUrl", "ApiUrl", "DeviceApiKeyId"} <= set(named)
    assert "docs/doorbell.md" in named["DeviceApiKeyId"]
    assert "smartdoor_local/device.py" in named["DeviceApiKeyId"]


def test_every_output_the_docs_name_exists_by_exactly_that_name(
    synthesized: Synthesized, synthesized_lock_iot: Synthesized
) -> None:
    # The lock's outputs (docs/door.md) exist where a lock is configured.
    outputs = set(synthesized.template_json["Outputs"]) | set(synthesized_lock_iot.template_json["Outputs"])
    missing = {
        name: sorted(where) for name, where in documented_outputs(DOCUMENTS).items() if name not in outputs
    }
    assert missing == {}, f"documented but not synthesized (outputs are {sorted(outputs)})"


def test_the_stream_processor_output_has_its_plain_name_too(synthesized_custom: Synthesized) -> None:
    assert "StartStreamProcessor" in synthesized_custom.template_json["Outputs"]
