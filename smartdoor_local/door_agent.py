"""`smartdoor local --door-agent`: the door agent (smartdoor_door) beside the local stack, in its process.

The agent is configured exactly as `smartdoor-door init --local` configures it (from
`/local/stack`: the door id, no API credential, the stack's MQTT broker) and runs its own loop
(`smartdoor_door.runner.run_agent`): a camera (the laptop's webcam, or a video file) whose
motion sends snapshots, Enter on the terminal rings, and unlock commands drive the console
relay, whose lines appear among the stack's. So `make demo DOOR=webcam` (or a video) runs the
whole loop in one command: motion → snapshot → owner → approve → code → keypad → relay.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from smartdoor.observability import logger

STOP_SECONDS = 15.0


@contextmanager
def running_door_agent(
    site_url: str,
    *,
    video: Path | None = None,
    camera_index: int | None = None,
    say: Callable[[str], None] = print,
) -> Iterator[threading.Thread]:
    """The agent against the running local stack at `site_url`, until the block ends. Without
    `video` or `camera_index` it has no camera (rings and unlock commands only)."""
    from smartdoor_door.runner import RunOptions, run_agent
    from smartdoor_door.stack_outputs import from_local_stack

    config = from_local_stack(site_url, "127.0.0.1", 1883)
    options = RunOptions(
        video=video, camera_index=camera_index, no_camera=video is None and camera_index is None
    )
    stop = threading.Event()

    def run() -> None:
        try:
            run_agent(config, options, stop)
        except Exception as error:  # the stack goes on serving; say why the agent stopped
            logger.exception("The door agent stopped")
            say(f"(the door agent stopped: {error})")

    thread = threading.Thread(target=run, name="smartdoor-door-agent", daemon=True)
    thread.start()
    camera = (
        f"the video {video}"
        if video
        else f"camera {camera_index}"
        if camera_index is not None
        else "no camera"
    )
    say(
        f"Door agent for {config.door_id}: {camera}, its relay on this console, "
        f"MQTT {config.mqtt.host}:{config.mqtt.port}"
    )
    try:
        yield thread
    finally:
        stop.set()
        thread.join(STOP_SECONDS)
