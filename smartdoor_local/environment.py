"""Process environment changes that are put back exactly as they were."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager


@contextmanager
def patched_environ(changes: Mapping[str, str], removed: Iterable[str] = ()) -> Iterator[None]:
    """Set `changes` and unset `removed` in os.environ; afterwards every name touched has its
    old value again, or is unset if it had none."""
    removed = tuple(removed)
    saved = {name: os.environ.get(name) for name in (*changes, *removed)}
    for name in removed:
        os.environ.pop(name, None)
    os.environ.update(changes)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
