"""`Lifecycle`: the application-facing object: settings, registrations, adapters, control.

Invariant: one Lifecycle owns one drain; registrations are validated when made, settings
when constructed (environment variables win over arguments), and everything that acts
goes through the engine, so the ASGI and WSGI adapters share the same rules.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

from changeover.runtime.accepting import successor_shares_listener
from changeover.runtime.asgi import RuntimeASGI
from changeover.runtime.asgi_types import ASGIApp, StreamPredicate, WSGIApp, is_event_stream
from changeover.runtime.config import DEFAULT_GRACE, ConfigError, Timing, timing_from
from changeover.runtime.drain import Drain
from changeover.runtime.effects import Effects
from changeover.runtime.engine import Engine
from changeover.runtime.outcome import Outcome
from changeover.runtime.phase import Phase
from changeover.runtime.registry import Registry
from changeover.runtime.signals import STOP_SIGNALS
from changeover.runtime.token import StopToken
from changeover.runtime.wsgi import RuntimeWSGI

F = TypeVar("F", bound=Callable[..., Any])


class Lifecycle:
    """Graceful lifecycle for one application process; see docs/runtime.md."""

    def __init__(
        self,
        *,
        grace_period: float = DEFAULT_GRACE,
        drain_delay: float = 0.0,
        drain_timeout: float | None = None,
        liveness_path: str = "/livez",
        readiness_path: str = "/readyz",
        end_on_drain: StreamPredicate = is_event_stream,
        environ: Mapping[str, str] | None = None,
        signals: tuple[int, ...] = STOP_SIGNALS,
        effects: Effects | None = None,
    ) -> None:
        for name, path in (("liveness_path", liveness_path), ("readiness_path", readiness_path)):
            if not path.startswith("/"):
                raise ConfigError(f"{name}: expected a path starting with '/', got {path!r}")
        if liveness_path == readiness_path:
            raise ConfigError(f"readiness_path: must differ from liveness_path {liveness_path!r}")
        env = os.environ if environ is None else environ
        self.timing: Timing = timing_from(env, grace_period, drain_delay, drain_timeout)
        self.registry = Registry()
        self._engine = Engine(
            Drain(self.timing), self.registry, effects or Effects(), signals,
            handover=successor_shares_listener(env),
        )  # fmt: skip
        self._paths = (liveness_path, readiness_path)
        self._end_on_drain = end_on_drain

    def __repr__(self) -> str:
        return f"<Lifecycle {self.phase.value} in_flight={self.in_flight}>"

    # --- registration -------------------------------------------------------------

    @overload
    def readiness_check(self, fn: F, *, timeout: float = ..., name: str | None = ...) -> F: ...
    @overload
    def readiness_check(
        self, fn: None = None, *, timeout: float = ..., name: str | None = ...
    ) -> Callable[[F], F]: ...
    def readiness_check(
        self, fn: Any = None, *, timeout: float = 1.0, name: str | None = None
    ) -> Any:
        """Register a check (sync or async) that must pass for `/readyz` to answer 200.

        It fails when it raises, returns False or runs past `timeout` seconds.
        """
        return self._register(fn, lambda f: self.registry.add_check(f, timeout, name))

    @overload
    def on_shutdown(self, fn: F, *, timeout: float = ..., name: str | None = ...) -> F: ...
    @overload
    def on_shutdown(
        self, fn: None = None, *, timeout: float = ..., name: str | None = ...
    ) -> Callable[[F], F]: ...
    def on_shutdown(self, fn: Any = None, *, timeout: float = 5.0, name: str | None = None) -> Any:
        """Register a hook (sync or async) run at shutdown, newest first, each bounded."""
        return self._register(fn, lambda f: self.registry.add_hook(f, timeout, name))

    def background(
        self,
        fn: F,
        *,
        finish_current: bool = True,
        stop_timeout: float = 5.0,
        name: str | None = None,
    ) -> F:
        """Run `fn(stopping)` for the life of the process (a task under ASGI, a thread
        under WSGI). On drain `stopping` is set; with `finish_current` the worker has
        `stop_timeout` seconds to finish its item and return, else it is cancelled."""
        self.registry.add_worker(fn, finish_current, stop_timeout, name)
        return fn

    @staticmethod
    def _register(fn: Any, add: Callable[[Any], object]) -> Any:
        def decorate(f: F) -> F:
            add(f)
            return f

        return decorate if fn is None else decorate(fn)

    # --- adapters -------------------------------------------------------------------

    def asgi(self, app: ASGIApp) -> RuntimeASGI:
        """Wrap an ASGI app (FastAPI, Starlette, Django's ASGI handler, ...)."""
        _check_app("asgi", app)
        return RuntimeASGI(app, self._engine, self._paths, self._end_on_drain)

    def wsgi(self, app: WSGIApp) -> RuntimeWSGI:
        """Wrap a WSGI app (Flask, Django's WSGI handler, ...): the runtime starts now."""
        _check_app("wsgi", app)
        return RuntimeWSGI(app, self._engine, self._paths)

    # --- state and control -----------------------------------------------------------

    @property
    def phase(self) -> Phase:
        return self._engine.drain.phase

    @property
    def in_flight(self) -> int:
        return self._engine.drain.in_flight

    @property
    def stopping(self) -> StopToken:
        """Set when the drain begins: long loops should check it and wind down."""
        return self._engine.stopping

    @property
    def outcome(self) -> Outcome | None:
        """What the drain left behind, once finished."""
        return self._engine.drain.outcome

    def install_signal_handlers(self) -> bool:
        """Chain SIGTERM/SIGINT in front of the server's handlers (main thread only).

        The adapters call it at startup; call it yourself where a server installs its
        handlers after loading the app (see docs/runtime.md). False off the main thread.
        """
        return self._engine.install_signal_handlers()

    def stop(self) -> bool:
        """Begin the drain from code, as SIGTERM would (the process is not ended)."""
        return self._engine.stop()


def _check_app(kind: str, app: object) -> None:
    if not callable(app):
        raise ConfigError(
            f"{kind}: expected the {kind.upper()} application (a callable), got {app!r}"
        )
