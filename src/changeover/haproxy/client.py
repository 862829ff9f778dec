"""The runtime API's IO: one command per connection to HAProxy's stats socket.

Invariant: every call is bounded by `timeout` (connect, write, and the answer until
HAProxy closes), and the connection is closed whatever happens; an answer is judged only
by `runtime.Command.check`, so what this module adds is the socket and the deadline.
"""

from __future__ import annotations

import asyncio

from changeover.haproxy import runtime
from changeover.haproxy.runtime import Command, StatRow


class RuntimeClient:
    def __init__(self, path: str, timeout: float = 5.0) -> None:
        self.path = path
        self.timeout = timeout

    async def send(self, command: Command) -> str:
        """Send one command; its answer if it means success, else RuntimeApiError.
        OSError (or TimeoutError) when HAProxy is not there to answer."""
        async with asyncio.timeout(self.timeout):
            reader, writer = await asyncio.open_unix_connection(self.path)
            try:
                writer.write(command.line())
                await writer.drain()
                answer = await reader.read()  # HAProxy closes after answering
            finally:
                writer.close()
        return command.check(answer)

    async def stats(self, proxy: str | None = None) -> list[StatRow]:
        return runtime.stat_rows(await self.send(runtime.show_stat(proxy)))

    async def info(self) -> dict[str, str]:
        return runtime.info_fields(await self.send(runtime.show_info()))


__all__ = ["RuntimeClient"]
