"""The builtin proxy terminating TLS on a real socket: TLS 1.2 at least, ALPN http/1.1,
X-Forwarded-Proto https, a certificate swap seen by new handshakes only, an invalid pair
never taken, a handover that leaves TLS connections where their session is, and the
blue-green preview listener speaking TLS from the same context (its swaps too)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import ssl
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme

from changeover.agent.tls import watch_files
from changeover.proxy.config import ProxyConfig
from changeover.proxy.policy import TrafficPolicy
from changeover.proxy.server import Proxy
from changeover.tlsfiles import load_pair, start_watch
from tests.io.proxy.proxy_kit import Backend, Message, build, read_body, read_head, run
from tests.tlscerts import Issued, client_context, issue, plain_answer

CA = trustme.CA()


def listening() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


async def started(files: Issued) -> tuple[Proxy, Backend]:
    backend = await Backend().start()
    proxy = Proxy(ProxyConfig(forwarded_proto="https"), tls=load_pair(files.cert, files.key))
    proxy.add_endpoint("r1-1", 1, "127.0.0.1", backend.port)
    proxy.set_routable("r1-1", True)
    await proxy.serve(listening())
    return proxy, backend


class TlsClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(
        cls, proxy: Proxy, context: ssl.SSLContext, address: tuple[str, int] | None = None
    ) -> TlsClient:
        """A TLS connection to the public listener (or `address`), checked as localhost."""
        reader, writer = await asyncio.open_connection(
            *(address or proxy.address), ssl=context, server_hostname="localhost"
        )
        return cls(reader, writer)

    @property
    def ssl_object(self) -> ssl.SSLObject:
        obj = self.writer.get_extra_info("ssl_object")
        assert obj is not None
        return obj  # type: ignore[no-any-return]

    def fingerprint(self) -> str:
        der = self.ssl_object.getpeercert(binary_form=True)
        assert der is not None
        return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())

    async def get(self, path: str = "/") -> Message:
        self.writer.write(build("GET", path))
        await self.writer.drain()
        msg = await read_head(self.reader)
        assert msg is not None, "closed before a response"
        msg.body = await read_body(self.reader, msg, until_eof=True)
        return msg

    async def closed_by_peer(self) -> bool:
        return await self.reader.read() == b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()


@contextlib.asynccontextmanager
async def serving(files: Issued) -> AsyncIterator[tuple[Proxy, Backend]]:
    """A proxy with TLS before one backend; both stopped whatever the test did (a loop
    closed with TLS transports still open would not finish closing)."""
    proxy, backend = await started(files)
    try:
        yield proxy, backend
    finally:
        await proxy.shutdown(2.0)  # a second shutdown only waits for what is left
        await backend.stop()


def test_tls_12_or_later_with_alpn_http11_and_forwarded_proto_https(tmp_path: Path) -> None:
    files = issue(CA, tmp_path)

    async def main() -> None:
        async with serving(files) as (proxy, backend):
            context = client_context(CA)
            context.set_alpn_protocols(["h2", "http/1.1"])
            client = await TlsClient.connect(proxy, context)
            answer = await client.get("/hello")
            assert (answer.status, answer.body) == (200, b"rev 1 /hello")
            assert backend.requests[-1].header("x-forwarded-proto") == "https"
            assert client.ssl_object.selected_alpn_protocol() == "http/1.1"
            assert client.ssl_object.version() in ("TLSv1.2", "TLSv1.3")
            assert client.fingerprint() == files.sha256
            await client.close()

    run(main)


def test_a_client_that_speaks_at_most_tls_11_is_refused(tmp_path: Path) -> None:
    files = issue(CA, tmp_path)

    async def main() -> None:
        async with serving(files) as (proxy, _backend):
            old = client_context(CA)
            old.set_ciphers("DEFAULT:@SECLEVEL=0")  # this client would speak TLS 1.1...
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # as it should be
                old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
            with pytest.raises((ssl.SSLError, ConnectionError)) as refused:
                await TlsClient.connect(proxy, old)
            # the proxy refused it (an alert or a reset), not the client itself
            assert "NO_PROTOCOLS_AVAILABLE" not in str(refused.value)
            twelve = client_context(CA)
            twelve.maximum_version = ssl.TLSVersion.TLSv1_2
            client = await TlsClient.connect(proxy, twelve)
            assert client.ssl_object.version() == "TLSv1.2"
            assert (await client.get()).status == 200
            await client.close()

    run(main)


def test_a_swapped_certificate_is_seen_by_new_handshakes_only(tmp_path: Path) -> None:
    first = issue(CA, tmp_path / "a", "first")
    second = issue(CA, tmp_path / "b", "second")

    async def main() -> None:
        async with serving(first) as (proxy, _backend):
            context = client_context(CA)
            before = await TlsClient.connect(proxy, context)
            assert before.fingerprint() == first.sha256
            await proxy.set_certificate(load_pair(second.cert, second.key))
            assert proxy.certificate is not None
            assert proxy.certificate.fingerprint == second.sha256
            after = await TlsClient.connect(proxy, context)
            assert after.fingerprint() == second.sha256
            # the connection opened before keeps its session and serves on
            assert (await before.get("/again")).status == 200
            assert before.fingerprint() == first.sha256
            assert (await after.get()).status == 200
            for client in (before, after):
                await client.close()

    run(main)


def test_the_agent_watch_takes_a_swapped_pair_and_ignores_an_invalid_one(tmp_path: Path) -> None:
    first = issue(CA, tmp_path, "first")
    events: list[str] = []

    async def main() -> None:
        async with serving(first) as (proxy, _backend):
            watch = start_watch(first.cert, first.key)
            task = asyncio.create_task(
                watch_files(
                    watch, first.cert, first.key, proxy.set_certificate, events.append, 0.02
                )
            )
            context = client_context(CA)

            async def served() -> str:
                client = await TlsClient.connect(proxy, context)
                print_ = client.fingerprint()
                await client.close()
                return print_

            # a key that is not the certificate's: refused, said once, the old pair serves on
            other = issue(CA, tmp_path / "other", "other")
            first.key.write_bytes(other.key.read_bytes())
            await wait_until(lambda: any("not reloaded" in e for e in events))
            assert await served() == first.sha256
            assert proxy.certificate is not None
            assert proxy.certificate.fingerprint == first.sha256
            # the certificate follows: a whole, matching pair, taken
            second = issue(CA, tmp_path / "next", "second")
            issue_into = tmp_path / "cert.pem"
            issue_into.write_bytes(second.cert.read_bytes())
            first.key.write_bytes(second.key.read_bytes())
            await wait_until(lambda: any("tls certificate reloaded" in e for e in events))
            assert await served() == second.sha256
            refused = [e for e in events if "not reloaded" in e]
            assert refused[0].startswith("tls certificate not reloaded: proxy.tls.key: ")
            assert all(e.endswith("; the old one serves on") for e in refused)
            (taken,) = [e for e in events if e.startswith("tls certificate reloaded:")]
            assert taken.endswith(f"sha256 {second.sha256}")
            secret = [
                line
                for files in (first, other, second)
                for line in files.key.read_bytes().decode().splitlines()
                if "-----" not in line
            ]
            assert secret
            for event in events:
                assert not [line for line in secret if line in event]
            task.cancel()

    run(main)


async def wait_until(condition: object, within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_a_handover_keeps_tls_connections_and_answers_their_next_request_closing(
    tmp_path: Path,
) -> None:
    files = issue(CA, tmp_path)

    async def main() -> None:
        async with serving(files) as (proxy, _backend):
            client = await TlsClient.connect(proxy, client_context(CA))
            assert (await client.get()).header("connection") is None  # keep-alive
            handed: list[socket.socket] = []

            def send(socks: list[socket.socket]) -> bool:
                handed.extend(socks)
                return True

            stopping = asyncio.create_task(proxy.shutdown(5.0, idle_grace=1.0, hand_over=send))
            await asyncio.sleep(0)
            answer = await client.get("/after")
            assert answer.status == 200
            assert answer.header("connection") == "close"
            assert await client.closed_by_peer()
            await stopping
            assert handed == []  # its session lives in this process: never handed over
            await client.close()

    run(main)


def test_the_preview_listener_speaks_tls_with_the_same_pair_and_its_swaps(
    tmp_path: Path,
) -> None:
    first = issue(CA, tmp_path / "a", "first")
    second = issue(CA, tmp_path / "b", "second")

    async def main() -> None:
        green = await Backend(2, "r2-1").start()
        try:
            async with serving(first) as (proxy, _blue):
                proxy.add_endpoint("r2-1", 2, "127.0.0.1", green.port)
                proxy.set_routable("r2-1", True)
                proxy.set_traffic(TrafficPolicy({1: 100, 2: 0}))
                await proxy.serve_preview(listening())
                proxy.set_preview(2)
                preview = proxy.preview_address
                assert preview is not None
                context = client_context(CA)
                context.set_alpn_protocols(["h2", "http/1.1"])
                before = await TlsClient.connect(proxy, context, preview)
                answer = await before.get("/p")
                assert (answer.status, answer.body) == (200, b"rev 2 /p")
                assert green.requests[-1].header("x-forwarded-proto") == "https"
                assert before.ssl_object.selected_alpn_protocol() == "http/1.1"
                assert before.ssl_object.version() in ("TLSv1.2", "TLSv1.3")
                assert before.fingerprint() == first.sha256
                assert not (await plain_answer(*preview)).startswith(b"HTTP/")
                # the swap the agent's watch makes reaches the preview's new handshakes
                await proxy.set_certificate(load_pair(second.cert, second.key))
                after = await TlsClient.connect(proxy, context, preview)
                assert after.fingerprint() == second.sha256
                assert (await after.get()).body == b"rev 2 /"
                assert (await before.get("/again")).body == b"rev 2 /again"  # kept its own
                assert before.fingerprint() == first.sha256
                for client in (before, after):
                    await client.close()
        finally:
            await green.stop()

    run(main)
