"""`server_name`: an https:// target reached at an address, its certificate checked for
a DNS name, sent as SNI and as the Host requests carry (`--server-name`)."""

from __future__ import annotations

import ssl

import pytest
import trustme

from changeover.loadgen import run

from ._checks import Arun
from ._servers import Server

CA = trustme.CA()


def server_context() -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    CA.issue_cert("svc.test").configure_cert(context)  # the name only, no address
    return context


def trusting() -> ssl.SSLContext:
    context = ssl.create_default_context()
    CA.configure_trust(context)
    return context


def test_the_name_is_checked_sent_and_said_in_host(arun: Arun) -> None:
    async def go() -> tuple[int, int, set[str]]:
        async with Server(tls=server_context()) as srv:
            report = await run(
                srv.url, rate=200, requests=20, connections=2, ssl_context=trusting(),
                server_name="svc.test",
            )  # fmt: skip
            hosts = {r.headers.get("host", "") for r in srv.received}
            return report.ok, report.failed, hosts | {f"port {srv.port}"}

    ok, failed, hosts = arun(go())
    assert (ok, failed) == (20, 0)
    port = next(h for h in hosts if h.startswith("port ")).removeprefix("port ")
    assert hosts - {f"port {port}"} == {f"svc.test:{port}"}


def test_without_it_the_address_is_checked_and_every_handshake_fails(arun: Arun) -> None:
    async def go() -> tuple[int, int, int]:
        async with Server(tls=server_context()) as srv:
            report = await run(srv.url, rate=200, requests=6, connections=2, ssl_context=trusting())
            return report.ok, report.failed, report.connect_error

    assert arun(go()) == (0, 6, 6)  # a refused certificate fails the connect


def test_a_server_name_needs_https() -> None:
    from changeover.loadgen import LoadGenerator

    with pytest.raises(ValueError, match="a server name needs an https:// URL"):
        LoadGenerator("http://127.0.0.1:1", rate=1, server_name="svc.test")
