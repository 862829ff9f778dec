"""Drain timing from arguments and the environment, and registration validation."""

from __future__ import annotations

import pytest

from changeover.runtime import ConfigError, Lifecycle
from changeover.runtime.config import Timing, seconds, timing_from


def test_environment_wins_over_arguments() -> None:
    env = {
        "CHANGEOVER_GRACE_PERIOD": "12s",
        "CHANGEOVER_DRAIN_DELAY": "500ms",
        "CHANGEOVER_DRAIN_TIMEOUT": "4",
    }
    assert timing_from(env, grace_period=60) == Timing(12.0, 0.5, 4.0)
    assert timing_from({}, grace_period=60) == Timing(60.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [("soon", "CHANGEOVER_GRACE_PERIOD: expected seconds or a duration"), ("-3", ">= 0")],
)
def test_bad_environment_values_name_the_variable(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        timing_from({"CHANGEOVER_GRACE_PERIOD": text})


def test_seconds_accepts_numbers_and_durations() -> None:
    assert seconds("2.5", "x") == 2.5
    assert seconds("1m30s", "x") == 90.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"grace_period": 0}, "grace_period: expected seconds > 0"),
        ({"drain_delay": -1}, "drain_delay: expected seconds >= 0"),
        ({"grace_period": 10, "drain_timeout": 20}, r"drain_timeout: expected 0\.\.9 s"),
    ],
)
def test_inconsistent_timing_is_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Timing(**kwargs)


def test_default_release_leaves_time_for_hooks() -> None:
    timing = Timing(30)
    assert timing.exit_after == 29.0
    assert timing.release_after == 14.5


def test_paths_must_be_absolute_and_distinct() -> None:
    with pytest.raises(ConfigError, match="liveness_path: expected a path starting with '/'"):
        Lifecycle(liveness_path="livez", environ={}, signals=())
    with pytest.raises(ConfigError, match="must differ"):
        Lifecycle(liveness_path="/h", readiness_path="/h", environ={}, signals=())


def test_registrations_are_validated_when_made() -> None:
    lifecycle = Lifecycle(environ={}, signals=())

    @lifecycle.on_shutdown
    def close() -> None: ...

    with pytest.raises(ConfigError, match="on_shutdown 'close': already registered"):
        lifecycle.on_shutdown(close)
    with pytest.raises(ConfigError, match="readiness_check 'db': timeout: expected seconds > 0"):
        lifecycle.readiness_check(lambda: True, timeout=0, name="db")
    with pytest.raises(ConfigError, match="timeout: expected seconds, got 'x'"):
        lifecycle.background(close, stop_timeout="x", name="w")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="expected a function"):
        lifecycle.on_shutdown(42)  # type: ignore[call-overload]


def test_wrapping_something_that_is_not_an_app_is_refused() -> None:
    lifecycle = Lifecycle(environ={}, signals=())
    with pytest.raises(ConfigError, match="asgi: expected the ASGI application"):
        lifecycle.asgi("main:app")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="wsgi: expected the WSGI application"):
        lifecycle.wsgi(None)  # type: ignore[arg-type]
