"""The door strike's relay: a GPIO output on a Pi, a console line on a laptop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class Relay(Protocol):
    def open(self) -> None:
        """Energise: the door can be pushed open."""
        ...

    def close(self) -> None:
        """De-energise: locked (also the state after any failure)."""
        ...


class GpioRelay:
    """gpiozero OutputDevice on `pin` (BCM numbering); starts closed (locked)."""

    def __init__(self, pin: int, *, active_high: bool = True, pin_factory: Any = None) -> None:
        from gpiozero import OutputDevice

        self._device = OutputDevice(
            pin, active_high=active_high, initial_value=False, pin_factory=pin_factory
        )

    def open(self) -> None:
        self._device.on()

    def close(self) -> None:
        self._device.off()

    def release(self) -> None:
        self._device.off()
        self._device.close()


class ConsoleRelay:
    """A laptop has no strike: say what the relay would do."""

    def __init__(self, say: Callable[[str], None] = print) -> None:
        self._say = say

    def open(self) -> None:
        self._say("relay: OPEN")

    def close(self) -> None:
        self._say("relay: closed")
