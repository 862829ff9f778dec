"""What an application registers: readiness checks, shutdown hooks, background workers.

Invariant: every registration is validated when it is made (a callable, a positive finite
timeout, a unique name within its kind), so a bad one fails at import, not during a drain.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from changeover.runtime.config import ConfigError

Call = Callable[[], Any]  # sync, or async (returns an awaitable)
WorkerFn = Callable[[Any], Any]  # receives the StopToken


@dataclass(frozen=True)
class Check:
    name: str
    fn: Call
    timeout: float


@dataclass(frozen=True)
class Hook:
    name: str
    fn: Call
    timeout: float


@dataclass(frozen=True)
class Worker:
    name: str
    fn: WorkerFn
    finish_current: bool  # True: let it finish its item; False: cancel at once
    stop_timeout: float  # with finish_current, cancel after this long


def name_of(fn: Callable[..., Any], name: str | None) -> str:
    return name or getattr(fn, "__name__", None) or repr(fn)


def checked_timeout(kind: str, name: str, timeout: float) -> float:
    """`timeout` if finite and > 0, else ConfigError naming the registration."""
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise ConfigError(f"{kind} {name!r}: timeout: expected seconds, got {timeout!r}")
    if not (timeout > 0 and math.isfinite(timeout)):
        raise ConfigError(f"{kind} {name!r}: timeout: expected seconds > 0, got {timeout!r}")
    return float(timeout)


class Registry:
    """Registrations in order; the lifecycle reads them, the adapters never change them."""

    def __init__(self) -> None:
        self.checks: list[Check] = []
        self.hooks: list[Hook] = []
        self.workers: list[Worker] = []

    def add_check(self, fn: Call, timeout: float, name: str | None) -> Check:
        label = self._name("readiness_check", fn, name, self.checks)
        item = Check(label, fn, checked_timeout("readiness_check", label, timeout))
        self.checks.append(item)
        return item

    def add_hook(self, fn: Call, timeout: float, name: str | None) -> Hook:
        label = self._name("on_shutdown", fn, name, self.hooks)
        item = Hook(label, fn, checked_timeout("on_shutdown", label, timeout))
        self.hooks.append(item)
        return item

    def add_worker(
        self, fn: WorkerFn, finish_current: bool, stop_timeout: float, name: str | None
    ) -> Worker:
        label = self._name("background", fn, name, self.workers)
        timeout = checked_timeout("background", label, stop_timeout)
        item = Worker(label, fn, finish_current, timeout)
        self.workers.append(item)
        return item

    @staticmethod
    def _name(kind: str, fn: Any, name: str | None, existing: list[Any]) -> str:
        if not callable(fn):
            raise ConfigError(f"{kind}: expected a function, got {fn!r}")
        label = name_of(fn, name)
        if any(item.name == label for item in existing):
            raise ConfigError(f"{kind} {label!r}: already registered; pass name= to tell apart")
        return label
