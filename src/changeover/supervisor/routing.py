"""What the supervisor needs from the proxy.

Invariant: the supervisor is the only caller that makes a replica routable, and it does
so only while the replica is READY; every replica added is removed exactly once.
"""

from __future__ import annotations

from typing import Protocol


class Routing(Protocol):
    def add_endpoint(self, replica_id: str, revision: int, host: str, port: int) -> None:
        """Known to the proxy but not routable yet."""

    def set_routable(self, replica_id: str, routable: bool) -> None: ...

    # The proxy bounds the wait itself: it knows when a request leaves its books.
    async def drain(self, replica_id: str, timeout: float) -> bool:  # noqa: ASYNC109
        """True once the replica's in-flight count reached 0, False on timeout."""
        ...

    def remove_endpoint(self, replica_id: str) -> None:
        """Forget the replica and close its idle pooled connections."""
