"""How the `smartdoor` command finds the running local stack without `--port` every time.

`smartdoor local` writes `local-<port>.json` ({"url", "port", "pid", "startedAt"}) into the
state directory once it is ready, and removes it when it stops. A command that talks to the
local stack picks its port from, in order: `--port`; the SMARTDOOR_PORT environment variable;
the one running stack announced in the state directory (files of processes that are gone are
ignored); 8080.

State directory: SMARTDOOR_STATE_DIR, else `$XDG_STATE_HOME/smartdoor`, else
`~/.local/state/smartdoor`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_PORT = 8080
PORT_VARIABLE = "SMARTDOOR_PORT"
STATE_DIR_VARIABLE = "SMARTDOOR_STATE_DIR"


class SeveralStacks(RuntimeError):
    """More than one local stack runs: the command cannot guess which one is meant."""


@dataclass(frozen=True)
class Announced:
    port: int
    url: str
    pid: int
    path: Path


def state_dir() -> Path:
    explicit = os.environ.get(STATE_DIR_VARIABLE)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "smartdoor"


def announce(port: int, url: str) -> Path:
    """Tell later commands where this stack is; returns the file to `withdraw` on the way out."""
    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"local-{port}.json"
    record = {"url": url, "port": port, "pid": os.getpid(), "startedAt": datetime.now(UTC).isoformat()}
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(record) + "\n", encoding="utf-8")
    partial.replace(path)  # atomic: a reader never sees half a file
    return path


def withdraw(path: Path) -> None:
    try:
        announced = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if announced.get("pid") == os.getpid():  # never remove another stack's announcement
        path.unlink(missing_ok=True)


def running_stacks() -> list[Announced]:
    """The local stacks announced in the state directory whose process still runs."""
    found = []
    for path in sorted(state_dir().glob("local-*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            announced = Announced(int(record["port"]), str(record["url"]), int(record["pid"]), path)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if _alive(announced.pid):
            found.append(announced)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def local_port(explicit: int | None = None) -> int:
    """The port of the local stack a command should talk to (see the module docstring)."""
    if explicit is not None:
        return explicit
    from_env = os.environ.get(PORT_VARIABLE, "").strip()
    if from_env:
        if not from_env.isdigit() or not 1 <= int(from_env) <= 65535:
            raise ValueError(f"{PORT_VARIABLE} must be a port (1-65535), not {from_env!r}")
        return int(from_env)
    stacks = running_stacks()
    if len(stacks) > 1:
        ports = ", ".join(str(stack.port) for stack in stacks)
        raise SeveralStacks(f"several local stacks are running (ports {ports}); choose one with --port")
    return stacks[0].port if stacks else DEFAULT_PORT


def local_url(explicit_port: int | None = None) -> str:
    return f"http://127.0.0.1:{local_port(explicit_port)}"
