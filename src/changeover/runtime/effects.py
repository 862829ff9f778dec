"""The effects the engine needs from the world, bundled so tests can swap them.

Invariant: the engine reads time, notifies the service manager and ends the process only
through an `Effects`; the defaults are the real ones, and ending flushes logs and stdio
first because `os._exit` skips every cleanup.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from changeover.runtime.notify import notify

log = logging.getLogger("changeover.runtime")


def exit_process(code: int) -> None:
    """End the process now with `code`, whatever the server is doing."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed or broken: nothing to save
            stream.flush()
    os._exit(code)


def notify_quietly(state: str) -> None:
    """Tell the service manager, if any; a vanished socket must not break a drain."""
    try:
        notify(state)
    except (OSError, ValueError) as exc:
        log.warning("changeover.runtime: notify(%r) failed: %s", state, exc)


@dataclass
class Effects:
    clock: Callable[[], float] = time.monotonic
    notify: Callable[[str], None] = notify_quietly
    exit: Callable[[int], None] = exit_process
