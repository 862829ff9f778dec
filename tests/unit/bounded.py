"""Running a test's coroutine with a guard, so a hung test fails instead of hanging CI.

Invariant: the guard is only ever reached by a test that is about to fail; no verdict
depends on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], guard: float = 20.0) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(guard):
            return await coro

    return asyncio.run(bounded())
