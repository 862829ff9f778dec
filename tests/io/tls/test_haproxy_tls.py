"""TLS on the haproxy engine against a real HAProxy (Debian's 2.6): the pair's 0600 file,
TLS 1.2 at least, HTTP/2 to clients by ALPN (HTTP/1.1 to the replica), X-Forwarded-Proto
https, and a certificate swap through the runtime API (no reload) seen by new handshakes
only, with a pair HAProxy refuses aborted while the old one serves on. The blue-green
preview listener (the agent accepts, HAProxy serves over a socketpair) speaks TLS the
same way, from the same certificate, and the swap reaches it too."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import ssl
import stat
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import httpx
import pytest
import trustme

from changeover.agent.engine import make
from changeover.agent.paths import StatePaths
from changeover.haproxy.engine import HaproxyEngine
from changeover.haproxy.runtime import RuntimeApiError
from changeover.proxy.policy import TrafficPolicy
from changeover.spec.models import ProxySettings
from changeover.tlsfiles import Pair, load_pair
from tests.helpers import bounded, until
from tests.io.haproxy.test_haproxy_real import App
from tests.parts import require
from tests.tlscerts import Issued, client_context, issue, plain_answer

CA = trustme.CA()


@pytest.fixture(autouse=True)
def haproxy_installed() -> None:
    require("haproxy", "haproxy")


async def replica(revision: int = 1) -> tuple[asyncio.Server, int]:
    """Answers each request with the protocol it came in and its X-Forwarded-Proto, and
    says its revision in `X-Revision`."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                proto = b"-"
                while (header := await reader.readline()) not in (b"\r\n", b""):
                    if header.lower().startswith(b"x-forwarded-proto:"):
                        proto = header.split(b":", 1)[1].strip()
                version = line.split()[-1]
                body = version + b" " + proto
                head = b"HTTP/1.1 200 OK\r\nX-Revision: %d\r\nContent-Length: %d\r\n\r\n"
                writer.write(head % (revision, len(body)) + body)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, int(server.sockets[0].getsockname()[1])


@asynccontextmanager
async def serving(tmp_path: Path, files: Issued) -> AsyncIterator[tuple[HaproxyEngine, int]]:
    paths = StatePaths(tmp_path / "state")
    paths.ensure()
    pair = load_pair(files.cert, files.key)
    engine = make(ProxySettings(engine="haproxy"), paths, builtin=lambda: None, tls=pair)  # type: ignore[arg-type,return-value]
    assert isinstance(engine, HaproxyEngine)
    app, app_port = await replica()
    public = socket.create_server(("127.0.0.1", 0))
    await engine.serve(public)
    engine.add_endpoint("r1-1", 1, "127.0.0.1", app_port)
    engine.set_routable("r1-1", True)
    await until(lambda: engine.pending == 0, 10, "the runtime API caught up")
    try:
        yield engine, engine.address[1]
    finally:
        await engine.shutdown(timeout=2.0)
        app.close()


def pem_file(engine: HaproxyEngine) -> tuple[int, bytes] | None:
    """The mode and bytes of the pair's file HAProxy reads (None: no such file)."""
    pem = Path(engine.settings.tls_cert or "")
    if not pem.exists():
        return None
    return stat.S_IMODE(pem.stat().st_mode), pem.read_bytes()


class Conn:
    """A new TLS connection and the sha256 of the certificate it was shown."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        self.seen = ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())

    async def status_line(self) -> bytes:
        self.writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        return await self.reader.readuntil(b"\r\n")


async def handshake(port: int, context: ssl.SSLContext) -> Conn:
    """A TLS connection to 127.0.0.1:port, checked against the name `localhost`."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname="localhost"
    )
    return Conn(reader, writer)


def test_tls_with_h2_to_clients_and_http11_to_the_replica(tmp_path: Path) -> None:
    files = issue(CA, tmp_path / "tls")

    async def go() -> None:
        async with serving(tmp_path, files) as (engine, port):
            assert pem_file(engine) == (0o600, load_pair(files.cert, files.key).combined)
            async with httpx.AsyncClient(http2=True, verify=client_context(CA)) as h2:
                response = await h2.get(f"https://localhost:{port}/")
            assert response.http_version == "HTTP/2"
            assert (response.status_code, response.text) == (200, "HTTP/1.1 https")
            async with httpx.AsyncClient(verify=client_context(CA)) as h1:
                response = await h1.get(f"https://localhost:{port}/")
            assert response.http_version == "HTTP/1.1"
            assert response.text == "HTTP/1.1 https"
            conn = await handshake(port, client_context(CA))
            assert conn.seen == files.sha256
            assert conn.writer.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
            conn.writer.close()
            old = client_context(CA)
            old.set_ciphers("DEFAULT:@SECLEVEL=0")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
            with pytest.raises((ssl.SSLError, ConnectionError)) as refused:
                await handshake(port, old)
            assert "NO_PROTOCOLS_AVAILABLE" not in str(refused.value)
        assert pem_file(engine) is None  # removed with the engine's private folder

    bounded(go(), 60.0, on_uvloop=True)


def test_a_swap_through_the_runtime_api_and_a_refused_pair(tmp_path: Path) -> None:
    first = issue(CA, tmp_path / "a", "first")
    second = issue(CA, tmp_path / "b", "second")
    third = issue(CA, tmp_path / "c", "third")

    async def go() -> None:
        async with serving(tmp_path, first) as (engine, port):
            context = client_context(CA)
            master = engine.master
            assert master is not None
            before = await handshake(port, context)
            assert before.seen == first.sha256
            await engine.set_certificate(load_pair(second.cert, second.key))
            after = await handshake(port, context)
            assert after.seen == second.sha256
            assert engine.certificate is not None
            assert engine.certificate.fingerprint == second.sha256
            assert pem_file(engine) == (0o600, load_pair(second.cert, second.key).combined)
            # the connection opened before still works, with its first certificate
            assert (await before.status_line()).startswith(b"HTTP/1.1 200")
            assert before.seen == first.sha256
            # a pair whose key is another certificate's: HAProxy refuses, the pair serves on
            mismatched: Pair = replace(
                load_pair(third.cert, third.key), key_pem=second.key.read_bytes()
            )
            with pytest.raises(RuntimeApiError) as refused:
                await engine.set_certificate(mismatched)
            assert "PRIVATE" not in str(refused.value)
            assert "inconsistencies between private key and certificate" in str(refused.value)
            again = await handshake(port, context)
            assert again.seen == second.sha256
            assert engine.certificate.fingerprint == second.sha256
            assert engine.master is master  # no reload, no restart
            assert master.pid == engine.master.pid
            for conn in (before, after, again):
                conn.writer.close()
            assert pem_file(engine) == (0o600, load_pair(second.cert, second.key).combined)

    bounded(go(), 60.0, on_uvloop=True)


def test_the_preview_listener_speaks_tls_with_the_same_pair_and_its_swaps(
    tmp_path: Path,
) -> None:
    first = issue(CA, tmp_path / "a", "first")
    second = issue(CA, tmp_path / "b", "second")

    async def go() -> None:
        green, green_port = await replica(2)
        try:
            async with serving(tmp_path, first) as (engine, port):
                preview = await preview_of_2(engine, green_port)
                # HTTP/2 by ALPN and X-Forwarded-Proto https, as on the public listener
                async with httpx.AsyncClient(http2=True, verify=client_context(CA)) as h2:
                    answer = await h2.get(f"https://localhost:{preview}/")
                    public = await h2.get(f"https://localhost:{port}/")
                assert answer.http_version == "HTTP/2"
                assert (answer.headers["x-revision"], answer.text) == ("2", "HTTP/1.1 https")
                assert public.headers["x-revision"] == "1"
                before = await handshake(preview, client_context(CA))
                assert before.seen == first.sha256
                assert before.writer.get_extra_info("ssl_object").version() in (
                    "TLSv1.2",
                    "TLSv1.3",
                )
                assert not (await plain_answer("127.0.0.1", preview)).startswith(b"HTTP/")
                # one `set ssl cert` for the file both binds name: both serve the new pair
                await engine.set_certificate(load_pair(second.cert, second.key))
                after = await handshake(preview, client_context(CA))
                assert after.seen == second.sha256
                public_after = await handshake(port, client_context(CA))
                assert public_after.seen == second.sha256
                assert (await after.status_line()).startswith(b"HTTP/1.1 200")
                assert (await before.status_line()).startswith(b"HTTP/1.1 200")  # kept its own
                assert before.seen == first.sha256
                for conn in (before, after, public_after):
                    conn.writer.close()
        finally:
            green.close()

    bounded(go(), 60.0, on_uvloop=True)


async def preview_of_2(engine: HaproxyEngine, green_port: int) -> int:
    """Revision 2 (one replica at `green_port`, no public traffic) as the preview of a
    preview listener the engine now serves; that listener's port."""
    engine.add_endpoint("r2-1", 2, "127.0.0.1", green_port)
    engine.set_routable("r2-1", True)
    engine.set_traffic(TrafficPolicy({1: 100, 2: 0}))
    engine.set_preview(2)
    await engine.serve_preview(socket.create_server(("127.0.0.1", 0)))
    assert engine.preview_address is not None
    await until(lambda: engine.pending == 0, 10, "the runtime API caught up")
    return engine.preview_address[1]


async def h2_request(
    port: int, path: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, h2.connection.H2Connection]:
    """An HTTP/2 connection (ALPN h2) that sent one GET of `path` on stream 1."""
    context = client_context(CA)
    context.set_alpn_protocols(["h2"])
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname="localhost"
    )
    assert writer.get_extra_info("ssl_object").selected_alpn_protocol() == "h2"
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    headers = [(":method", "GET"), (":path", path), (":scheme", "https")]
    conn.send_headers(1, [*headers, (":authority", "localhost")], end_stream=True)
    writer.write(conn.data_to_send())
    return reader, writer, conn


async def h2_exchange(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, int]:
    """An HTTP/2 connection (ALPN h2) that made one request; its answer's status."""
    reader, writer, conn = await h2_request(port, "/")
    status = 0
    while not status:
        data = await asyncio.wait_for(reader.read(65536), 10)
        assert data, "closed before the answer"
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived):
                status = int(dict(event.headers)[b":status"])
        writer.write(conn.data_to_send())
    return reader, writer, status


def test_an_idle_h2_preview_connection_is_closed_when_the_preview_ends(tmp_path: Path) -> None:
    """HTTP/2 over TLS on the preview bind: the agent shuts an idle connection's reading
    side as for HTTP/1.1, and HAProxy ends it (haproxy/preview.py)."""
    files = issue(CA, tmp_path / "a", "first")

    async def go() -> None:
        green, green_port = await replica(2)
        try:
            async with serving(tmp_path, files) as (engine, _port):
                reader, writer, status = await h2_exchange(await preview_of_2(engine, green_port))
                assert status == 200
                engine.set_preview(None)

                async def ended() -> None:
                    while await reader.read(65536):  # a GOAWAY may come first
                        pass

                with contextlib.suppress(ConnectionError, ssl.SSLError):  # ended, less politely
                    await asyncio.wait_for(ended(), 10)
                writer.close()
        finally:
            green.close()

    bounded(go(), 60.0, on_uvloop=True)


def test_a_busy_h2_preview_connection_finishes_its_stream_then_ends(tmp_path: Path) -> None:
    """A stream in flight when the preview ends gets its whole answer (HTTP/2 carries no
    `Connection: close`), then the agent shuts the connection, now idle."""
    files = issue(CA, tmp_path / "a", "first")

    async def go() -> None:
        green = App(2)
        green_port = await green.start()
        try:
            async with serving(tmp_path, files) as (engine, _port):
                preview = await preview_of_2(engine, green_port)
                reader, writer, conn = await h2_request(preview, "/slow")
                await green.started.wait()
                engine.set_preview(None)
                await until(lambda: not engine.pending, 10, "the maps written")
                green.release.set()
                got: list[object] = []
                with contextlib.suppress(ConnectionError, ssl.SSLError):  # the end, either way
                    while data := await asyncio.wait_for(reader.read(65536), 10):
                        got += conn.receive_data(data)
                        writer.write(conn.data_to_send())
                answers = [e for e in got if isinstance(e, h2.events.ResponseReceived)]
                assert [dict(e.headers)[b":status"] for e in answers] == [b"200"]
                body = b"".join(e.data for e in got if isinstance(e, h2.events.DataReceived))
                assert body == b"rev 2"
                assert any(isinstance(e, h2.events.StreamEnded) for e in got)
                writer.close()
        finally:
            await green.close()

    bounded(go(), 60.0, on_uvloop=True)
