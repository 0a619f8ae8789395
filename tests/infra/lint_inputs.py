"""Write what `make lint` checks with AWS's own tools: the synthesized template and every state
machine definition as deployed (DefinitionSubstitutions applied, tokens given stand-in names).

    python -m tests.infra.lint_inputs build/lint

writes `build/lint/cdk.out/` (the cloud assembly, `SmartDoor.template.json` in it) and
`build/lint/asl/<LogicalId>.asl.json`, then prints the template's path.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from tests.infra.synth import deployed_state_machines, synthesize


def write_lint_inputs(outdir: Path) -> Path:
    shutil.rmtree(outdir, ignore_errors=True)
    synthesized = synthesize(outdir / "cdk.out")
    asl_dir = outdir / "asl"
    asl_dir.mkdir(parents=True)
    by_resource = {id(resource): logical_id for logical_id, resource in synthesized.resources.items()}
    for deployed in deployed_state_machines(synthesized):
        definition = deployed.as_deployed()
        if "${" in definition:
            raise SystemExit(f"{by_resource[id(deployed.resource)]}: a placeholder has no substitution")
        path = asl_dir / f"{by_resource[id(deployed.resource)]}.asl.json"
        path.write_text(json.dumps(json.loads(definition), indent=2) + "\n", encoding="utf-8")
    return synthesized.template_path


if __name__ == "__main__":
    print(write_lint_inputs(Path(sys.argv[1] if len(sys.argv) > 1 else "build/lint")))
