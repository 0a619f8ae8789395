"""Per-process caches (one per warm Lambda container) behind one reset.

`@process_cache` is `functools.cache` that also registers the cached function, so
`clear_process_caches()` forgets every client, table, secret-backed key source, engine and
settings object the Lambda code keeps between invocations: what a fresh process would start
without. `smartdoor.adapters.aws.reset_clients()` calls it; the local stack and the test worlds
call that, and so know no handler's internals.

Pure caches (a compiled route pattern) keep plain `functools.cache`: they hold no AWS state.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

_REGISTERED: list[Any] = []


def process_cache[ResultT](function: Callable[..., ResultT]) -> functools._lru_cache_wrapper[ResultT]:
    cached = functools.cache(function)
    _REGISTERED.append(cached)
    return cached


def clear_process_caches() -> None:
    for cached in list(_REGISTERED):
        cached.cache_clear()


def registered() -> list[str]:
    """`module.function` of every registered cache (for tests and diagnostics)."""
    return [f"{cached.__module__}.{cached.__qualname__}" for cached in _REGISTERED]
