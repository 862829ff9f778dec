"""Test kit for the proxy: a scriptable upstream server, a raw client, and a runner.

Everything binds 127.0.0.1 on ephemeral ports. Waiting is always "until a condition
holds, with a generous deadline"; no verdict depends on a sleep. Tests run on uvloop
(production's loop); PROXY_TEST_LOOP=asyncio runs them on the stdlib loop instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import uvloop

from changeover.proxy.config import ProxyConfig
from changeover.proxy.server import Proxy

T = TypeVar("T")
LOOPBACK = "127.0.0.1"


def run(main: Callable[[], Awaitable[T]], limit: float = 25.0) -> T:
    """Run one async test body on uvloop, failing (not hanging) after `limit` seconds.

    Any error the loop would merely log (an exception escaping a protocol callback)
    fails the test too.
    """
    errors: list[dict[str, object]] = []

    async def guarded() -> T:
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: errors.append(ctx))
        async with asyncio.timeout(limit):
            return await main()

    factory = asyncio.new_event_loop if os.environ.get("PROXY_TEST_LOOP") == "asyncio" else None
    with asyncio.Runner(loop_factory=factory or uvloop.new_event_loop) as runner:
        result = runner.run(guarded())
    assert not errors, f"event loop reported errors: {errors}"
    return result


async def eventually(predicate: Callable[[], bool], what: str, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


# -- HTTP/1.1 message reading (independent of httptools on purpose) ---------------------


@dataclass
class Message:
    start: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    conn: int = 0

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(values) if values else None

    def count(self, name: str) -> int:
        return sum(1 for k, _ in self.headers if k.lower() == name.lower())

    @property
    def status(self) -> int:
        return int(self.start.split(" ")[1])

    @property
    def method(self) -> str:
        return self.start.split(" ")[0]

    @property
    def target(self) -> str:
        return self.start.split(" ")[1]


async def read_head(reader: asyncio.StreamReader) -> Message | None:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = raw.decode("latin-1").split("\r\n")[:-2]
    headers = [(k.strip(), v.strip()) for k, v in (line.split(":", 1) for line in lines[1:])]
    return Message(lines[0], headers)


async def read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # trailers
            return bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


async def read_body(reader: asyncio.StreamReader, msg: Message, until_eof: bool) -> bytes:
    if (msg.header("transfer-encoding") or "").lower() == "chunked":
        return await read_chunked(reader)
    length = msg.header("content-length")
    if length is not None:
        return await reader.readexactly(int(length))
    return await reader.read() if until_eof else b""


# -- the scriptable upstream -----------------------------------------------------------

Handler = Callable[
    ["Backend", Message, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]
]


def respond(status: int, body: bytes = b"", headers: list[tuple[str, str]] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} X"]
    lines += [f"{k}: {v}" for k, v in headers or []]
    if status >= 200 and status not in (204, 304):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class Backend:
    """An upstream replica whose behaviour is chosen by request path (see `default_app`)."""

    revision: int = 1
    name: str = "r1-1"
    handler: Handler | None = None
    requests: list[Message] = field(default_factory=list)
    connections: int = 0
    closed: int = 0
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0
    body_gate: asyncio.Event | None = None
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> Backend:
        self._server = await asyncio.start_server(self._serve, LOOPBACK, 0, limit=1 << 22)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def hold_bodies(self) -> None:
        """Stop reading request bodies (so uploads back up) until release_bodies()."""
        self.body_gate = asyncio.Event()

    def release_bodies(self) -> None:
        assert self.body_gate is not None
        self.body_gate.set()

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in tuple(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = self.connections
        self.connections += 1
        try:
            while await self._one(conn, reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # CancelledError swallowed: asyncio.streams chokes on cancelled handlers
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()
            self.closed += 1

    async def _one(
        self, conn: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        msg = await read_head(reader)
        if msg is None:
            return False
        msg.conn = conn
        if (msg.header("expect") or "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if self.body_gate is not None:
            await self.body_gate.wait()
        msg.body = await read_body(reader, msg, until_eof=False)
        self.requests.append(msg)
        keep = await (self.handler or default_app)(self, msg, reader, writer)
        await writer.drain()
        return keep


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0) instead of FIN."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def default_app(
    b: Backend, msg: Message, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> bool:
    path, _, query = msg.target.partition("?")
    rev = [("X-Revision", str(b.revision)), ("X-Conn", str(msg.conn))]
    if path == "/echo":
        writer.write(respond(200, msg.body, rev))
    elif path == "/chunked":
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in (b"hello ", b"chunked ", b"world"):
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
        writer.write(b"0\r\n\r\n")
    elif path == "/eof":
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
        return False
    elif path.startswith("/status/"):
        writer.write(respond(int(path[8:]), b"", [*rev, ("Content-Length", "7")]))
    elif path == "/big":
        writer.write(respond(200, bytes(range(256)) * (int(query) // 256), rev))
    elif path == "/gate":
        if not await _gate_or_eof(b.gate, reader):
            return False  # the proxy gave up on us
        writer.write(respond(200, b"opened", rev))
    elif path == "/hang":
        await reader.read()
        return False
    elif path == "/close":
        return False
    elif path == "/reset":
        reset(writer)
        return False
    elif path == "/upgrade":
        return await _echo_tunnel(writer, reader)
    else:
        body = f"rev {b.revision} {msg.target}".encode()
        full = respond(200, body, rev)
        writer.write(full[: len(full) - len(body)] if msg.method == "HEAD" else full)
    return True


async def _gate_or_eof(gate: asyncio.Event, reader: asyncio.StreamReader) -> bool:
    """Wait for the gate to open (True) or the connection to close (False)."""
    opened = asyncio.ensure_future(gate.wait())
    closed = asyncio.ensure_future(reader.read(1))
    try:
        done, _ = await asyncio.wait({opened, closed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (opened, closed):
            task.cancel()
        await asyncio.gather(opened, closed, return_exceptions=True)
    return opened in done


async def _echo_tunnel(writer: asyncio.StreamWriter, reader: asyncio.StreamReader) -> bool:
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"
    )
    writer.write(b"hello from upstream|")
    while data := await reader.read(65536):
        writer.write(b"echo:" + data)
        await writer.drain()
    return False


# -- raw client ------------------------------------------------------------------------


class Client:
    """One raw client connection; can send anything, including malformed bytes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, address: tuple[str, int]) -> Client:
        reader, writer = await asyncio.open_connection(*address, limit=1 << 22)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def response(self, head: bool = False, interim: bool = False) -> Message:
        msg = await read_head(self.reader)
        assert msg is not None, "connection closed before a response head"
        if msg.status < 200 and not interim:
            return await self.response(head)
        if not (head or msg.status < 200 or msg.status in (204, 304)):
            msg.body = await read_body(self.reader, msg, until_eof=True)
        return msg

    async def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> Message:
        await self.send(build(method, path, headers, body))
        return await self.response(head=method == "HEAD")

    async def at_eof(self) -> bool:
        """True if the proxy closed the connection (after any remaining bytes)."""
        try:
            await self.reader.read()
        except ConnectionError:
            return True
        return True

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


def build(
    method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    hdrs = {"Host": "example.test", **(headers or {})}
    if body and "Transfer-Encoding" not in hdrs:
        hdrs["Content-Length"] = str(len(body))
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in hdrs.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# -- proxy harness ---------------------------------------------------------------------


def listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((LOOPBACK, 0))
    sock.listen(256)
    sock.setblocking(False)
    return sock


@contextlib.contextmanager
def blackhole() -> Iterator[int]:
    """A port whose accept queue is full, so a connect to it hangs until timed out."""
    listener = socket.socket()
    listener.bind((LOOPBACK, 0))
    listener.listen(0)
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(listener.getsockname())
        fillers.append(filler)
    try:
        yield listener.getsockname()[1]
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


@contextlib.asynccontextmanager
async def serving(
    *backends: Backend, config: ProxyConfig | None = None, routable: bool = True
) -> AsyncIterator[Proxy]:
    """Started backends behind a started proxy; everything is shut down afterwards."""
    for backend in backends:
        await backend.start()
    proxy = Proxy(config or ProxyConfig())
    await proxy.serve(listening_socket())
    for backend in backends:
        proxy.add_endpoint(backend.name, backend.revision, LOOPBACK, backend.port)
        proxy.set_routable(backend.name, routable)
    try:
        yield proxy
    finally:
        await proxy.shutdown(2.0)
        for backend in backends:
            await backend.stop()
