"""How `smartdoor` commands pick the local stack's port (smartdoor_local.discovery)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from smartdoor_local import discovery

# Above Linux's largest pid_max (2**22): no process can have it.
DEAD_PID = 2**22 + 1


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SMARTDOOR_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("SMARTDOOR_PORT", raising=False)
    return tmp_path / "state"


def write(state: Path, port: int, pid: int) -> Path:
    state.mkdir(parents=True, exist_ok=True)
    path = state / f"local-{port}.json"
    path.write_text(json.dumps({"url": f"http://127.0.0.1:{port}", "port": port, "pid": pid}))
    return path


def test_nothing_announced_is_the_default_port(state: Path) -> None:
    assert discovery.local_port() == 8080


def test_the_announced_stack_is_found_and_withdrawn(state: Path) -> None:
    # GIVEN this process announced a stack on 9123
    path = discovery.announce(9123, "http://127.0.0.1:9123")
    # THEN commands find it, and after withdrawing nothing is left
    assert discovery.local_port() == 9123
    discovery.withdraw(path)
    assert not path.exists()
    assert discovery.local_port() == 8080


def test_an_announcement_of_a_dead_process_is_ignored(state: Path) -> None:
    write(state, 9124, DEAD_PID)
    assert discovery.local_port() == 8080


def test_withdraw_leaves_another_process_announcement(state: Path) -> None:
    # GIVEN another stack later announced itself on the same port (this one's file was replaced)
    path = write(state, 9125, os.getppid())
    # WHEN this process withdraws
    discovery.withdraw(path)
    # THEN the other stack's announcement stays
    assert path.exists()


def test_explicit_port_then_environment_then_announcement(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(state, 9126, os.getpid())
    assert discovery.local_port() == 9126
    monkeypatch.setenv("SMARTDOOR_PORT", "9200")
    assert discovery.local_port() == 9200
    assert discovery.local_port(9300) == 9300


def test_a_bad_environment_port_is_a_clear_error(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTDOOR_PORT", "eighty")
    with pytest.raises(ValueError, match="SMARTDOOR_PORT must be a port"):
        discovery.local_port()


def test_two_running_stacks_need_a_choice(state: Path) -> None:
    write(state, 9127, os.getpid())
    write(state, 9128, os.getppid())
    with pytest.raises(discovery.SeveralStacks, match=r"ports 9127, 9128\); choose one with --port"):
        discovery.local_port()
