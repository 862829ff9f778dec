"""`server_name`: a target reached at an address by the name it answers to, said as the
Host requests carry (`--server-name`); for an https:// one its certificate is checked
for that name, sent as SNI."""

from __future__ import annotations

import ssl

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


def test_over_plain_http_the_name_is_the_host_requests_carry(arun: Arun) -> None:
    """An app that checks Host (Django's ALLOWED_HOSTS) reached at an address: no TLS,
    so the name is said in Host alone."""

    async def go() -> tuple[int, int, set[str]]:
        async with Server() as srv:
            report = await run(srv.url, rate=200, requests=6, connections=2, server_name="svc.test")
            return report.ok, report.failed, {r.headers.get("host", "") for r in srv.received}

    ok, failed, hosts = arun(go())
    assert (ok, failed) == (6, 0)
    (host,) = hosts
    assert host.startswith("svc.test:")
