"""Builders shared by the flag-serving tests."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

from tests.helpers import bounded

T = TypeVar("T")
GUARD = 20.0  # seconds; only reached when a test is about to fail (or the machine stalls)


def rollout_flag(name: str = "checkout", percent: int = 10, **extra: Any) -> dict[str, Any]:
    """A flag on for `percent`% of users (flexibleRollout, sticky on userId)."""
    params = {"rollout": percent, "stickiness": "userId"}
    return {
        "name": name,
        "enabled": True,
        "strategies": [{"name": "flexibleRollout", "parameters": params}],
        **extra,
    }


def run(coro: Coroutine[Any, Any, T]) -> T:
    return bounded(coro, GUARD)
