"""Calling application code (sync or async) under a timeout, from a loop or from a thread.

Invariant: a call never raises into the runtime and never outlives its timeout from the
caller's point of view; the answer is None (success) or one line saying what went wrong.
A timed-out sync function keeps running in its daemon thread: Python cannot stop it.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from typing import Any

from changeover.runtime.registry import Call

Failure = str | None  # None: the call succeeded


def judge(result: object) -> Failure:
    """A returned False is a failure (readiness checks may answer with a bool)."""
    return "returned False" if result is False else None


def describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def call_async(fn: Call, timeout: float) -> Failure:  # noqa: ASYNC109
    """Run `fn` on the running loop (async) or in a worker thread (sync)."""
    try:
        async with asyncio.timeout(timeout):
            if inspect.iscoroutinefunction(fn):
                return judge(await fn())
            result = await asyncio.to_thread(fn)
            if inspect.isawaitable(result):
                result = await result
            return judge(result)
    except TimeoutError:
        return f"timed out after {timeout:g}s"
    except Exception as exc:
        return describe(exc)


def call_sync(fn: Call, timeout: float) -> Failure:
    """Run `fn` in a daemon thread (async functions on a private loop) and wait."""
    return calls_sync([(fn, timeout)])[0]


def calls_sync(calls: list[tuple[Call, float]]) -> list[Failure]:
    """Run every call at once, each in its own daemon thread; answers in order."""
    began = time.monotonic()
    started = [(_start(fn), timeout) for fn, timeout in calls]
    answers: list[Failure] = []
    for (thread, box), timeout in started:
        thread.join(max(0.0, began + timeout - time.monotonic()))
        answers.append(box[0] if box else f"timed out after {timeout:g}s")
    return answers


def _start(fn: Call) -> tuple[threading.Thread, list[Failure]]:
    box: list[Failure] = []

    def target() -> None:
        try:
            result: Any = fn()
            if inspect.isawaitable(result):
                result = asyncio.run(_await(result))
            box.append(judge(result))
        except Exception as exc:
            box.append(describe(exc))

    thread = threading.Thread(target=target, name="changeover-call", daemon=True)
    thread.start()
    return thread, box


async def _await(awaitable: Any) -> Any:
    return await awaitable
