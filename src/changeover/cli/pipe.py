"""HTTP/1.1 over a child process's stdin and stdout: how the CLI speaks to an agent through
`ssh HOST changeover dial`.

Invariant: the child is the connection. httpcore's pool (one connection, no idle expiry)
starts one child when it first needs a connection and another only after that one ended
(the agent closed it); requests on it are sequential with keep-alive, and request and
response bodies stream through it. A child that ends without answering becomes a
`ConnectError` carrying its own stderr and its command line; the first byte of a fresh
child is awaited for at most `first_answer` seconds even when a request has no read
timeout (a stream). Every child is stopped by its pid when its connection closes.
"""

from __future__ import annotations

import contextlib
import os
import select
import shlex
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

FIRST_ANSWER = 30.0  # ssh connects, authenticates, the remote program starts, the agent answers
STOP_GRACE = 2.0  # after EOF on its stdin, a child gets this long to end by itself
CHUNK = 65536
TAIL_LINES = 12  # of a failed child's stderr, in the error


class ChildStream(httpcore.NetworkStream):
    """One child process as a byte stream: its stdin is written, its stdout read."""

    def __init__(self, argv: list[str], first_answer: float) -> None:
        self.argv = argv
        self._first_answer = first_answer
        self._answered = False
        # a file, not a pipe: a chatty child never blocks on it; closed in `close`
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                start_new_session=True,  # stopped by us only, not by the terminal's Ctrl-C
            )
        except OSError as exc:
            self._stderr.close()
            raise httpcore.ConnectError(f"cannot run {shlex.join(argv)}: {exc}") from None
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        self._in, self._out = self._proc.stdin, self._proc.stdout
        os.set_blocking(self._in.fileno(), False)
        os.set_blocking(self._out.fileno(), False)

    @property
    def pid(self) -> int:
        return self._proc.pid

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        limit = timeout if timeout is not None or self._answered else self._first_answer
        deadline = None if limit is None else time.monotonic() + limit
        while True:
            if not _ready(self._out.fileno(), select.POLLIN, deadline):
                raise self._timed_out(limit)
            try:
                data = os.read(self._out.fileno(), max_bytes)
            except BlockingIOError:
                continue
            if data:
                self._answered = True
                return data
            return self._ended()

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        view = memoryview(buffer)
        while view:
            if not _ready(self._in.fileno(), select.POLLOUT, deadline):
                raise httpcore.WriteTimeout(f"{self._what()} took no input for {timeout:g}s")
            try:
                view = view[os.write(self._in.fileno(), view) :]
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                # it stopped reading: say why once it has exited (httpcore reads next)
                raise httpcore.WriteError(self._failure()) from None

    def close(self) -> None:
        """EOF on its stdin (the remote end closes the agent connection itself), then
        SIGTERM and SIGKILL to its process group if it does not end."""
        if self._proc.returncode is None:
            with contextlib.suppress(OSError):
                self._in.close()
            try:
                self._proc.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                self._stop()
        for stream in (self._in, self._out, self._stderr):
            with contextlib.suppress(OSError):
                stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.UnsupportedProtocol("TLS is not spoken over a dial pipe")

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # idle and readable: the agent ended the connection
            return _ready(self._out.fileno(), select.POLLIN, time.monotonic())
        return None

    def _stop(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, sig)  # its own session: ssh and any ProxyCommand
            try:
                self._proc.wait(STOP_GRACE)
                return
            except subprocess.TimeoutExpired:
                continue

    def _ended(self) -> bytes:
        """EOF on its stdout: a clean end (b"") if it exits 0, else its failure."""
        try:
            code = self._proc.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            return b""  # closed its stdout yet runs on: the connection is over all the same
        if code == 0:
            return b""
        error = httpcore.ReadError if self._answered else httpcore.ConnectError
        raise error(self._failure())

    def _timed_out(self, limit: float | None) -> Exception:
        if self._answered:
            return httpcore.ReadTimeout(f"{self._what()} sent nothing for {limit:g}s")
        return httpcore.ConnectTimeout(
            self._with_stderr(f"no answer within {limit:g}s from {self._what()}")
        )

    def _failure(self) -> str:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(STOP_GRACE)
        code = self._proc.returncode
        ended = "stopped reading" if code is None else f"exited with code {code}"
        return self._with_stderr(f"{self._what()} {ended}")

    def _with_stderr(self, event: str) -> str:
        """The last lines the child wrote on stderr (ssh's own message, the remote
        shell's), then the `event` naming the command, one per line."""
        self._stderr.seek(0)
        lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        said = "\n".join(line.strip() for line in lines[-TAIL_LINES:] if line.strip())
        return f"{said}\n{event}" if said else event

    def _what(self) -> str:
        return f"`{shlex.join(self.argv)}`"


class ChildBackend(httpcore.NetworkBackend):
    """Every connection the pool opens is a new child running `argv`."""

    def __init__(self, argv: list[str], first_answer: float) -> None:
        self.argv = argv
        self.first_answer = first_answer
        self.started: list[int] = []  # pids, in order: one per connection

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = ChildStream(self.argv, self.first_answer)
        self.started.append(stream.pid)
        return stream

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        return self.connect_tcp(path, 0, timeout)


class PipeTransport(httpx.BaseTransport):
    """An httpx transport whose one connection is a child process running `argv`."""

    def __init__(self, argv: list[str], *, first_answer: float = FIRST_ANSWER) -> None:
        self.backend = ChildBackend(argv, first_answer)
        self._pool = httpcore.ConnectionPool(
            network_backend=self.backend, max_connections=1, keepalive_expiry=None
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        url = httpcore.URL(
            scheme=request.url.raw_scheme,
            host=request.url.raw_host,
            port=request.url.port,
            target=request.url.raw_path,
        )
        core = httpcore.Request(
            request.method,
            url,
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx():
            response = self._pool.handle_request(core)
        assert isinstance(response.stream, Iterable)
        return httpx.Response(
            response.status,
            headers=response.headers,
            stream=_Body(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


class _Body(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx():
            yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


# httpcore's errors as httpx's, most specific first (httpx's own transport does the same)
_ERRORS: list[tuple[type[Exception], type[httpx.TransportError]]] = [
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.ProtocolError, httpx.ProtocolError),
]


@contextlib.contextmanager
def _as_httpx() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for theirs, ours in _ERRORS:
            if isinstance(exc, theirs):
                raise ours(str(exc)) from exc
        raise


def _ready(fd: int, events: int, deadline: float | None) -> bool:
    """Wait until `fd` is ready for `events` (or hung up); False once `deadline` passed."""
    poller = select.poll()
    poller.register(fd, events)
    while True:
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        if poller.poll(None if wait is None else wait * 1000):
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False
