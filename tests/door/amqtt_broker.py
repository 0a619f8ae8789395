"""An MQTT broker for the door agent's tests: amqtt on 127.0.0.1:<port>, anonymous, until killed.

python tests/door/amqtt_broker.py PORT                       # plain TCP (the local broker)
python tests/door/amqtt_broker.py PORT CERT KEY CA           # TLS, as IoT Core: client certs
                                                             # signed by CA are verified
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from amqtt.broker import Broker


async def serve(port: int, tls: list[str]) -> None:
    listener: dict[str, Any] = {"type": "tcp", "bind": f"127.0.0.1:{port}"}
    if tls:
        certfile, keyfile, cafile = tls
        listener.update({"ssl": True, "certfile": certfile, "keyfile": keyfile, "cafile": cafile})
    config = {
        "listeners": {"default": listener},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    broker = Broker(config)
    await broker.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2:5]))
