"""One replica as the data plane sees it: address, routability, load and idle pool.

Invariant: `inflight` equals the number of HTTP exchanges assigned to this endpoint that
have not yet finished or failed; drain waiters are woken exactly when it reaches 0.
`tunnels` counts the upgraded (101) connections still open to it, apart: a long-lived
WebSocket never holds a drain, the replica closes it itself once told to stop.
The idle list holds only connections with no exchange attached, most recent last
(LIFO reuse keeps the hot connections hot and lets the cold ones expire).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from changeover.proxy.metrics import RevisionStats
    from changeover.proxy.upstream import Upstream


class Endpoint:
    __slots__ = (
        "_waiters",
        "host",
        "idle",
        "inflight",
        "port",
        "removed",
        "replica_id",
        "revision",
        "routable",
        "stats",
        "tunnels",
    )

    def __init__(
        self, replica_id: str, revision: int, host: str, port: int, stats: RevisionStats
    ) -> None:
        self.replica_id = replica_id
        self.revision = revision
        self.host = host
        self.port = port
        self.stats = stats
        self.routable = False
        self.removed = False
        self.inflight = 0
        self.tunnels = 0
        self.idle: list[Upstream] = []
        self._waiters: list[asyncio.Future[None]] = []

    def acquire(self) -> None:
        self.inflight += 1
        self.stats.inflight += 1

    def release(self) -> None:
        self.inflight -= 1
        self.stats.inflight -= 1
        if not self.inflight and self._waiters:
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def tunnel_opened(self) -> None:
        self.tunnels += 1

    def tunnel_closed(self) -> None:
        self.tunnels -= 1

    async def wait_drained(self, within: float) -> bool:
        """True once no HTTP exchange is in flight (open tunnels don't count), False if
        `within` seconds pass first."""
        if not self.inflight:
            return True
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(within):
                await waiter
        except TimeoutError:
            return False
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        return True

    def take_idle(self, cutoff: float) -> Upstream | None:
        """Most recently used idle connection that has not seen EOF and was parked after
        `cutoff`; older ones may be closing on the app's side, so they are never reused."""
        idle = self.idle
        while idle:
            conn = idle.pop()
            if conn.usable() and conn.idle_since > cutoff:
                return conn
            conn.abort()
        return None

    def put_idle(self, conn: Upstream, now: float, limit: int) -> bool:
        if self.removed or len(self.idle) >= limit:
            return False
        conn.idle_since = now
        self.idle.append(conn)
        return True

    def forget(self, conn: Upstream) -> None:
        if conn in self.idle:
            self.idle.remove(conn)

    def expire_idle(self, cutoff: float) -> None:
        """Close idle connections parked at or before `cutoff` (they sit at the front)."""
        idle = self.idle
        count = 0
        while count < len(idle) and idle[count].idle_since <= cutoff:
            count += 1
        if count:
            expired = idle[:count]
            del idle[:count]
            for conn in expired:
                conn.close()

    def close_idle(self) -> None:
        idle, self.idle = self.idle, []
        for conn in idle:
            conn.close()

    def describe(self) -> dict[str, object]:
        return {
            "revision": self.revision,
            "routable": self.routable,
            "inflight": self.inflight,
            "tunnels": self.tunnels,
            "idle_connections": len(self.idle),
        }
