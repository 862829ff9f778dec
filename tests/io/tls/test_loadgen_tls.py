"""The load generator over TLS: an https:// target served, and a handshake that fails
(an untrusted certificate) counted as a failed request, never retried or dropped."""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme

from changeover.loadgen import run as run_load
from tests.io.proxy.proxy_kit import run
from tests.io.tls.test_builtin_tls import serving
from tests.tlscerts import client_context, issue

CA = trustme.CA()


def test_an_https_target_is_driven_with_the_given_trust(tmp_path: Path) -> None:
    files = issue(CA, tmp_path)

    async def main() -> None:
        async with serving(files) as (proxy, backend):
            _, port = proxy.address
            report = await run_load(
                f"https://localhost:{port}",
                rate=200,
                requests=60,
                connections=4,
                ssl_context=client_context(CA),
            )
            assert (report.sent, report.ok, report.failed) == (60, 60, 0)
            assert report.connections_opened == 4
            assert backend.requests[0].header("host") == f"localhost:{port}"
            assert backend.requests[0].header("x-forwarded-proto") == "https"

    run(main)


def test_a_failed_handshake_is_a_failed_request(tmp_path: Path) -> None:
    files = issue(CA, tmp_path)

    async def main() -> None:
        async with serving(files) as (proxy, backend):
            _, port = proxy.address
            stranger = ssl.create_default_context()  # does not trust the test CA
            report = await run_load(
                f"https://localhost:{port}", rate=100, requests=10, ssl_context=stranger
            )
            assert (report.sent, report.ok, report.failed) == (10, 0, 10)
            assert report.connect_error == 10
            assert backend.requests == []

    run(main)
