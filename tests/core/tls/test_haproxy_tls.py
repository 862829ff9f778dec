"""TLS on the haproxy engine without IO: the `bind` line, and the runtime API commands
that change the pair (their bytes, how answers are judged, what they never show)."""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path

import pytest
import trustme

from changeover.haproxy.config import Settings, render
from changeover.haproxy.runtime import RuntimeApiError
from changeover.haproxy.tls import commit_cert, payload, set_cert, sha1, show_cert, shows
from changeover.tlsfiles import Pair, load_pair
from tests.tlscerts import issue

PEM = "/run/svc/haproxy/tls.pem"


def settings(**kw: object) -> Settings:
    return Settings(listen_fd=3, stats_socket="/run/svc/haproxy/stats.sock", **kw)  # type: ignore[arg-type]


def bind_line(text: str) -> str:
    (line,) = [line for line in text.splitlines() if line.strip().startswith("bind ")]
    return line


def test_without_tls_the_bind_line_is_the_bare_fd() -> None:
    assert bind_line(render(settings())) == "    bind fd@3"


def test_with_tls_the_bind_line_terminates_tls_offering_h2_then_http11() -> None:
    text = render(settings(tls_cert=PEM, forwarded_proto="https"))
    assert bind_line(text) == (f"    bind fd@3 ssl crt {PEM} alpn h2,http/1.1 ssl-min-ver TLSv1.2")
    assert "    http-request set-header X-Forwarded-Proto https" in text.splitlines()


def test_the_preview_bind_gets_the_same_tls_options_and_file_as_the_public_one() -> None:
    def binds(text: str) -> list[str]:
        return [line.strip() for line in text.splitlines() if line.strip().startswith("bind ")]

    assert binds(render(settings(preview_fd=4))) == ["bind fd@3", "bind sockpair@4 name preview"]
    # one file for both binds: one `set ssl cert` on it reaches both (io test)
    tls = f" ssl crt {PEM} alpn h2,http/1.1 ssl-min-ver TLSv1.2"
    assert binds(render(settings(preview_fd=4, tls_cert=PEM, forwarded_proto="https"))) == [
        f"bind fd@3{tls}",
        f"bind sockpair@4 name preview{tls}",
    ]


@pytest.mark.parametrize("path", ["relative.pem", "/a b.pem", "/x;y.pem", "/x\n.pem"])
def test_a_certificate_path_haproxy_would_split_is_refused(path: str) -> None:
    with pytest.raises(ValueError, match="tls_cert must be an absolute path"):
        settings(tls_cert=path)


@pytest.fixture
def pair(tmp_path: Path) -> Pair:
    files = issue(trustme.CA(), tmp_path)
    return load_pair(files.cert, files.key)


def test_the_payload_has_no_empty_line_and_ends_with_one(pair: Pair) -> None:
    spaced = pair.cert_pem.replace(b"-----\n", b"-----\n\n") + b"\r\n\r\n"
    body = payload(spaced + pair.key_pem)
    assert b"\n\n" not in body
    assert body.endswith(b"-----\n")
    assert b"\r" not in body


def test_set_ssl_cert_sends_the_pem_as_a_payload_ended_by_an_empty_line(pair: Pair) -> None:
    command = set_cert(PEM, pair)
    raw = command.line()
    head, rest = raw.split(b"\n", 1)
    assert head == f"set ssl cert {PEM} <<".encode()
    assert rest.endswith(b"PRIVATE KEY-----\n\n")
    assert rest.count(b"\n\n") == 1
    # the key stays out of what errors and logs show
    assert "PRIVATE" not in command.text
    assert "PRIVATE" not in repr(command)


def test_answers_are_judged_as_haproxy_26_words_them(pair: Pair) -> None:
    created = f"Transaction created for certificate {PEM}!\n".encode()
    assert set_cert(PEM, pair).check(created)
    with pytest.raises(RuntimeApiError, match="inconsistencies"):
        set_cert(PEM, pair).check(b"inconsistencies between private key and certificate loaded")
    assert commit_cert(PEM).check(f"Committing {PEM}\nSuccess!\n".encode())
    with pytest.raises(RuntimeApiError):
        commit_cert(PEM).check(b"No ongoing transaction!\n")
    assert show_cert(PEM).text == f"show ssl cert {PEM}"


def test_show_ssl_cert_is_matched_by_the_leaf_sha1(pair: Pair) -> None:
    leaf = pair.cert_pem.split(b"-----END CERTIFICATE-----")[0] + b"-----END CERTIFICATE-----\n"
    der = ssl.PEM_cert_to_DER_cert(leaf.decode())
    expected = hashlib.sha1(der).hexdigest().upper()
    assert sha1(pair) == expected
    assert shows(f"Filename: {PEM}\nSHA1 FingerPrint: {expected}\n", pair)
    assert not shows(f"Filename: {PEM}\nSHA1 FingerPrint: {'0' * 40}\n", pair)
