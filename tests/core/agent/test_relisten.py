"""A new agent keeps the inherited public socket unless `proxy.listen` changed."""

from __future__ import annotations

import pytest

from changeover.agent.relisten import changed


@pytest.mark.parametrize(
    ("old", "new", "bound", "expected"),
    [
        ("127.0.0.1:8080", "127.0.0.1:8080", ("127.0.0.1", 8080), False),
        ("127.0.0.1:0", "127.0.0.1:0", ("127.0.0.1", 41234), False),  # any port: kept
        (None, "127.0.0.1:9090", ("127.0.0.1", 8080), False),  # an old agent that did not say
        ("127.0.0.1:8080", "127.0.0.1:9090", ("127.0.0.1", 8080), True),
        ("127.0.0.1:0", "127.0.0.1:9090", ("127.0.0.1", 41234), True),
        ("127.0.0.1:8080", "0.0.0.0:8080", ("127.0.0.1", 8080), True),
        # the same address spelled otherwise: kept (a rebind would fail on it)
        ("127.0.0.1:0", "127.0.0.1:41234", ("127.0.0.1", 41234), False),
        ("localhost:8080", "127.0.0.1:8080", ("127.0.0.1", 8080), False),
        ("127.0.0.1:8080", "localhost:8080", ("127.0.0.1", 8080), False),
        ("[::1]:8080", "[0:0::1]:8080", ("::1", 8080), False),
        ("127.0.0.1:8080", "example.test:8080", ("127.0.0.1", 8080), True),
    ],
)
def test_changed(old: str | None, new: str, bound: tuple[str, int], expected: bool) -> None:
    assert changed(old, new, bound) is expected
