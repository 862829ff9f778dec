"""Event loop choice: uvloop when it is installed, the stdlib loop otherwise.

Invariant: every loop the load generator creates for itself comes from `new_event_loop`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_factory: Callable[[], asyncio.AbstractEventLoop]
try:
    import uvloop

    _factory = uvloop.new_event_loop
except ImportError:  # pragma: no cover - uvloop is a declared dependency
    _factory = asyncio.new_event_loop


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A fresh event loop, uvloop's when available."""
    return _factory()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` on a loop from `new_event_loop`."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(coro)
