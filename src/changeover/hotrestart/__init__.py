"""Hot restart of a single-process service on sockets bound once (`changeover run`).

Invariant kept by the package: the listening sockets stay open in the `changeover run`
process for its whole life and are shared by every generation, so no connection is
refused between versions; the serving generation is told to stop only after its
successor is ready, a successor that fails is stopped while the old one serves on, and
one that dies after the old one was told to stop is replaced by the old one's command.

Layout: `state` (phases, one table), `core` (pure decisions) with `ledger` and
`generation`, `events`/`actions`, `runner` (the asyncio shell), `spawn` (fds 3..),
`watch` with `notify`, `gate` (the default mode), `probe` + `owner` and delays
(readiness), `listen`, `ready`, `report` + `files` (pid and status files), `reload`
(`--reload`), `fakes`.
"""

from changeover.hotrestart.core import HotRestart
from changeover.hotrestart.generation import Timing
from changeover.hotrestart.listen import Address, Listener, bind, parse_listen
from changeover.hotrestart.ready import AutoReady, DelayReady, HttpReady, NotifyReady, parse_ready
from changeover.hotrestart.reload import Answer, ReloadError, request_reload
from changeover.hotrestart.runner import RunConfig, Runner
from changeover.hotrestart.state import Phase

__all__ = [
    "Address",
    "Answer",
    "AutoReady",
    "DelayReady",
    "HotRestart",
    "HttpReady",
    "Listener",
    "NotifyReady",
    "Phase",
    "ReloadError",
    "RunConfig",
    "Runner",
    "Timing",
    "bind",
    "parse_listen",
    "parse_ready",
    "request_reload",
]
