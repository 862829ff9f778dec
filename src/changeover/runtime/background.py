"""Background workers: asyncio tasks under ASGI, daemon threads under WSGI.

Invariant: on stop every worker sees the token at once; a worker registered with
`finish_current=False` is cancelled at once (tasks) and is not counted as a failure, and
any other worker still running after its `stop_timeout`, or that crashed, is reported by
name, which makes the exit code non-zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading

from changeover.runtime.registry import Worker
from changeover.runtime.token import StopToken

log = logging.getLogger("changeover.runtime")


class TaskWorkers:
    """Runs async workers as tasks on the serving loop."""

    def __init__(self, workers: list[Worker], token: StopToken) -> None:
        self._workers = workers
        self._token = token
        self._tasks: dict[str, asyncio.Task[object]] = {}

    def start(self) -> None:
        for worker in self._workers:
            if not inspect.iscoroutinefunction(worker.fn):
                raise TypeError(
                    f"background {worker.name!r}: expected an async function under ASGI,"
                    f" got {worker.fn!r}"
                )
            coro = worker.fn(self._token)
            self._tasks[worker.name] = asyncio.ensure_future(coro)

    async def stop(self) -> tuple[str, ...]:
        """Cancel or wait as each worker asked; the names of those that ended badly."""
        bad = await asyncio.gather(
            *(self._stop_one(w) for w in self._workers if w.name in self._tasks)
        )
        return tuple(name for name in bad if name)

    async def _stop_one(self, worker: Worker) -> str | None:
        task = self._tasks[worker.name]
        if not worker.finish_current:
            task.cancel()
        done, _ = await asyncio.wait({task}, timeout=worker.stop_timeout)
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            log.warning("background %r cancelled after %gs", worker.name, worker.stop_timeout)
            return worker.name
        return _crashed(worker, task)


def _crashed(worker: Worker, task: asyncio.Task[object]) -> str | None:
    if task.cancelled():
        return None if not worker.finish_current else worker.name
    exc = task.exception()
    if exc is None:
        return None
    log.error("background %r crashed: %r", worker.name, exc)
    return worker.name


class ThreadWorkers:
    """Runs sync workers as daemon threads (threads cannot be cancelled, only abandoned)."""

    def __init__(self, workers: list[Worker], token: StopToken) -> None:
        self._workers = workers
        self._token = token
        self._threads: dict[str, threading.Thread] = {}
        self._crashed: set[str] = set()

    def start(self) -> None:
        for worker in self._workers:
            if inspect.iscoroutinefunction(worker.fn):
                raise TypeError(
                    f"background {worker.name!r}: expected a plain function under WSGI,"
                    f" got the async {worker.fn!r}"
                )
            thread = threading.Thread(
                target=self._run, args=(worker,), name=f"bg-{worker.name}", daemon=True
            )
            self._threads[worker.name] = thread
            thread.start()

    def _run(self, worker: Worker) -> None:
        try:
            worker.fn(self._token)
        except Exception:
            log.exception("background %r crashed", worker.name)
            self._crashed.add(worker.name)

    def stop(self) -> tuple[str, ...]:
        bad: list[str] = []
        for worker in self._workers:
            thread = self._threads.get(worker.name)
            if thread is None:
                continue
            thread.join(worker.stop_timeout if worker.finish_current else 0)
            if thread.is_alive() and worker.finish_current:
                log.warning(
                    "background %r still running after %gs", worker.name, worker.stop_timeout
                )
                bad.append(worker.name)
            elif worker.name in self._crashed:
                bad.append(worker.name)
        return tuple(bad)
