"""Running a load generator from synchronous code, on its own loop in a daemon thread.

Invariant: leaving the `with` block stops the generator gracefully and joins the thread;
`report` then holds the final report, and an error raised in the thread is re-raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from types import TracebackType

from changeover.loadgen.eventloop import new_event_loop
from changeover.loadgen.generator import LoadGenerator
from changeover.loadgen.report import Report
from changeover.loadgen.tally import Tally
from changeover.loadgen.template import Template


class BackgroundLoad:
    """`with BackgroundLoad(url, rate=500) as load: ...`; then `load.report`."""

    def __init__(
        self,
        url: str,
        *,
        rate: float,
        connections: int = 20,
        duration: float | None = None,
        requests: int | None = None,
        templates: Sequence[Template] = (Template(),),
        timeout: float = 10.0,
        count_header: str | None = None,
        seed: int = 0,
        max_failure_records: int = 1000,
        tally: Tally | None = None,
        ssl_context: ssl.SSLContext | None = None,  # an https:// URL's trust (a test CA)
        server_name: str | None = None,  # what TLS names and verifies (else the URL's host)
    ) -> None:
        # Built here so that bad options raise in the caller's thread.
        self._gen = LoadGenerator(
            url,
            rate=rate,
            connections=connections,
            duration=duration,
            requests=requests,
            templates=templates,
            timeout=timeout,
            count_header=count_header,
            seed=seed,
            max_failure_records=max_failure_records,
            tally=tally,
            ssl_context=ssl_context,
            server_name=server_name,
        )
        self._thread = threading.Thread(target=self._main, name="loadgen", daemon=True)
        self._started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._report: Report | None = None

    @property
    def report(self) -> Report:
        """The final report; available once the `with` block has been left."""
        if self._report is None:
            raise RuntimeError("the load is still running: leave the `with` block first")
        return self._report

    def __enter__(self) -> BackgroundLoad:
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and self._thread.is_alive():
            # RuntimeError: the loop closed meanwhile because the run ended by itself.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        self._thread.join()
        if self._error is None:
            return
        if exc is None:
            raise self._error
        exc.add_note(f"the background load generator also failed: {self._error!r}")

    def snapshot(self) -> Report:
        """Counts so far; the final report once the run is over."""
        while self._thread.is_alive() and self._loop is not None:
            taken: Future[Report] = Future()
            try:
                self._loop.call_soon_threadsafe(_take, self._gen, taken)
                return taken.result(timeout=0.1)
            except (RuntimeError, FutureTimeout):
                pass  # loop closing or busy: re-check whether the thread is done
        return self._report if self._report is not None else Report()

    def wait_until(self, condition: Callable[[Report], bool], timeout: float) -> Report:
        """Poll snapshots until `condition` holds; raise TimeoutError after `timeout` s."""
        deadline = time.monotonic() + timeout
        while not condition(snap := self.snapshot()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout}s; last: {snap}")
            time.sleep(0.01)
        return snap

    def _main(self) -> None:
        loop = new_event_loop()
        try:
            loop.run_until_complete(self._run(loop))
        except BaseException as exc:
            self._error = exc
        finally:
            self._started.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        self._stop = asyncio.Event()
        await self._gen.start()
        self._loop = loop
        self._started.set()
        ended = loop.create_task(self._gen.wait())
        stopped = loop.create_task(self._stop.wait())
        await asyncio.wait({ended, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        try:
            self._report = await self._gen.stop()
        finally:
            await asyncio.gather(ended, stopped, return_exceptions=True)
            if self._report is None:
                self._report = self._gen.snapshot()  # counts up to the failure


def _take(gen: LoadGenerator, taken: Future[Report]) -> None:
    taken.set_result(gen.snapshot())
