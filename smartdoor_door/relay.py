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
    """A laptop has no strike: say what the relay does, once per change."""

    def __init__(self, say: Callable[[str], None] = print) -> None:
        self._say = say
        self._is_open: bool | None = None

    def open(self) -> None:
        self._set(True)

    def close(self) -> None:
        self._set(False)

    def _set(self, is_open: bool) -> None:
        if is_open != self._is_open:
            self._is_open = is_open
            self._say("relay: OPEN" if is_open else "relay: closed")
