"""Shutdown hooks, run newest first, each under its own timeout.

Invariant: every hook runs once, in reverse order of registration, whatever the ones
before it did; the answer names the hooks that raised or overran, in the order they ran.
"""

from __future__ import annotations

import logging

from changeover.runtime.calls import call_async, call_sync
from changeover.runtime.registry import Hook

log = logging.getLogger("changeover.runtime")


async def run_hooks_async(hooks: list[Hook]) -> tuple[str, ...]:
    failed = []
    for hook in reversed(hooks):
        if failure := await call_async(hook.fn, hook.timeout):
            log.error("shutdown hook %r failed: %s", hook.name, failure)
            failed.append(hook.name)
    return tuple(failed)


def run_hooks_sync(hooks: list[Hook]) -> tuple[str, ...]:
    failed = []
    for hook in reversed(hooks):
        if failure := call_sync(hook.fn, hook.timeout):
            log.error("shutdown hook %r failed: %s", hook.name, failure)
            failed.append(hook.name)
    return tuple(failed)
