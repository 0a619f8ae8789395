"""The local stack's MQTT broker: amqtt (a maintained broker from PyPI) on 127.0.0.1, anonymous.

IoT Core's stand-in: the door agent subscribes to `smartdoor/<doorId>/commands` and reports on
`smartdoor/<doorId>/state` here, as it does on AWS. The broker runs in a child process (amqtt is
asyncio; a process of its own keeps it off the stack's threads and makes stopping it certain):

    broker = start_broker()            # a free port on 127.0.0.1; returns once it accepts
    broker.host, broker.port
    broker.stop()

    python smartdoor_local/mqtt_broker.py PORT                  # plain TCP (the local broker)
    python smartdoor_local/mqtt_broker.py PORT CERT KEY CA      # TLS as IoT Core: client
                                                                # certificates signed by CA
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
START_SECONDS = 20.0
_PORT_ATTEMPTS = 3
PARENT_CHECK_SECONDS = 1.0


class BrokerNotStarted(RuntimeError):
    """The broker did not accept connections (its port taken, or amqtt missing)."""


@dataclass
class LocalBroker:
    port: int
    process: subprocess.Popen[bytes]
    host: str = HOST

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start_broker(port: int = 0, tls: tuple[Path, Path, Path] | None = None) -> LocalBroker:
    """amqtt on 127.0.0.1:`port` (0: a free one, tried again if another process takes it first);
    with `tls` = (server cert, server key, CA) it speaks TLS only."""
    attempts = 1 if port else _PORT_ATTEMPTS
    for attempt in range(attempts):
        try:
            return _start(port or free_port(), tls)
        except BrokerNotStarted:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _start(port: int, tls: tuple[Path, Path, Path] | None) -> LocalBroker:
    # By path, not `-m`: the script needs only amqtt, wherever this package is installed from.
    args = [sys.executable, str(Path(__file__)), str(port), *(str(p) for p in tls or ())]
    # Its complaints go to a file, not a pipe: a pipe nobody reads would fill and stall it.
    errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed on every path below
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=errors)  # noqa: S603
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            errors.close()  # the child keeps its own descriptor
            return LocalBroker(port, process)
        except OSError:
            if process.poll() is not None:
                errors.seek(0)
                error = errors.read().decode(errors="replace")[-500:]
                errors.close()
                raise BrokerNotStarted(f"the MQTT broker exited at start on port {port}: {error}") from None
            time.sleep(0.05)
    LocalBroker(port, process).stop()
    errors.close()
    raise BrokerNotStarted(f"the MQTT broker did not listen on {HOST}:{port} within {START_SECONDS:.0f} s")


def broker_config(port: int, tls: list[str]) -> dict[str, Any]:
    listener: dict[str, Any] = {"type": "tcp", "bind": f"{HOST}:{port}"}
    if tls:
        certfile, keyfile, cafile = tls
        listener.update({"ssl": True, "certfile": certfile, "keyfile": keyfile, "cafile": cafile})
    return {
        "listeners": {"default": listener},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }


async def serve(port: int, tls: list[str]) -> None:
    from amqtt.broker import Broker

    parent = os.getppid()
    broker = Broker(broker_config(port, tls))
    await broker.start()
    # Until stopped, or until the process that started it is gone (killed, not stopped): a
    # broker must never outlive its stack, listening on a port nobody will free.
    while os.getppid() == parent:
        await asyncio.sleep(PARENT_CHECK_SECONDS)
    await broker.shutdown()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2:5]))
