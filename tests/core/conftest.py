"""The core tier: pure logic. No socket, no event loop, no process (checked: `tests.tiers`)."""

from tests.tiers import core_tier

__all__ = ["core_tier"]
