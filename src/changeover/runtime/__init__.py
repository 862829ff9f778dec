"""changeover.runtime: the application's half of zero-downtime deploys.

Invariant: importing this package has no side effects (no signal handler, no thread);
those start only when an app is wrapped (`Lifecycle.asgi`/`.wsgi`) or on explicit calls.
"""

from changeover.runtime.activation import ActivationError, ListenFd, listen_fds, listen_sockets
from changeover.runtime.config import ENV_DRAIN_DELAY, ENV_DRAIN_TIMEOUT, ENV_GRACE, ConfigError
from changeover.runtime.lifecycle import Lifecycle
from changeover.runtime.notify import NotifyError, notify
from changeover.runtime.outcome import ExitCode, Outcome
from changeover.runtime.phase import Phase
from changeover.runtime.token import StopToken

__all__ = [
    "ENV_DRAIN_DELAY",
    "ENV_DRAIN_TIMEOUT",
    "ENV_GRACE",
    "ActivationError",
    "ConfigError",
    "ExitCode",
    "Lifecycle",
    "ListenFd",
    "NotifyError",
    "Outcome",
    "Phase",
    "StopToken",
    "listen_fds",
    "listen_sockets",
    "notify",
]
