"""The drain engine: the pure `Drain` machine plus its effects (signals, timers, hooks, exit).

Invariant: the machine is only touched under one lock and never from a signal handler;
decisions are taken under the lock and acted on outside it; the shutdown sequence runs
once (background work, then the app's own shutdown, then hooks in reverse order), and a
signal-started drain always ends the process: with the outcome's code, or with
`ExitCode.DEADLINE` from the watchdog before the grace period runs out.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable

from changeover.runtime.accepting import listeners, stop_accepting
from changeover.runtime.background import TaskWorkers, ThreadWorkers
from changeover.runtime.drain import Drain
from changeover.runtime.driver import Driver
from changeover.runtime.effects import Effects
from changeover.runtime.hooks import run_hooks_async, run_hooks_sync
from changeover.runtime.outcome import ExitCode, Outcome
from changeover.runtime.phase import Phase
from changeover.runtime.registry import Registry
from changeover.runtime.signals import STOP_SIGNALS, SignalRelay
from changeover.runtime.token import StopToken

log = logging.getLogger("changeover.runtime")


class Engine:
    def __init__(
        self,
        drain: Drain,
        registry: Registry,
        effects: Effects,
        signals: tuple[int, ...] = STOP_SIGNALS,
        handover: bool = False,
    ) -> None:
        self.drain = drain
        self.registry = registry
        self.fx = effects
        self.lock = threading.Lock()
        self.stopping = StopToken()
        self.driver = Driver(self._step)
        self.relay = SignalRelay(self.driver.wake)
        self.signals = signals
        self.handover = handover  # a successor accepts on our socket: stop accepting at once
        self.mode = ""  # "asgi" or "wsgi", set by the adapter
        self.loop: asyncio.AbstractEventLoop | None = None
        self.tasks: TaskWorkers | None = None
        self.threads: ThreadWorkers | None = None
        self.by_signal = False  # a signal started the drain: the process must end
        self._seen = 0  # signals already acted on
        self._finishing = False
        self._watchdog: threading.Timer | None = None

    def install_signal_handlers(self) -> bool:
        self.driver.start()
        return self.relay.install(self.signals)

    def started(self) -> None:
        with self.lock:
            self.drain.started()
            serving = self.drain.phase is Phase.SERVING
        if serving:
            self.fx.notify("READY=1")

    def request_started(self) -> None:
        with self.lock:
            self.drain.request_started()

    def request_finished(self, *, cut: bool = False) -> None:
        with self.lock:
            self.drain.request_finished(cut=cut)
            draining = self.drain.phase.draining
        if draining:
            self.driver.wake()

    def stop(self, *, by_signal: bool = False) -> bool:
        """Begin the drain; True for the call that began it."""
        with self.lock:
            began = self.drain.stop(self.fx.clock())
            exit_at = self.drain.exit_at()
        if by_signal:
            self._arm_exit(exit_at)
        if not began:
            return False
        log.info("changeover.runtime: draining (%s)", "signal" if by_signal else "stop()")
        self.stopping.set()
        self.fx.notify("STOPPING=1")
        if self.handover:
            closed = stop_accepting(listeners(self.relay.previous.values()))
            log.info("changeover.runtime: a successor accepts; %d listener(s) closed", closed)
        self.driver.start()
        self.driver.wake()
        return True

    def _arm_exit(self, exit_at: float | None) -> None:
        """From now on the process must end, by the grace deadline at the latest."""
        self.by_signal = True
        if self._watchdog is None and exit_at is not None:
            self._watchdog = threading.Timer(max(0.0, exit_at - self.fx.clock()), self._deadline)
            self._watchdog.daemon = True
            self._watchdog.start()

    def _step(self) -> float | None:
        fresh = self.relay.received[self._seen :]
        self._seen += len(fresh)
        if fresh and not self.stop(by_signal=True) and self.drain.phase is not Phase.DRAINING:
            self.relay.release()  # released already: pass later signals straight on
        now = self.fx.clock()
        with self.lock:
            due = self.drain.release_due(now)
            if due:
                self.drain.released(now)
            wait = self.drain.next_check(now)
        if due:
            self._release()
        return wait

    def _release(self) -> None:
        log.info("changeover.runtime: releasing the server (in flight: %d)", self.drain.in_flight)
        loop = self.loop
        if self.mode == "wsgi":
            # Started before the server is released and not a daemon (explicitly: threads
            # inherit it from the driver): exit waits for it, so the hooks always run.
            threading.Thread(target=self.finish_sync, name="co-finish", daemon=False).start()
        elif (
            self.by_signal and not self.relay.server_handles_stop and loop and not loop.is_closed()
        ):
            # Nobody else will stop: finish on the serving loop, then exit.
            asyncio.run_coroutine_threadsafe(self.finish_async(), loop)
        self.relay.release()

    def _claim_finish(self) -> bool:
        with self.lock:
            if self._finishing:
                return False
            self._finishing = True
            now = self.fx.clock()
            if not self.drain.phase.draining:
                self.drain.stop(now)
            self.drain.released(now)
        self.stopping.set()
        return True

    async def finish_async(
        self, app_shutdown: Callable[[], Awaitable[None]] | None = None
    ) -> Outcome | None:
        """The shutdown sequence on the serving loop (ASGI lifespan shutdown)."""
        if not self._claim_finish():
            return None
        background = await self.tasks.stop() if self.tasks else ()
        if app_shutdown is not None:
            await app_shutdown()
        return self._close(await run_hooks_async(self.registry.hooks), background)

    def finish_sync(self) -> Outcome | None:
        """The shutdown sequence on a plain thread (WSGI)."""
        if not self._claim_finish():
            return None
        background = self.threads.stop() if self.threads else ()
        return self._close(run_hooks_sync(self.registry.hooks), background)

    def _close(self, failed: tuple[str, ...], background: tuple[str, ...]) -> Outcome:
        with self.lock:
            outcome = self.drain.finish(failed, background)
        level = logging.INFO if outcome.exit_code == ExitCode.CLEAN else logging.WARNING
        log.log(level, "changeover.runtime: drained: %s", outcome.describe())
        if self.by_signal:
            self.fx.exit(int(outcome.exit_code))
        return outcome

    def _deadline(self) -> None:
        if self.drain.outcome is None:
            log.error("changeover.runtime: exit deadline reached before the drain finished")
            self.fx.exit(int(ExitCode.DEADLINE))
