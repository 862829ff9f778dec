"""Drain timing: defaults, constructor values and the environment the platform sets.

Invariant: a `Timing` is always consistent (every value >= 0, drain and exit deadlines
inside the grace period); bad values raise ConfigError naming the source and the rule.
Environment variables win over constructor values: the platform knows the real deadline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from changeover.units import DURATION_HINT, parse_duration

ENV_GRACE = "CHANGEOVER_GRACE_PERIOD"
ENV_DRAIN_DELAY = "CHANGEOVER_DRAIN_DELAY"
ENV_DRAIN_TIMEOUT = "CHANGEOVER_DRAIN_TIMEOUT"
DEFAULT_GRACE = 30.0
MAX_EXIT_MARGIN = 1.0  # exit this long before SIGKILL, less for very short grace periods


class ConfigError(ValueError):
    """A lifecycle setting is malformed or inconsistent."""


@dataclass(frozen=True)
class Timing:
    """Seconds, all measured from the moment the stop was asked."""

    grace_period: float = DEFAULT_GRACE  # the platform SIGKILLs after this
    drain_delay: float = 0.0  # keep serving at least this long (slow load balancers)
    drain_timeout: float | None = None  # stop waiting for in-flight requests; default grace/2

    def __post_init__(self) -> None:
        for name in ("grace_period", "drain_delay"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}: expected seconds >= 0, got {getattr(self, name)}")
        if self.grace_period == 0:
            raise ConfigError("grace_period: expected seconds > 0, got 0")
        if self.drain_timeout is not None and not 0 <= self.drain_timeout <= self.exit_after:
            raise ConfigError(
                f"drain_timeout: expected 0..{self.exit_after:g} s (grace_period minus the exit"
                f" margin), got {self.drain_timeout}"
            )

    @property
    def exit_margin(self) -> float:
        return min(MAX_EXIT_MARGIN, self.grace_period / 10)

    @property
    def exit_after(self) -> float:
        """The watchdog forces the exit this long after the stop was asked."""
        return self.grace_period - self.exit_margin

    @property
    def release_after(self) -> float:
        """Stop waiting for in-flight requests this long after the stop was asked."""
        if self.drain_timeout is not None:
            return self.drain_timeout
        return self.exit_after / 2


def seconds(text: str, source: str) -> float:
    """A duration ("30s", "1m") or plain seconds ("30", "2.5") from `source`."""
    try:
        value = float(text)
    except ValueError:
        try:
            return parse_duration(text)
        except ValueError:
            raise ConfigError(
                f"{source}: expected seconds or {DURATION_HINT}, got {text!r}"
            ) from None
    if value < 0 or value != value or value == float("inf"):
        raise ConfigError(f"{source}: expected a finite number of seconds >= 0, got {text!r}")
    return value


def timing_from(
    environ: Mapping[str, str],
    grace_period: float = DEFAULT_GRACE,
    drain_delay: float = 0.0,
    drain_timeout: float | None = None,
) -> Timing:
    """A Timing from constructor values, overridden by the environment when set."""
    if ENV_GRACE in environ:
        grace_period = seconds(environ[ENV_GRACE], ENV_GRACE)
    if ENV_DRAIN_DELAY in environ:
        drain_delay = seconds(environ[ENV_DRAIN_DELAY], ENV_DRAIN_DELAY)
    if ENV_DRAIN_TIMEOUT in environ:
        drain_timeout = seconds(environ[ENV_DRAIN_TIMEOUT], ENV_DRAIN_TIMEOUT)
    return Timing(grace_period, drain_delay, drain_timeout)
