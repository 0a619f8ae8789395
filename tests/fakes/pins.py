"""gpiozero's mock pin factory as the factory for every device created meanwhile (the relay's pin)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from gpiozero import Device
from gpiozero.pins.mock import MockFactory


@contextmanager
def mock_pin_factory() -> Iterator[MockFactory]:
    """Devices made inside the block get mock pins; afterwards they are closed and the factory put back."""
    factory = MockFactory()
    previous = Device.pin_factory
    Device.pin_factory = factory
    try:
        yield factory
    finally:
        for device in list(factory.pins.values()):
            device.close()
        factory.reset()
        Device.pin_factory = previous
