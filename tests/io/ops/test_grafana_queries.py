"""docs/monitoring.md's Grafana-ready queries, as written there, checked by promtool: each
one parses, and the request-rate panel gives the request rate on both engines (the
histogram holds every request on the builtin proxy, one in `..._sample_one_in` on the
haproxy engine).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests import parts

DOC = Path(__file__).resolve().parents[3] / "docs" / "monitoring.md"
COUNT = "http_server_request_duration_seconds_count"


def panels() -> dict[str, list[str]]:
    """panel -> its queries (the code spans of its row), `$service` set to hello."""
    text = DOC.read_text()
    table = text.split("## Grafana-ready queries", 1)[1].split("\n## ", 1)[0]
    out: dict[str, list[str]] = {}
    for line in table.splitlines():
        cells = line.split(" | ")
        if len(cells) < 2 or not line.startswith("| ") or "---" in cells[0]:
            continue
        spans = re.findall(r"`([^`]+)`", cells[1])
        queries = [q.replace("$service", "hello") for q in spans if "{" in q]
        if queries:
            out[cells[0].removeprefix("| ")] = queries
    return out


def test_every_grafana_query_of_the_docs_parses(tmp_path: Path) -> None:
    promtool = parts.require("promtool", "prometheus")
    found = panels()
    assert "requests per second, by revision" in found
    assert len(found) >= 15
    rules = [
        {"record": f"grafana:panel_{i}", "expr": query}
        for i, query in enumerate(q for queries in found.values() for q in queries)
    ]
    (tmp_path / "rules.yml").write_text(json.dumps({"groups": [{"name": "g", "rules": rules}]}))
    done = subprocess.run(
        [promtool, "check", "rules", "rules.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_request_rate_panel_counts_every_request_on_both_engines(tmp_path: Path) -> None:
    """Revision 3 answers 4 requests a second; its histogram holds all of them (builtin,
    the gauge at 1) or one in 8 (haproxy, the gauge at 8): the panel says 4 both times."""
    promtool = parts.require("promtool", "prometheus")
    (query,) = panels()["requests per second, by revision"]
    labels = 'service="hello",revision="3",version="v3",status_class="2xx"'
    tests = []
    for one_in, per_minute in ((1, 240), (8, 30)):
        tests.append(
            {
                "interval": "1m",
                "input_series": [
                    {"series": f"{COUNT}{{{labels}}}", "values": f"0+{per_minute}x10"},
                    {
                        "series": 'changeover_proxy_latency_sample_one_in{service="hello"}',
                        "values": f"{one_in}x10",
                    },
                ],
                "promql_expr_test": [
                    {
                        "expr": query,
                        "eval_time": "5m",
                        "exp_samples": [
                            {"labels": '{revision="3",version="v3"}', "value": 4},
                        ],
                    }
                ],
            }
        )
    (tmp_path / "empty.yml").write_text(json.dumps({"groups": []}))
    (tmp_path / "tests.yml").write_text(json.dumps({"rule_files": ["empty.yml"], "tests": tests}))
    done = subprocess.run(
        [promtool, "test", "rules", "tests.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
