"""`Client`: evaluate flags locally against the latest state a flag server served.

Invariant: no public method raises into the application or waits on the network: every
answer comes from the state in memory (the bootstrap, then the last good document), and any
error during evaluation yields the caller's default. The state is swapped by one attribute
assignment, so evaluations never lock and never see half a state. A forked child (gunicorn
`--preload`, Celery prefork) gets its own refresher thread and connection.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from changeover.flags.diff import changed_flags
from changeover.flags.effects import Effects, SystemEffects
from changeover.flags.engine import Context, State
from changeover.flags.events import FlagsChanged, Listener, Listeners
from changeover.flags.load import load_state_file, parse_state
from changeover.flags.model import StateDocument
from changeover.flags.poll import Poller
from changeover.flags.refresher import Refresher, Status
from changeover.flags.result import DISABLED_VARIANT, ErrorCode, Evaluation, Reason, Variant
from changeover.flags.transport import Fetcher

log = logging.getLogger("changeover.flags")

EMPTY_STATE = State(StateDocument(version=2))


class Client:
    def __init__(
        self,
        url: str | None,
        *,
        uds: str | None = None,
        bootstrap: Path | Mapping[str, Any] | None = None,
        poll_interval: float = 15.0,
        long_poll: bool = True,
        wait: float = 30.0,
        timeout: float = 10.0,
        headers: dict[str, str] | None = None,
        token: str | None = None,
        effects: Effects | None = None,
    ) -> None:
        """`url=None` makes an offline client that only serves `bootstrap`; `token` is
        sent as `Authorization: Bearer <token>` (the agent's `[flags] listen` needs it).

        Raises FlagStateError if the bootstrap is invalid, ValueError for a bad url, token
        or interval: configuration errors surface at start, never during evaluation.
        """
        self._effects = effects if effects is not None else SystemEffects()
        self._state = EMPTY_STATE
        self._listeners = Listeners()
        self._ready = threading.Event()
        self._reported: set[tuple[str, type[BaseException]]] = set()
        if bootstrap is not None:
            self._state = _bootstrap(bootstrap)
            self._ready.set()
        self._refresher: Refresher | None = None
        if url is not None:
            fetcher = Fetcher(url, uds=uds, timeout=timeout, headers=_with_token(headers, token))
            poller = Poller(poll_interval=poll_interval, long_poll=long_poll, wait=wait)
            self._refresher = Refresher(fetcher, poller, self._install)
            self._refresher.start()
            os.register_at_fork(after_in_child=functools.partial(_after_fork, weakref.ref(self)))

    def __repr__(self) -> str:
        return f"<flags.Client {self._state!r} ready={self._ready.is_set()}>"

    @property
    def state(self) -> State:
        return self._state

    def is_enabled(self, name: str, context: Context | None = None, default: bool = False) -> bool:
        try:
            on = self._state.is_enabled(name, context, self._effects)
        except Exception as exc:
            self._report(name, exc)
            return default
        return default if on is None else on

    def variant(self, name: str, context: Context | None = None) -> Variant:
        return self.evaluate(name, context).variant

    def evaluate(self, name: str, context: Context | None = None) -> Evaluation:
        try:
            return self._state.evaluate(name, context, self._effects)
        except Exception as exc:
            self._report(name, exc)
            message = f"evaluating {name!r} failed: {exc!r}"
            return Evaluation(
                name, False, DISABLED_VARIANT, Reason.ERROR, ErrorCode.GENERAL, message
            )

    def on_change(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` (on the refresh thread) after each new state; returns unsubscribe."""
        return self._listeners.add(listener)

    def wait_until_ready(self, timeout: float | None = None) -> bool:
        """Block until a state is loaded (bootstrap or first fetch); False on timeout."""
        return self._ready.wait(timeout)

    def status(self) -> Status | None:
        return self._refresher.status() if self._refresher is not None else None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> Client:
        """The client for the agent that runs this process (CHANGEOVER_FLAGS_URL and
        CHANGEOVER_FLAGS_SOCKET, set for every replica), or for an agent's TCP listener
        (CHANGEOVER_FLAGS_URL `http://host:port/v1/flags` with CHANGEOVER_FLAGS_TOKEN and
        no socket); offline if neither URL nor socket is set. CHANGEOVER_FLAGS_FILE names
        a flag document to serve first (the ConfigMap `changeover k8s render --flags`
        mounts in a pod, where it is all the client serves)."""
        env = os.environ if environ is None else environ
        if env.get("CHANGEOVER_FLAGS_FILE"):
            options.setdefault("bootstrap", Path(env["CHANGEOVER_FLAGS_FILE"]))
        uds = env.get("CHANGEOVER_FLAGS_SOCKET") or None
        url = env.get("CHANGEOVER_FLAGS_URL") or ("http://agent/v1/flags" if uds else None)
        if uds is None and url is not None and url.startswith(("http://", "https://")):
            options.setdefault("token", env.get("CHANGEOVER_FLAGS_TOKEN") or None)
        return cls(url, uds=uds, **options)

    def close(self) -> None:
        if self._refresher is not None:
            self._refresher.stop()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _install(self, state: State, etag: str | None) -> None:
        old, self._state = self._state, state
        self._ready.set()
        self._listeners.notify(FlagsChanged(changed_flags(old, state), etag))

    def _restart_after_fork(self) -> None:
        # Only the forking thread survives fork: locks may be held by threads that are gone,
        # the refresher thread is gone, and the random generator would repeat the parent's.
        self._listeners.after_fork()
        ready, self._ready = self._ready.is_set(), threading.Event()
        if ready:
            self._ready.set()
        if isinstance(self._effects, SystemEffects):
            self._effects = SystemEffects(self._effects.hostname)
        if self._refresher is not None and not self._refresher.stopped:
            self._refresher = self._refresher.forked()
            self._refresher.start()

    def _report(self, name: str, exc: Exception) -> None:
        key = (name, type(exc))
        if key not in self._reported:  # once per flag and kind of error, not once per call
            self._reported.add(key)
            log.warning("evaluating flag %r failed; using the default", name, exc_info=exc)


def _after_fork(ref: weakref.ref[Client]) -> None:
    client = ref()
    if client is not None:
        client._restart_after_fork()


def _with_token(headers: dict[str, str] | None, token: str | None) -> dict[str, str] | None:
    if token is None:
        return headers
    if not token or not all(33 <= ord(c) <= 126 for c in token):
        raise ValueError("token: expected one word of visible ASCII characters (no spaces)")
    return {**(headers or {}), "Authorization": f"Bearer {token}"}


def _bootstrap(source: Path | Mapping[str, Any]) -> State:
    if isinstance(source, Path):
        return load_state_file(source)
    return parse_state(source, source="bootstrap")
