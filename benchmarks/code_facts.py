"""What the code (not the template) says about the bill: the custom metrics it emits and how many
SMS segments its texts take.

- Custom metrics: Powertools' Metrics gives every metric a `service` dimension (the function's
  name), so each (function, metric name) pair is one CloudWatch metric. The names are read from
  the source: every `add_metric(name=...)` call under functions/, with the name a string, a
  conditional between strings, an f-string whose variants `FSTRING_VARIANTS` lists, or a lookup
  in a module-level dict of strings. A call in any other form raises, so a new metric can never
  go unpriced. Today no function emits one: what they count are log fields
  (smartdoor.observability.log_counts), since no alarm reads them.
- Dimensions: the inventory prices the `service` dimension alone. A call that adds one
  (`add_dimension`, `set_default_dimensions`, `single_metric`) raises: each value of a
  dimension is a metric of its own, and a visit or visitor id would make thousands.
- SMS segments: the owner's approval request and the visitor's code, rendered by the very
  functions that send them, with the pages on CloudFront's own domain (the default), counted as
  AWS bills them ([character limits]: 160 GSM 03.38 characters in one part, 153 per part when
  split; 70 and 67 with any other character). https://docs.aws.amazon.com/sms-voice/latest/userguide/sms-limitations-character.html
"""

from __future__ import annotations

import ast
import logging
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = REPO_ROOT / "functions"
# Shared code (functions/smartdoor) emits no metric of its own: each function's module does.
SHARED_PACKAGES = frozenset({"smartdoor"})
# The values the f-string metric names take (the code's enums).
FSTRING_VARIANTS = {
    "StreamProcessor{}": ("Start", "Stop"),
    "Approvals{}": ("Approved", "Denied"),
}
# CloudFront's default domain (d + 13 characters), the pages' address without -c siteUrl.
CLOUDFRONT_SITE = "https://d111111abcdef8.cloudfront.net"

# GSM 03.38: the basic set (one septet each) and the extension table (two septets each).
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€\f")


class UnreadableMetric(ValueError):
    """An add_metric call whose name the inventory cannot read."""


class UnpricedDimension(ValueError):
    """A metric dimension beyond `service`: one metric per value, which the model does not count."""


DIMENSION_CALLS = frozenset({"add_dimension", "set_default_dimensions", "single_metric"})


@dataclass(frozen=True)
class CodeFacts:
    metrics: frozenset[tuple[str, str]]  # (function, metric name)
    owner_sms_segments: int
    visitor_sms_segments: int

    @property
    def custom_metrics(self) -> int:
        return len(self.metrics)


def sms_segments(text: str) -> int:
    """How many parts AWS splits (and bills) `text` into."""
    if all(character in _GSM_BASIC or character in _GSM_EXTENDED for character in text):
        septets = sum(2 if character in _GSM_EXTENDED else 1 for character in text)
        return 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


# ---------------------------------------------------------------------------- metrics


def metric_inventory(root: Path = FUNCTIONS) -> frozenset[tuple[str, str]]:
    found = set()
    for path in sorted(root.rglob("*.py")):
        function = path.relative_to(root).parts[0]
        if function in SHARED_PACKAGES or "__pycache__" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        _refuse_dimensions(tree, path)
        dicts = _string_dicts(tree)
        for call in _add_metric_calls(tree):
            for name in _names(call, dicts, path):
                found.add(("api" if function == "api" else function, name))
    return frozenset(found)


def _refuse_dimensions(tree: ast.AST, path: Path) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if called in DIMENSION_CALLS:
                raise UnpricedDimension(
                    f"{path}:{node.lineno}: {called} adds a metric dimension (one metric per value): "
                    "count it as a log field, or price its values in benchmarks/code_facts.py"
                )


def _add_metric_calls(tree: ast.AST) -> Iterator[ast.Call]:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "add_metric"
        ):
            yield node


def _string_dicts(tree: ast.AST) -> dict[str, list[str]]:
    """Names bound to dict literals of strings (module or class level): `_METRIC_NAMES = {...}`."""
    found = {}
    for node in ast.walk(tree):
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        value = getattr(node, "value", None)
        if isinstance(value, ast.Dict) and all(
            isinstance(v, ast.Constant) and isinstance(v.value, str) for v in value.values
        ):
            for target in targets:
                if isinstance(target, ast.Name):
                    found[target.id] = [str(v.value) for v in value.values if isinstance(v, ast.Constant)]
    return found


def _names(call: ast.Call, dicts: dict[str, list[str]], path: Path) -> list[str]:
    name = next((keyword.value for keyword in call.keywords if keyword.arg == "name"), None)
    names = _read(name, dicts) if name is not None else None
    if not names:
        raise UnreadableMetric(
            f"{path}:{call.lineno}: add_metric's name is not in a form the cost model reads"
        )
    return names


def _read(node: ast.expr, dicts: dict[str, list[str]]) -> list[str] | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        body, orelse = _read(node.body, dicts), _read(node.orelse, dicts)
        return body + orelse if body and orelse else None
    if isinstance(node, ast.JoinedStr):
        pattern = "".join(part.value if isinstance(part, ast.Constant) else "{}" for part in node.values)
        variants = FSTRING_VARIANTS.get(pattern)
        return [pattern.format(variant) for variant in variants] if variants else None
    if isinstance(node, ast.Subscript):
        base = node.value
        key = (
            base.attr if isinstance(base, ast.Attribute) else base.id if isinstance(base, ast.Name) else None
        )
        return dicts.get(key) if key else None
    return None


# ---------------------------------------------------------------------------- SMS texts


def sample_texts(door_id: str = "front-door", site_url: str = CLOUDFRONT_SITE) -> dict[str, str]:
    """The owner's approval SMS and a visitor's code SMS as the functions write them."""
    if str(FUNCTIONS) not in sys.path:
        sys.path.insert(0, str(FUNCTIONS))
    logging.disable(logging.INFO)  # create_approval logs; the bench prints figures only
    try:
        return _render(door_id, site_url)
    finally:
        logging.disable(logging.NOTSET)


def _render(door_id: str, site_url: str) -> dict[str, str]:
    from smartdoor.domain import approvals, otp
    from smartdoor.models import VisitPhoto

    now = datetime(2026, 12, 1, 17, 45, tzinfo=UTC)
    request = approvals.create_approval(
        visit_id="front-door-1796319923454",
        door_id=door_id,
        photo=VisitPhoto(bucket="photos", frame_key="visits/v/frame.jpg", face_key="visits/v/face.jpg"),
        seen_at=now,
        timeout_seconds=600,
        photos_bucket="photos",
        approvals=_Nowhere(),
        now=now + timedelta(seconds=2),
    )
    link_id = approvals.approval_link_id(request.approval_ref, b"k" * 32)
    owner = approvals.owner_sms_text(request, approvals.approval_link(site_url, link_id))
    code, key = otp.generate_code(), otp.generate_link_key()
    visitor = otp.sms_text(door_id, code, 300, otp.unlock_link(site_url, door_id, code, key))
    return {"owner": owner, "visitor": visitor}


class _Nowhere:
    """An approval store that keeps nothing (the text needs only the request itself)."""

    def add(self, approval: object) -> None:
        return None


def read_code(door_id: str = "front-door") -> CodeFacts:
    texts = sample_texts(door_id)
    return CodeFacts(
        metrics=metric_inventory(),
        owner_sms_segments=sms_segments(texts["owner"]),
        visitor_sms_segments=sms_segments(texts["visitor"]),
    )
