"""Fakes that drive the proxy byte by byte: no socket, no real time.

Invariant: everything runs on a `VirtualLoop`, whose clock moves only when no callback
is ready, and then straight to the next timer; so every timeout elapses at once and in
order, and no outcome depends on the machine's speed. Bytes move only through
`FakeTransport`s: a test feeds a client's bytes to the proxy and reads back exactly
what the proxy wrote, as uvicorn's protocol tests and httpx's MockTransport do.

- `FakeTransport`: records what its protocol wrote (`written`, `take()`), closes and
  aborts, pauses of reading; the peer's side is `feed`, `feed_eof`, `reset` and
  `set_write_paused` (a peer that stops reading).
- `ScriptedUpstream`: a replica, registered on the loop by address. It accepts, refuses
  or never answers connects (`Connect`), and answers each complete request it reads with
  the next `Reply` of its script (bytes, then stay open, close or reset; a reply may come
  early, after the head, or later in virtual time). An exhausted script hangs.
- `VirtualLoop`: an asyncio loop whose clock is virtual and whose `create_connection`
  reaches the scripted upstreams; `run` runs a test on a fresh one.
- `CheckedExchange`: an Exchange whose every state move is checked against `MOVES`
  (install it with `check_moves`).

Test code only: nothing in the proxy imports this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import selectors
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from httptools import HttpParserUpgrade, HttpRequestParser

from changeover.proxy import downstream
from changeover.proxy.exchange import Exchange
from changeover.proxy.state import MOVES, State

T = TypeVar("T")
Address = tuple[str, int]


# -- transport ----------------------------------------------------------------------------


class FakeTransport(asyncio.Transport):
    """One side of a connection, as the protocol on it sees it; the test is the peer."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        peer: Address = ("203.0.113.7", 50000),
        on_write: Callable[[bytes], None] | None = None,
    ) -> None:
        super().__init__()
        self.loop = loop
        self.peer = peer
        self.on_write = on_write  # told each write (a scripted upstream reads requests)
        self.protocol: asyncio.BaseProtocol | None = None
        self.written = bytearray()  # everything the protocol wrote, in order
        self._taken = 0
        self.reading = True
        self.closed = self.aborted = self.eof_written = self.lost = False
        self._inbox: list[bytes | None] = []  # fed while reading was paused (None: EOF)

    # -- what the protocol calls --------------------------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": self.peer, "sockname": ("192.0.2.1", 8080)}.get(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self.protocol is not None
        return self.protocol

    def is_closing(self) -> bool:
        return self.closed

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.closed:
            raise RuntimeError("write to a closed transport (uvloop raises here too)")
        if self.eof_written:
            raise RuntimeError("write after write_eof")
        data = bytes(data)
        self.written += data
        if self.on_write is not None and data:
            self.on_write(data)

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def write_eof(self) -> None:
        self.eof_written = True

    def can_write_eof(self) -> bool:
        return True

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        if not self.reading:
            self.reading = True
            if self._inbox:
                self.loop.call_soon(self._deliver_inbox)  # as a real loop: on a later turn

    def is_reading(self) -> bool:
        return self.reading

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.loop.call_soon(self._lost, None)

    def abort(self) -> None:
        if not self.closed:
            self.closed = self.aborted = True
            self.loop.call_soon(self._lost, None)

    # -- what the peer (the test) does --------------------------------------------------

    def take(self) -> bytes:
        """The bytes written since the last take()."""
        data = bytes(self.written[self._taken :])
        self._taken = len(self.written)
        return data

    def feed(self, data: bytes) -> None:
        """The peer sends `data`: delivered now, or once reading resumes."""
        if self.closed:
            return  # nobody reads a closed socket
        if not self.reading or self._inbox:
            self._inbox.append(data)
            return
        self._protocol().data_received(data)

    def feed_eof(self) -> None:
        """The peer half-closes (FIN). The protocol may keep its side open, else it closes."""
        if self.closed:
            return
        if not self.reading or self._inbox:
            self._inbox.append(None)
            return
        self._eof()

    def reset(self) -> None:
        """The peer resets the connection (RST): connection_lost with an error."""
        if not self.closed:
            self.closed = self.aborted = True
            self.loop.call_soon(self._lost, ConnectionResetError("connection reset by peer"))

    def set_write_paused(self, paused: bool) -> None:
        """The peer stops (or starts again) reading: the protocol's writes back up."""
        protocol = self._protocol()
        if paused:
            protocol.pause_writing()
        else:
            protocol.resume_writing()

    # -- internals ----------------------------------------------------------------------

    def _protocol(self) -> asyncio.Protocol:
        protocol = self.protocol
        assert isinstance(protocol, asyncio.Protocol), "no protocol on this transport"
        return protocol

    def _deliver_inbox(self) -> None:
        while self._inbox and self.reading and not self.closed:
            data = self._inbox.pop(0)
            if data is None:
                self._eof()
            else:
                self._protocol().data_received(data)

    def _eof(self) -> None:
        if not self._protocol().eof_received():
            self.close()  # asyncio's rule: a falsy answer closes the transport

    def _lost(self, exc: Exception | None) -> None:
        if not self.lost:
            self.lost = True
            self._protocol().connection_lost(exc)


# -- scripted upstream ----------------------------------------------------------------------


class Connect(enum.Enum):
    """What a connect to a scripted upstream does."""

    ACCEPT = "accept"
    REFUSE = "refuse"  # ECONNREFUSED: nothing reached an app, so the proxy may retry
    HANG = "hang"  # never completes: the proxy's connect_timeout decides
    CLOSE = "close"  # accepted, then closed before any byte was written


class Then(enum.Enum):
    """What the upstream does with the connection after a reply's bytes."""

    KEEP = "keep"
    CLOSE = "close"  # FIN
    RESET = "reset"  # RST


@dataclass(frozen=True)
class Reply:
    """One scripted answer: `data` (a whole response, part of one, or nothing: a hang)."""

    data: bytes = b""
    then: Then = Then.KEEP
    early: bool = False  # sent when the request head arrives; its end takes the next one
    after: float = 0.0  # virtual seconds before answering


@dataclass
class Session:
    """One connection the proxy opened to a scripted upstream."""

    transport: FakeTransport
    requests: list[bytes] = field(default_factory=list)  # as read, head and body framing
    tunnel: bool = False  # after a 101: bytes are not parsed any more
    _raw: list[bytes] = field(default_factory=list)
    _parser: Any = None
    _held: list[bytes] | None = None  # after an upgrade request, until the reply says 101


class ScriptedUpstream:
    """A replica answering every request it reads with the next reply of its script."""

    def __init__(self, *script: Reply | bytes, connect: Connect = Connect.ACCEPT) -> None:
        self.script = [r if isinstance(r, Reply) else Reply(r) for r in script]
        self.connect_mode = connect
        self.attempts = 0  # connects tried, refused ones included
        self.sessions: list[Session] = []
        self.requests: list[bytes] = []  # every complete request read, in order of arrival

    async def connect(
        self, loop: asyncio.AbstractEventLoop, factory: Callable[[], asyncio.BaseProtocol]
    ) -> tuple[FakeTransport, asyncio.BaseProtocol]:
        self.attempts += 1
        if self.connect_mode is Connect.REFUSE:
            raise ConnectionRefusedError(111, "Connection refused")
        if self.connect_mode is Connect.HANG:
            await loop.create_future()  # cancelled by the proxy's connect timeout
        transport = FakeTransport(loop, peer=("192.0.2.1", 40000 + len(self.sessions)))
        session = Session(transport)
        self._fresh_parser(session)
        transport.on_write = lambda data: self._read(session, data)
        self.sessions.append(session)
        protocol = factory()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if self.connect_mode is Connect.CLOSE:
            transport.feed_eof()
        return transport, protocol

    def _fresh_parser(self, session: Session) -> None:
        session._parser = HttpRequestParser(_Reader(self, session))

    def _read(self, session: Session, data: bytes) -> None:
        if session.tunnel:
            return  # tunnelled bytes: `transport.written` has them
        if session._held is not None:
            session._held.append(data)
            return
        session._raw.append(data)
        try:
            session._parser.feed_data(data)
        except HttpParserUpgrade as exc:
            session._held = [data[exc.args[0] :]]  # tunnel or HTTP: the reply decides

    def _answer(self, session: Session) -> None:
        reply = self.script.pop(0) if self.script else Reply()
        loop = session.transport.loop
        if reply.after:
            loop.call_later(reply.after, self._send, session, reply)
        else:
            loop.call_soon(self._send, session, reply)  # never from inside the proxy's write

    def _send(self, session: Session, reply: Reply) -> None:
        transport = session.transport
        if transport.closed:
            return
        held = session._held
        if held is not None and not reply.early:
            session._held = None
            if reply.data.startswith(b"HTTP/1.1 101"):
                session.tunnel = True
            else:  # upgrade refused: what followed the request is HTTP again
                self._fresh_parser(session)
                for data in held:
                    if data:
                        self._read(session, data)
        if reply.data:
            transport.feed(reply.data)
        if reply.then is Then.CLOSE:
            transport.feed_eof()
        elif reply.then is Then.RESET:
            transport.reset()


class _Reader:
    """Parser callbacks of one session: when a head arrives the next reply goes out if it
    is an early one; when a request ends, the next reply goes out (if any is left)."""

    def __init__(self, upstream: ScriptedUpstream, session: Session) -> None:
        self.upstream = upstream
        self.session = session

    def on_headers_complete(self) -> None:
        script = self.upstream.script
        if script and script[0].early:
            self.upstream._answer(self.session)

    def on_message_complete(self) -> None:
        session = self.session
        raw = b"".join(session._raw)
        session._raw.clear()
        session.requests.append(raw)
        self.upstream.requests.append(raw)
        self.upstream._answer(session)


# -- virtual loop -----------------------------------------------------------------------------


class _Selector(selectors.DefaultSelector):
    """Polls real I/O without waiting; when the loop would wait for a timer, the virtual
    clock jumps to it instead."""

    def __init__(self, advance: Callable[[float], None]) -> None:
        super().__init__()
        self._advance = advance

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:  # no timer at all: only real I/O (a thread) can wake us
            return super().select(None)
        self._advance(timeout)
        return []


class VirtualLoop(asyncio.SelectorEventLoop):
    """An asyncio loop on virtual time whose connects reach `ScriptedUpstream`s."""

    def __init__(self) -> None:
        self._now = 0.0
        super().__init__(_Selector(self.advance))
        self.upstreams: dict[Address, ScriptedUpstream] = {}

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += max(0.0, seconds)

    async def create_connection(  # type: ignore[override]  # the host/port form only
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        host: str | None = None,
        port: int | None = None,
        **kwargs: Any,
    ) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
        upstream = self.upstreams.get((str(host), int(port or 0)))
        if upstream is None:
            raise ConnectionRefusedError(111, f"nothing listens on {host}:{port}")
        return await upstream.connect(self, protocol_factory)


def running_loop() -> VirtualLoop:
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualLoop), "run this test with fakes.run"
    return loop


async def settle() -> None:
    """Let everything due now happen (callbacks, tasks, the replies they trigger); the
    virtual clock moves by one microsecond."""
    await asyncio.sleep(1e-6)


def run(main: Callable[[], Coroutine[Any, Any, T]], limit: float = 3600.0) -> T:
    """Run `main` on a fresh VirtualLoop. Fails if it takes more than `limit` virtual
    seconds, or if the loop reported an error (an exception escaping a callback)."""
    errors: list[dict[str, Any]] = []

    async def guarded() -> T:
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: errors.append(ctx))
        async with asyncio.timeout(limit):
            return await main()

    with asyncio.Runner(loop_factory=VirtualLoop) as runner:
        result = runner.run(guarded())
    if errors:
        raise AssertionError(f"the event loop reported errors: {errors}")
    return result


# -- checked exchange ---------------------------------------------------------------------------

_STATE = Exchange.__dict__["state"]  # the slot's descriptor, under the property below


class CheckedExchange(Exchange):
    """An Exchange whose every state move must be an entry of `MOVES`, and which may
    finish with a complete response only once no connect is in progress.

    A bad move raises, and is also recorded in `violations`: raised inside a parser
    callback, it would only turn into a 400 the test might not look at. Each exchange
    keeps the states it went through (`path`); `made` lists the exchanges in order.
    """

    __slots__ = ("path",)
    made: ClassVar[list[CheckedExchange]] = []
    violations: ClassVar[list[str]] = []

    @property
    def state(self) -> State:
        value: State = _STATE.__get__(self, Exchange)
        return value

    @state.setter
    def state(self, new: State) -> None:
        try:
            old: State | None = _STATE.__get__(self, Exchange)
        except AttributeError:
            old = None  # the first store, in __init__
        problem = self._problem(old, new)
        if problem is not None:
            self.violations.append(problem)
            raise AssertionError(problem)
        if old is None:
            self.path = [new]
            self.made.append(self)
        else:
            self.path.append(new)
        _STATE.__set__(self, new)

    def _problem(self, old: State | None, new: State) -> str | None:
        if old is None:
            return None if new is State.HEAD else f"an exchange began in {new.name}"
        if new not in MOVES.targets(old):
            allowed = ", ".join(sorted(s.name for s in MOVES.targets(old))) or "nothing"
            return f"exchange moved {old.name} -> {new.name}; MOVES allows {allowed}"
        if new in (State.DONE, State.UPGRADED) and self.task is not None:
            return f"exchange finished ({new.name}) while its connect task still ran"
        return None


@contextlib.contextmanager
def check_moves() -> Iterator[list[str]]:
    """Every exchange made meanwhile is a CheckedExchange; yields the violations list.
    (Swaps the class downstream instantiates: a test seam that costs the hot path nothing.)"""
    CheckedExchange.violations.clear()
    CheckedExchange.made.clear()
    setattr(downstream, "Exchange", CheckedExchange)  # noqa: B010 (not exported: mypy)
    try:
        yield CheckedExchange.violations
    finally:
        setattr(downstream, "Exchange", Exchange)  # noqa: B010
