"""TLS termination end to end, on both engines, under continuous HTTPS load: the
certificate files swapped (new files, then `os.replace`) are served to new handshakes
with no request failing, a rollout after it fails none either; HTTP/2 by ALPN on the
haproxy engine (HTTP/1.1 on the builtin one); a blue-green preview listener that speaks
HTTPS with the same certificate, a swap included, under HTTPS load of its own; `changeover
reload` under HTTPS load on the builtin engine (TLS connections finish on the old agent,
`Connection: close`)."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trustme

from changeover.loadgen import BackgroundLoad, Report, Template
from tests.e2e.harness import ENGINES, Service, with_tls
from tests.helpers import free_port, gone, wait_for
from tests.tlscerts import client_context, issue

MIX = (
    Template(method="GET", path="/", weight=20),
    Template(method="POST", path="/echo", body=b"z" * 4096, weight=3, expect=b"4096 "),
    Template(method="GET", path="/slow?ms=300", weight=1),
)


def https(service: Service) -> str:
    return "https://" + service.status()["agent"]["listen"]


def served(url: str, ca: trustme.CA) -> str:
    """The sha256 of the certificate a new handshake is shown."""
    host, port = url.removeprefix("https://").rsplit(":", 1)
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        client_context(ca).wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def load(url: str, ca: trustme.CA) -> BackgroundLoad:
    return BackgroundLoad(
        url,
        rate=250,
        connections=16,
        templates=MIX,
        timeout=30,
        count_header="X-Version",
        ssl_context=client_context(ca),
    )


def assert_no_failures(report: Report | None) -> Report:
    assert report is not None
    assert report.failed == 0, report.summary()
    assert report.ok == report.sent > 0
    return report


@pytest.mark.parametrize("engine", ENGINES)
def test_a_certificate_swap_under_https_load_fails_no_request(
    service: Service, engine: str, tmp_path: Path
) -> None:
    ca = trustme.CA()
    first = with_tls(service, engine, ca)
    service.up()
    url = https(service)
    assert served(url, ca) == first.sha256
    doc = service.status()
    assert doc["agent"]["tls"]["sha256"] == first.sha256
    first_subject = doc["agent"]["tls"]["subject"]
    assert "OU=first" in first_subject
    with load(url, ca) as gen:
        gen.wait_until(lambda report: report.ok >= 200, 30)
        second = issue(ca, service.dir / "tls", "second")  # each file written, then renamed
        wait_for(lambda: served(url, ca) == second.sha256, 20, "the new certificate served")
        after_swap = gen.snapshot().ok
        gen.wait_until(lambda report: report.ok >= after_swap + 200, 30)
        deployed = service.cli("deploy", "--version", "v2", "--env", "HELLO_VERSION=v2")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    report = assert_no_failures(gen.report)
    assert report.header_counts.get("v2", 0) > 0, report.header_counts
    doc = service.status()
    assert doc["agent"]["tls"]["sha256"] == second.sha256
    assert "OU=second" in doc["agent"]["tls"]["subject"]
    events = service.cli("events", "--lines", "1000")
    assert events.returncode == 0, events.stderr
    assert f"tls certificate reloaded: subject {doc['agent']['tls']['subject']}" in events.stdout
    assert f"tls certificate serving: subject {first_subject}, not after " in events.stdout
    key_lines = [line for line in second.key.read_text().splitlines() if "-----" not in line]
    for line in key_lines:
        assert line not in events.stdout
        assert line not in str(doc)
    # HTTP/2 to clients on haproxy (HTTP/1.1 to the replicas); the builtin speaks 1.1
    with httpx.Client(http2=True, verify=client_context(ca)) as client:
        answer = client.get(url + "/")
    assert answer.status_code == 200
    assert answer.http_version == ("HTTP/2" if engine == "haproxy" else "HTTP/1.1")
    assert answer.headers["x-version"] == "v2"


def phase(service: Service) -> str:
    rollout = service.status()["rollout"]
    return str(rollout["phase"]) if rollout else ""


def plain_answer(port: int) -> bytes:
    """What a TLS listener answers to a plain HTTP request: never an HTTP response."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        try:
            return raw.recv(65536)
        except ConnectionError:
            return b""


@pytest.mark.parametrize("engine", ENGINES)
def test_a_blue_green_preview_is_https_with_the_same_certificate_and_its_swap(
    service: Service, engine: str
) -> None:
    ca = trustme.CA()
    port = free_port()
    extra = f'type = "blue-green"\nauto_promote = false\npreview_listen = "127.0.0.1:{port}"\n'
    first = with_tls(service, engine, ca, extra)
    service.up()
    url, preview = https(service), f"https://127.0.0.1:{port}"
    with load(url, ca) as gen:
        started = service.cli("deploy", "--version", "v2", "--env", "HELLO_VERSION=v2", "--no-wait")
        assert started.returncode == 0, started.stdout + started.stderr
        wait_for(lambda: phase(service) == "paused", 60, "preview ready, waiting for promote")
        assert served(preview, ca) == first.sha256
        assert not plain_answer(port).startswith(b"HTTP/")
        with load(preview, ca) as on_preview:  # HTTPS load of its own, through the swap
            on_preview.wait_until(lambda report: report.ok >= 200, 30)
            second = issue(ca, service.dir / "tls", "second")
            wait_for(lambda: served(preview, ca) == second.sha256, 20, "the new one on preview")
            assert served(url, ca) == second.sha256
            after_swap = on_preview.snapshot().ok
            on_preview.wait_until(lambda report: report.ok >= after_swap + 200, 30)
        promoted = service.cli("promote")
        assert promoted.returncode == 0, promoted.stdout + promoted.stderr
        wait_for(lambda: phase(service) == "succeeded", 30, "the switch")
    assert set(assert_no_failures(on_preview.report).header_counts) == {"v2"}
    assert assert_no_failures(gen.report).header_counts.get("v2", 0) > 0
    events = service.cli("events", "--lines", "1000")
    assert f"preview listener on https://127.0.0.1:{port}" in events.stdout, events.stdout


def reload(service: Service) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "changeover", "reload"],
        cwd=service.dir,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    service.track_agent()
    return result


def test_reloads_under_https_load_fail_no_request(service: Service) -> None:
    ca = trustme.CA()
    first = with_tls(service, "builtin", ca)
    service.up()
    url = https(service)
    agents = [service.agent_pid()]
    with load(url, ca) as gen:
        gen.wait_until(lambda report: report.ok >= 200, 30)
        for _ in range(3):
            result = reload(service)
            assert result.returncode == 0, result.stdout + result.stderr
            new = service.agent_pid()
            assert new not in agents
            assert gone(agents[-1] or 0)
            agents.append(new)
            assert served(url, ca) == first.sha256
    assert_no_failures(gen.report)
