"""`changeover alerts rules` checked by promtool, and unit-tested with `promtool test rules`:
for each alert, series that make it pending, then firing, then resolved.

The fixtures are Python data written as JSON (which YAML reads). Every firing alert is
expected with all its labels and annotations, so a change to the rules' text or labels
shows here; values are chosen so the expressions give round numbers.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from changeover.agent.ops.rules import Rule, Target, rules
from tests import parts

TARGET = Target("hello", None, window=300.0, hold=120.0)
SPEC = '[app]\nname = "hello"\ncommand = "sleep 600"\n'
REV4 = {"service": "hello", "revision": "4", "version": "v4"}
COUNT = "http_server_request_duration_seconds_count"
BUCKET = "http_server_request_duration_seconds_bucket"


def series(name: str, values: str, **labels: str) -> dict[str, str]:
    shown = ",".join(f"{k}={json.dumps(v)}" for k, v in labels.items())
    return {"series": f"{name}{{{shown}}}", "values": values}


def expected(rule: Rule, labels: dict[str, str], value: str) -> dict[str, Any]:
    """The firing alert as promtool shows it: every label, the annotations rendered."""

    def fill(text: str) -> str:
        text = re.sub(r"\{\{ \$value[^}]*\}\}", value, text)
        return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], text)

    every = {**labels, "severity": rule.severity, **TARGET.labels, **rule.labels}
    return {
        "exp_labels": every,
        "exp_annotations": {"summary": fill(rule.summary), "runbook": fill(rule.runbook)},
    }


def checks(rule: Rule, pending: int, firing: int, resolved: int, **alert: Any) -> list[Any]:
    """At `pending` nothing fires yet (the condition holds, `for` has not passed), at
    `firing` the alert fires, at `resolved` it is gone."""
    return [
        {"eval_time": f"{pending}m", "alertname": rule.alert, "exp_alerts": []},
        {"eval_time": f"{firing}m", "alertname": rule.alert, "exp_alerts": [alert]},
        {"eval_time": f"{resolved}m", "alertname": rule.alert, "exp_alerts": []},
    ]


def fixtures() -> dict[str, Any]:
    errors, slow, crashing, failed, down = rules(TARGET)
    stable = {"service": "hello", "revision": "3", "version": "v3", "status_class": "2xx"}
    canary = {**REV4, "status_class": "2xx"}
    return {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {  # 50 answers a minute, then as many 5xx from minute 11 to 25
                "interval": "1m",
                "input_series": [
                    series(COUNT, "0+50x60", **REV4, status_class="2xx"),
                    series(COUNT, "0x10 50+50x14 750x30", **REV4, status_class="5xx"),
                ],
                "alert_rule_test": checks(errors, 12, 20, 31, **expected(errors, REV4, "50%")),
            },
            {  # revision 4's answers move from under 100 ms to under 500 ms, then back
                "interval": "1m",
                "input_series": [
                    series("changeover_revision_info", "1x60", **{**stable, "status": "stable"}),
                    series(BUCKET, "0x60", **stable, le="0.05"),
                    series(BUCKET, "0+100x60", **stable, le="0.1"),
                    series(BUCKET, "0+100x60", **stable, le="0.5"),
                    series(BUCKET, "0+100x60", **stable, le="+Inf"),
                    series(BUCKET, "0x60", **canary, le="0.05"),
                    series(BUCKET, "0+100x10 1000x20 1000+100x20", **canary, le="0.1"),
                    series(BUCKET, "0+100x60", **canary, le="0.5"),
                    series(BUCKET, "0+100x60", **canary, le="+Inf"),
                ],
                "alert_rule_test": checks(slow, 12, 20, 40, **expected(slow, REV4, "480ms")),
            },
            {  # three restarts a minute from minute 11 to 20, two replicas
                "interval": "1m",
                "input_series": [
                    series("changeover_replicas", "2x40", **REV4, state="ready"),
                    series("changeover_replica_restarts_total", "0x10 3+3x9 30x30", **REV4),
                ],
                "alert_rule_test": checks(crashing, 12, 20, 27, **expected(crashing, REV4, "15")),
            },
            {  # a rollout rolled back at minute 11: it fires at once (`for: 0s`)
                "interval": "1m",
                "input_series": [
                    series(
                        "changeover_rollouts_total",
                        "0x10 1x20",
                        service="hello",
                        outcome="rolled-back",
                    ),
                ],
                "alert_rule_test": checks(
                    failed,
                    10,
                    11,
                    17,
                    **expected(failed, {"service": "hello", "outcome": "rolled-back"}, "1"),
                ),
            },
            {  # the agent is not scraped from minute 11 to 30
                "interval": "1m",
                "input_series": [
                    series(
                        "changeover_agent_info",
                        "1x10 _x19 1x10",
                        service="hello",
                        changeover_version="0.1.0",
                    ),
                ],
                "alert_rule_test": checks(
                    down, 17, 20, 32, **expected(down, {"service": "hello"}, "1")
                ),
            },
        ],
    }


def test_the_generated_rules_pass_promtool_check_and_their_unit_tests(tmp_path: Path) -> None:
    promtool = parts.require("promtool", "prometheus")
    (tmp_path / "changeover.toml").write_text(SPEC)
    wrote = subprocess.run(
        [sys.executable, "-m", "changeover", "alerts", "rules", "-o", "rules.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrote.returncode == 0, wrote.stderr
    assert wrote.stderr.strip() == "wrote rules.yml (5 alerts)"
    checked = subprocess.run(
        [promtool, "check", "rules", "rules.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 5 rules found" in checked.stdout
    (tmp_path / "tests.yml").write_text(json.dumps(fixtures(), indent=1))
    tested = subprocess.run(
        [promtool, "test", "rules", "tests.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_a_broken_rule_fails_its_unit_test(tmp_path: Path) -> None:
    """The fixtures can fail: with the error threshold raised past 50%, nothing fires."""
    promtool = parts.require("promtool", "prometheus")
    from changeover.agent.ops.rules import render

    text = render(TARGET).replace("> 0.05", "> 0.6")
    (tmp_path / "rules.yml").write_text(text)
    (tmp_path / "tests.yml").write_text(json.dumps(fixtures(), indent=1))
    tested = subprocess.run(
        [promtool, "test", "rules", "tests.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert tested.returncode != 0
    assert "ChangeoverHighErrorRatio" in tested.stdout + tested.stderr
