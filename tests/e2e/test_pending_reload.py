"""A deploy that changes a start-only key (`proxy.max_header_size`) under load: the
rollout succeeds with nothing failed, `deploy` says the key waits for `changeover reload`
(a note, its `--json` field and an `agent` event), the running proxy indeed keeps its
limit, `status` shows the key until the reload, and the reload applies it."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

from changeover.loadgen import BackgroundLoad
from tests.e2e.harness import Service
from tests.e2e.test_reload import reload

KEY = "proxy.max_header_size"
NOTE = (
    f"note: {KEY} changed: the running agent keeps its settings until 'changeover reload' "
    "(docs/reload.md)"
)
PAD = "a" * 4000  # a 4 KB header: under the default 16384, over the deployed 2048


def padded_status(url: str) -> int:
    """The status of a GET whose head is about 4 KB."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request("GET", "/", headers={"X-Pad": PAD})
        return conn.getresponse().status
    finally:
        conn.close()


def test_a_start_only_key_waits_for_the_reload_and_the_reload_applies_it(
    service: Service,
) -> None:
    url = service.up()
    assert service.status()["agent"]["pending_reload"] == []
    text = service.spec.read_text()
    limited = text.replace(
        'listen = "127.0.0.1:0"', 'listen = "127.0.0.1:0"\nmax_header_size = 2048'
    )
    assert limited != text
    service.spec.write_text(limited)
    with BackgroundLoad(url, rate=50, connections=4, timeout=30) as gen:
        deployed = service.cli("deploy", "--version", "v2", "--json")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert NOTE in deployed.stderr
        assert json.loads(deployed.stdout)["pending_reload"] == [KEY]
        assert padded_status(url) == 200  # the running agent keeps its 16384
        doc = service.status()
        assert doc["agent"]["pending_reload"] == [KEY]
        said = [e["message"] for e in doc["events"] if e["kind"] == "agent"]
        assert f"spec keys not applied until changeover reload: {KEY}" in said
        shown = service.cli("status")
        assert NOTE in shown.stdout, shown.stdout
        reloaded = reload(service)
        assert reloaded.returncode == 0, reloaded.stdout + reloaded.stderr
        assert service.status()["agent"]["pending_reload"] == []  # read from the file
        assert padded_status(url) == 400  # the new agent's limit: 2048
        again = service.cli("deploy", "--version", "v3", "--json")
        assert again.returncode == 0, again.stdout + again.stderr
        assert json.loads(again.stdout)["pending_reload"] == []
        assert "note:" not in again.stderr
    report = gen.report
    assert report is not None
    assert report.sent > 0
    assert report.failed == 0, report.summary()
