"""An MQTT broker for the door agent's tests: amqtt on 127.0.0.1:<port>, anonymous, until killed.

python tests/door/amqtt_broker.py PORT
"""

from __future__ import annotations

import asyncio
import sys

from amqtt.broker import Broker


async def serve(port: int) -> None:
    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    broker = Broker(config)
    await broker.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
