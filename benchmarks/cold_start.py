"""3. Cold start and size: each handler module's import time, and each function's package.

Import time: a fresh interpreter per measurement (`python -I -S`, site-packages and functions/
on the path by hand, so nothing a developer installed locally, such as an editable finder,
is imported), the environment Lambda gives (AWS_LAMBDA_FUNCTION_NAME set, an X-Ray trace id, Powertools'
switches as deployed), and the clock read around the one `import` statement, CPU
time and wall time. `import boto3` alone is measured the same way in the same rounds
(interleaved), and each handler is reported as a ratio to it: the machine's speed and load
cancel out. Median of the rounds; two interpreters run at a time (CPU times are not lengthened
by the other's turns). One more run per handler with `-X importtime` splits the time by
top-level package (wall time, so only its proportions mean much on a busy machine).

Package size: what CDK stages for each function in the synthesized cloud assembly (the
functions/ asset with cdk_app's excludes, plus layers built from this repository: Pillow for
extract_frame), in bytes, unzipped. Not counted: the runtime's boto3 and AWS's public
Powertools layer (aws-lambda-powertools, pydantic, X-Ray SDK), which AWS publishes and every
function attaches; its size is printed beside, measured from the same packages installed here.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.lambda_env import FUNCTIONS_DIR, REGION
from benchmarks.report import Figure, Section, at_most, median, write_timed

TARGET_IMPORT_RATIO = 1.5
TARGET_PACKAGE_MB = 5.0
ROUNDS = 7  # a median of 7: single imports on a shared machine vary by 30 %
# Two interpreters at a time (this machine has two cores): the ratio is of CPU times, which
# another process's turns do not lengthen.
PARALLEL = 2
BASELINE = "boto3"
# What every handler pays before any Smart Door code: boto3 and the Powertools utilities as
# smartdoor.observability creates them (the Logger: counts are log fields, no Metrics; tracing
# is Lambda's own, no X-Ray SDK).
FLOOR = "powertools-floor"
STATEMENTS = {FLOOR: "import boto3\nfrom aws_lambda_powertools import Logger\nLogger()"}
# What AWS's Powertools v3 layer carries (its pyproject's extras for tracer and parser).
POWERTOOLS_LAYER_PACKAGES = (
    "aws_lambda_powertools",
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "typing_inspection",
    "typing_extensions.py",
    "jmespath",
    "aws_xray_sdk",
    "wrapt",
)
GROUPS = {
    "boto3": "boto3/botocore",
    "botocore": "boto3/botocore",
    "s3transfer": "boto3/botocore",
    "urllib3": "boto3/botocore",
    "dateutil": "boto3/botocore",
    "jmespath": "boto3/botocore",
    "aws_lambda_powertools": "powertools",
    "aws_xray_sdk": "x-ray sdk",
    "wrapt": "x-ray sdk",
    "pydantic": "pydantic",
    "pydantic_core": "pydantic",
    "typing_extensions": "pydantic",
    "annotated_types": "pydantic",
    "typing_inspection": "pydantic",
    "smartdoor": "smartdoor",
}

_CHILD = """
import json, sys, time
sys.path[:0] = {paths!r}
wall, cpu = time.perf_counter(), time.process_time()
{statement}
print(json.dumps([time.perf_counter() - wall, time.process_time() - cpu]))
"""


def handler_modules() -> list[str]:
    """Every function folder with a handler: `stream_match.handler`, ..."""
    return sorted(
        f"{path.parent.name}.handler"
        for path in FUNCTIONS_DIR.glob("*/handler.py")
        if path.parent.name != "smartdoor"
    )


def _child_env(module: str) -> dict[str, str]:
    name = module.split(".")[0]
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "POWERTOOLS_"))}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "_HANDLER": f"{module}.handler",
            "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            "POWERTOOLS_SERVICE_NAME": name,
        }
    )
    return env


def _paths() -> list[str]:
    return [str(FUNCTIONS_DIR), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]


def import_once(module: str, *, importtime: bool = False) -> tuple[float, float, str]:
    """(wall s, CPU s, -X importtime output) of `import module` in a fresh interpreter."""
    command = [sys.executable, "-I", "-S"]
    if importtime:
        command += ["-X", "importtime"]
    statement = STATEMENTS.get(module, f"import {module}")
    command += ["-c", _CHILD.format(paths=_paths(), statement=statement)]
    done = subprocess.run(  # noqa: S603 - our own interpreter, our own code
        command, env=_child_env(module), capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"import {module} failed: {done.stderr.strip().splitlines()[-1:]}")
    wall, cpu = json.loads(done.stdout.strip().splitlines()[-1])
    return float(wall), float(cpu), done.stderr


def breakdown(importtime_output: str) -> dict[str, float]:
    """Self time (ms) of every imported module, summed by group (boto3/botocore, powertools...).

    A module outside the groups (the standard library, small dependencies) counts for the group
    of the nearest module that imported it, so `asyncio` pulled in by the X-Ray SDK is the SDK's.
    """
    entries = []
    for line in importtime_output.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|( *)(\S+)", line)
        if match:
            entries.append((len(match.group(2)), match.group(3), int(match.group(1)) / 1000))
    totals: dict[str, float] = defaultdict(float)
    ancestors: list[tuple[int, str]] = []  # (indent, group), from the root down
    for indent, name, self_ms in reversed(entries):  # -X importtime prints children first
        while ancestors and ancestors[-1][0] >= indent:
            ancestors.pop()
        top = name.split(".")[0]
        group = GROUPS.get(top) or ("function" if (FUNCTIONS_DIR / top).is_dir() else None)
        if group is None:
            group = ancestors[-1][1] if ancestors else "stdlib/other"
        ancestors.append((indent, group))
        totals[group] += self_ms
    return dict(totals)


# ---------------------------------------------------------------------------- package size


def tree_bytes(path: Path) -> int:
    if path.is_file():
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                return sum(info.file_size for info in archive.infolist())
        return path.stat().st_size
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())


def zipped_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for item in sorted(path.rglob("*")):
            if item.is_file():
                archive.write(item, item.relative_to(path))
    return len(buffer.getvalue())


def _asset_path(cdk_out: Path, code: dict[str, Any]) -> Path | None:
    key = code.get("S3Key")
    if not isinstance(key, str):
        return None
    stem = key.removesuffix(".zip")
    for candidate in (cdk_out / f"asset.{stem}", cdk_out / f"asset.{stem}.zip"):
        if candidate.exists():
            return candidate
    return None


def packages(cdk_out: Path) -> dict[str, dict[str, Any]]:
    """function module -> {code: path, layers: [(name, path)], external_layers: n, bytes}."""
    template = json.loads((cdk_out / "SmartDoor.template.json").read_text(encoding="utf-8"))
    resources = template["Resources"]
    found = {}
    for _, resource in resources.items():
        if resource.get("Type") != "AWS::Lambda::Function":
            continue
        properties = resource["Properties"]
        handler = properties.get("Handler", "")
        if not handler.endswith(".handler.handler"):
            continue
        code = _asset_path(cdk_out, properties["Code"])
        layers, external = [], 0
        for layer in properties.get("Layers", []):
            if isinstance(layer, dict) and "Ref" in layer:
                content = resources[layer["Ref"]]["Properties"]["Content"]
                path = _asset_path(cdk_out, content)
                if path is not None:
                    layers.append((layer["Ref"], path))
            else:
                external += 1
        if code is None:
            raise RuntimeError(f"no staged asset for {handler} in {cdk_out}")
        total = tree_bytes(code) + sum(tree_bytes(path) for _, path in layers)
        found[handler.removesuffix(".handler.handler")] = {
            "code": code,
            "layers": layers,
            "external_layers": external,
            "bytes": total,
        }
    return found


def powertools_layer_bytes() -> int:
    site = Path(sysconfig.get_paths()["purelib"])
    return sum(tree_bytes(site / name) for name in POWERTOOLS_LAYER_PACKAGES if (site / name).exists())


def _count(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{len(names)} functions"


# What makes a layer big, by layer name (its wheels' native libraries).
LAYER_BULK = {
    "pillow": " (its wheel bundles libjpeg, libwebp, libavif, libtiff, freetype, harfbuzz...)",
    "webpush": " (cryptography's wheel: its Rust extension statically links OpenSSL)",
}


def _layer_name(logical_id: str) -> str:
    """`PackagingPillow8DC7AD97` -> `Pillow`."""
    return re.sub(r"[0-9A-F]{8}$", "", logical_id).removeprefix("Packaging")


def _mb(size: float) -> float:
    return size / 1_000_000


# ---------------------------------------------------------------------------- the benchmark


def run(cdk_out: Path, rounds: int = ROUNDS) -> Section:
    section = Section("3", "Cold start and size")
    modules = handler_modules()
    wall: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        for round_number in range(rounds):
            order = [BASELINE, FLOOR, *modules]
            order = order[round_number % len(order) :] + order[: round_number % len(order)]  # rotate
            for module, (seconds, cpu_seconds, _) in zip(order, pool.map(import_once, order), strict=True):
                wall[module].append(seconds)
                cpu[module].append(cpu_seconds)
        timed = pool.map(lambda module: import_once(module, importtime=True)[2], modules)
        splits = {module: breakdown(output) for module, output in zip(modules, timed, strict=True)}

    base_cpu, base_wall = median(cpu[BASELINE]), median(wall[BASELINE])
    section.add(
        Figure(
            "3",
            "import boto3 alone (baseline)",
            base_cpu,
            f"{base_cpu * 1000:.0f} ms CPU ({base_wall * 1000:.0f} ms wall)",
        )
    )
    floor = median(cpu[FLOOR]) / base_cpu
    section.add(
        Figure(
            "3",
            "boto3 + Powertools Logger, Metrics (what every handler imports first)",
            floor,
            f"{floor:.2f}x boto3 ({median(cpu[FLOOR]) * 1000:.0f} ms CPU)",
        )
    )
    deployed = packages(cdk_out)
    ratios = {}
    for module in modules:
        name = module.split(".")[0]
        ratio = median(cpu[module]) / base_cpu
        ratios[name] = ratio
        parts = splits[module]
        heavy = sorted(
            ((group, ms) for group, ms in parts.items() if group != "boto3/botocore"),
            key=lambda item: -item[1],
        )[:3]
        why = ""
        if ratio > TARGET_IMPORT_RATIO:
            why = (
                f"boto3 + Powertools alone are {median(cpu[FLOOR]) / base_cpu:.2f}x; beyond boto3 "
                "(self time by package, one -X importtime run, wall): "
                + ", ".join(f"{group} {ms:.0f} ms" for group, ms in heavy)
            )
        label = name if name in deployed else f"{name} (not in the template yet)"
        section.add(
            Figure(
                "3",
                f"import {label}",
                ratio,
                f"{ratio:.2f}x boto3 ({median(cpu[module]) * 1000:.0f} ms CPU, "
                f"{median(wall[module]) * 1000:.0f} ms wall)",
                f"<= {TARGET_IMPORT_RATIO}x",
                at_most(ratio, TARGET_IMPORT_RATIO),
                why,
            )
        )

    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for name, package in sorted(deployed.items()):
        key = (str(package["code"]), *(str(path) for _, path in package["layers"]))
        groups[key].append(name)
    sizes = {}
    for names in groups.values():
        package = deployed[names[0]]
        size = package["bytes"]
        zipped = zipped_bytes(package["code"]) + sum(zipped_bytes(path) for _, path in package["layers"])
        parts = "code asset" + "".join(f" + {_layer_name(ref)} layer" for ref, _ in package["layers"])
        why = ""
        if size > TARGET_PACKAGE_MB * 1e6:
            biggest = max(package["layers"], key=lambda item: tree_bytes(item[1]), default=None)
            if biggest is not None:
                name = _layer_name(biggest[0])
                why = (
                    f"the {name} layer alone is {_mb(tree_bytes(biggest[1])):.1f} MB"
                    f"{LAYER_BULK.get(name.lower(), '')}"
                )
        for name in names:
            sizes[name] = size
        section.details.append(f"Package of {', '.join(names)}: {parts}, {size:,} bytes unzipped.")
        section.add(
            Figure(
                "3",
                f"package, {_count(names)} ({parts})",
                _mb(size),
                f"{_mb(size):.2f} MB unzipped ({_mb(zipped):.2f} MB zipped)",
                f"<= {TARGET_PACKAGE_MB:.0f} MB",
                at_most(_mb(size), TARGET_PACKAGE_MB),
                why,
            )
        )
    layer = powertools_layer_bytes()
    section.add(
        Figure(
            "3",
            "Powertools v3 layer (AWS's, attached to every function; not counted)",
            _mb(layer),
            f"~{_mb(layer):.1f} MB unzipped (same packages as installed here)",
        )
    )
    section.details.append(
        "Import breakdown (self time by package, ms, one `-X importtime` run each; the ratio uses the "
        "median CPU time of the plain runs):"
    )
    group_names = [
        "boto3/botocore",
        "powertools",
        "x-ray sdk",
        "pydantic",
        "smartdoor",
        "function",
        "stdlib/other",
    ]
    rows = []
    for module in modules:
        rows.append([module.split(".")[0], *(f"{splits[module].get(group, 0):.0f}" for group in group_names)])
    section.data = {
        "import_cpu_ms": {m: median(values) * 1000 for m, values in cpu.items()},
        "import_wall_ms": {m: median(values) * 1000 for m, values in wall.items()},
        "ratios": ratios,
        "breakdown_header": ["handler", *group_names],
        "breakdown": rows,
        "package_bytes": sizes,
        "powertools_layer_bytes": layer,
        "rounds": rounds,
    }
    return section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cdk-out", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    write_timed(args.out, lambda: run(args.cdk_out, args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
