"""`smartdoor-door run`: wire the camera, the doorbell, the API, the broker and the relay.

Order matters for fail-secure: the relay is created closed before anything else, the lock is
ticked on its own thread (so the door relocks on time whatever the camera does), and every way
out (Ctrl-C, an error) closes the relay.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smartdoor_door.agent import Agent, Worker, pump_frames
from smartdoor_door.camera import FrameSource, open_source
from smartdoor_door.config import DoorConfig
from smartdoor_door.lock import DoorLock
from smartdoor_door.motion import MotionDetector
from smartdoor_door.mqtt import CommandListener, tls_context
from smartdoor_door.relay import ConsoleRelay, GpioRelay, Relay
from smartdoor_door.uploads import DoorApi, auth_for

logger = logging.getLogger(__name__)
TICK_SECONDS = 0.1


@dataclass(frozen=True)
class RunOptions:
    video: Path | None = None
    camera_index: int | None = None
    no_camera: bool = False


def make_relay(config: DoorConfig) -> Relay:
    if config.gpio.enabled:
        return GpioRelay(config.gpio.relay_pin, active_high=config.gpio.relay_active_high)
    return ConsoleRelay()


def open_camera(config: DoorConfig, options: RunOptions) -> FrameSource | None:
    if options.no_camera:
        return None
    index = config.camera.index if options.camera_index is None else options.camera_index
    return open_source(config.camera.source, index, options.video)


def make_agent(config: DoorConfig, submit: Callable[[Callable[[], None]], None]) -> Agent:
    api = DoorApi(config.api.url, config.door_id, auth_for(config.api))
    camera = config.camera
    detector = MotionDetector(camera.motion_sensitivity, camera.motion_cooldown_seconds)
    return Agent(
        api,
        detector,
        burst_frames=camera.burst_frames,
        burst_seconds=camera.burst_seconds,
        upload_frames=camera.upload_frames,
        submit=submit,
    )


def tick_lock(lock: DoorLock, stop: threading.Event) -> None:
    while not stop.wait(TICK_SECONDS):
        try:
            lock.tick()
        except Exception:
            logger.exception("the lock's timer failed: locking")
            lock.lock("timer error")


def listen_for_rings(config: DoorConfig, agent: Agent) -> Any:
    """A GPIO button on a Pi (returned, to close at the end); Enter on a laptop's terminal."""
    if config.gpio.enabled:
        from gpiozero import Button

        button = Button(config.gpio.button_pin, pull_up=True, bounce_time=0.05)
        button.when_pressed = agent.ring
        logger.info("the doorbell is the button on GPIO %d", config.gpio.button_pin)
        return button
    if sys.stdin.isatty():
        thread = threading.Thread(target=enter_rings, args=(agent, sys.stdin), daemon=True)
        thread.start()
        logger.info("press Enter to ring the doorbell")
    return None


def enter_rings(agent: Agent, lines: Iterable[str]) -> None:
    """Each line typed (Enter) is one press of the bell."""
    for _ in lines:
        agent.ring()


def run_agent(config: DoorConfig, options: RunOptions, stop: threading.Event | None = None) -> None:
    """Runs until `stop` is set (never, from the command line: Ctrl-C ends it)."""
    stop = stop or threading.Event()
    if config.mqtt.mode == "aws":
        tls_context(config.mqtt)  # a bad certificate is a clear error before anything starts
    source = open_camera(config, options)
    relay = make_relay(config)
    worker = Worker()
    listener = CommandListener(config, lambda report: DoorLock(relay, report))
    button = None
    try:
        worker.start()
        listener.start()
        threading.Thread(target=tick_lock, args=(listener.lock, stop), daemon=True).start()
        agent = make_agent(config, worker.submit)
        button = listen_for_rings(config, agent)
        logger.info("door %s: agent running (Ctrl-C stops)", config.door_id)
        _watch(source, agent, stop, options)
        stop.wait()
    finally:
        stop.set()
        listener.stop()
        worker.stop()
        _close(source, button, relay)


def _close(source: FrameSource | None, button: Any, relay: Relay) -> None:
    if source is not None:
        source.close()
    if button is not None:
        button.close()
    if isinstance(relay, GpioRelay):
        relay.release()


def _watch(source: FrameSource | None, agent: Agent, stop: threading.Event, options: RunOptions) -> None:
    if source is None:
        logger.info("no camera: rings and unlock commands only")
        return
    interval = 1.0 / 15 if options.video is not None else 0.0  # play a file at about camera speed
    pump_frames(source, agent, stop, frame_interval=interval)
