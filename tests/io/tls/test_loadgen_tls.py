"""The load generator over TLS: an https:// target served, and a handshake that fails
(an untrusted certificate) counted as a failed request, never retried or dropped; the
`--cacert FILE` it shares with `changeover verify` (`loadgen.trust`): what is wrong with
a file, and why a first handshake fails, in words."""

from __future__ import annotations

import asyncio
import re
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import trustme

from changeover.loadgen import run as run_load
from changeover.loadgen.trust import ca_context, handshake
from changeover.tlsfiles import load_pair
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


def test_a_cacert_file_is_a_pem_ca_bundle_or_a_message_naming_it(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(CA.cert_pem.bytes())
    assert isinstance(ca_context(ca_file), ssl.SSLContext)
    issue(CA, tmp_path / "tls")
    (tmp_path / "junk.txt").write_text("not a certificate\n")
    (tmp_path / "broken.pem").write_bytes(
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    )
    for name, message in (
        ("absent.pem", "no such file"),
        ("tls", "not a regular file"),
        ("junk.txt", "holds no PEM certificate"),
        ("tls/key.pem", "holds no PEM certificate"),
        ("broken.pem", "a certificate in it cannot be read"),
    ):
        with pytest.raises(ValueError, match="^" + re.escape(f"--cacert {tmp_path / name}: ")):
            ca_context(tmp_path / name)
        with pytest.raises(ValueError, match=re.escape(message)):
            ca_context(tmp_path / name)


def test_the_load_generator_exits_2_on_a_bad_cacert(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("nothing\n")
    result = subprocess.run(
        [sys.executable, "-m", "changeover.loadgen", "https://127.0.0.1:9", "--rate", "1",
         "--cacert", str(junk)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert f"--cacert {junk}: holds no PEM certificate" in result.stderr


def test_a_first_handshake_says_why_it_fails(tmp_path: Path) -> None:
    files = issue(CA, tmp_path)  # names localhost and 127.0.0.1
    elsewhere = trustme.CA()
    only_a_name = elsewhere.issue_cert("svc.test")
    named = tmp_path / "named"
    named.mkdir()
    (named / "cert.pem").write_bytes(b"".join(b.bytes() for b in only_a_name.cert_chain_pems))
    (named / "key.pem").write_bytes(only_a_name.private_key_pem.bytes())
    (named / "key.pem").chmod(0o600)

    async def main() -> None:
        async with serving(files) as (proxy, _backend):
            _, port = proxy.address
            url = f"https://127.0.0.1:{port}"
            trusted = client_context(CA)
            assert await asyncio.to_thread(handshake, url, trusted, 5.0) is None
            untrusted = await asyncio.to_thread(handshake, url, ssl.create_default_context(), 5.0)
            assert untrusted == (
                "certificate verify failed: unable to get local issuer certificate"
            )
            await proxy.set_certificate(load_pair(named / "cert.pem", named / "key.pem"))
            mismatch = await asyncio.to_thread(handshake, url, client_context(elsewhere), 5.0)
            assert mismatch == (
                "certificate verify failed: IP address mismatch, "
                "certificate is not valid for '127.0.0.1'"
            )
        assert await asyncio.to_thread(handshake, url, trusted, 5.0) is None  # not reached

    run(main)
