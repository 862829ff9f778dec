"""The assembled report: its stable JSON shape and its terminal rendering."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from rich.console import Console

from changeover.loadgen import FailureRecord, Report
from changeover.verify.actions import abort_action, promote_action
from changeover.verify.render import render
from changeover.verify.report import Settings, VerifyReport, build_report
from changeover.verify.timeline import RolloutEvent
from changeover.verify.windows import Samples

LOAD_START = 1000.0
SETTINGS = Settings(
    url="http://127.0.0.1:8080",
    rate=100.0,
    connections=4,
    requests=("GET /",),
    warmup=2.0,
    cooldown=2.0,
    timeout=10.0,
    version="v2",
    redeploy=False,
    strategy=None,
)
EVENTS = [
    RolloutEvent(5, 1002.0, "rollout", "rollout 3 (deploy, rolling) started"),
    RolloutEvent(6, 1003.0, "replica", "r3-1 [bold]ready[/bold]"),  # markup stays literal
    RolloutEvent(7, 1005.0, "rollout", "rollout succeeded: revision 3 is stable"),
]


def rollout(phase: str = "succeeded", finished: float | None = 1005.0) -> dict[str, Any]:
    return {
        "id": 3, "kind": "deploy", "strategy": "rolling", "from_revision": 2,
        "to_revision": 3, "phase": phase, "reason": "", "started_at": 1002.0,
        "finished_at": finished,
    }  # fmt: skip


def make(failures: tuple[FailureRecord, ...] = (), phase: str = "succeeded") -> VerifyReport:
    samples = Samples()
    for i in range(70):  # one ok request every 0.1 s over the 7 s run
        samples.add(i / 10, 0.001 if i < 30 else 0.002)
    load = Report(
        sent=70 + len(failures), ok=70, failed=len(failures), refused=len(failures),
        elapsed=7.0, failures=failures,
    )  # fmt: skip
    return build_report(SETTINGS, rollout(phase), EVENTS, load, samples, LOAD_START)


def test_the_json_shape_is_the_documented_one() -> None:
    doc = make((FailureRecord(3.5, "refused", None, "/", 2),)).to_dict()
    json.dumps(doc)  # serialisable as is
    assert list(doc) == [
        "schema", "verdict", "passed", "exit_code", "reasons", "target", "release",
        "rollout", "load", "windows", "events", "failures", "timeline", "follow", "actions",
        "aborted_by_verify",
    ]  # fmt: skip
    assert doc["follow"] == {"max_wait": None, "promote": False}
    assert (doc["actions"], doc["aborted_by_verify"]) == ([], None)
    assert (doc["schema"], doc["verdict"], doc["passed"], doc["exit_code"]) == (
        1,
        "requests-failed",
        False,
        1,
    )
    assert list(doc["target"]) == [
        "url", "rate", "connections", "requests", "warmup", "cooldown", "timeout"
    ]  # fmt: skip
    assert doc["release"] == {"version": "v2", "redeploy": False, "strategy": None}
    assert doc["load"]["failures_by_kind"]["refused"] == 1
    assert set(doc["load"]["failures_by_kind"]) >= {"status", "reset_reused", "timeout"}
    assert "ok" not in doc["load"]["failures_by_kind"]
    assert doc["failures"] == [
        {"t": 1.5, "kind": "refused", "status": None, "path": "/", "reuse": 2,
         "after_event": 6, "since_event": 0.5}
    ]  # fmt: skip
    assert doc["events"][0] == {
        "id": 5, "t": 0.0, "kind": "rollout", "message": "rollout 3 (deploy, rolling) started"
    }  # fmt: skip
    assert list(doc["timeline"][0]) == ["source", "t", "until", "count", "text"]


def test_windows_split_the_run_at_the_rollout() -> None:
    windows = make((FailureRecord(3.5, "refused", None, "/", 2),)).to_dict()["windows"]
    assert [(w["window"], w["start"], w["end"]) for w in windows] == [
        ("before", -2.0, 0.0),
        ("during", 0.0, 3.0),
        ("after", 3.0, 5.0),
    ]
    assert [(w["ok"], w["failed"]) for w in windows] == [(20, 0), (31, 1), (19, 0)]
    assert [w["requests"] for w in windows] == [20, 32, 19]
    assert windows[0]["latency"]["p99"] == 0.001
    assert windows[2]["latency"] == {"p50": 0.002, "p90": 0.002, "p99": 0.002, "max": 0.002}


def test_a_clean_run_passes_and_a_failed_rollout_does_not() -> None:
    assert make().to_dict()["verdict"] == "passed"
    assert make().exit_code == 0
    rolled_back = make(phase="failed")
    assert rolled_back.to_dict()["verdict"] == "rollout-failed"
    assert rolled_back.exit_code == 1


def test_an_unfinished_rollout_has_no_report() -> None:
    with pytest.raises(ValueError, match="rollout 3 has not finished"):
        build_report(SETTINGS, rollout(finished=None), EVENTS, Report(), Samples(), 0.0)


def text_of(report: VerifyReport) -> str:
    console = Console(record=True, width=140, color_system=None)
    console.print(render(report))
    return console.export_text()


def test_rendering_shows_counts_windows_timeline_and_verdict() -> None:
    shown = text_of(make((FailureRecord(3.5, "refused", None, "/", 2),)))
    assert "deploy of v2: rollout 3 (rolling), revision 2 -> 3, succeeded" in shown
    assert "refused 1" in shown
    assert "+1.500s  1 failed: refused on /" in shown
    assert "r3-1 [bold]ready[/bold]" in shown
    assert "verdict: requests-failed" in shown
    assert "1 of 71 requests failed" in shown
    for window in ("before", "during", "after"):
        assert window in shown
    assert "verdict: passed" in text_of(make())


def test_actions_of_verify_are_on_the_timeline_but_not_among_the_agents_events() -> None:
    load = Report(sent=70, ok=70, elapsed=7.0)
    actions = [promote_action(1003.5, 1.4, 2)]
    settings = dataclasses.replace(SETTINGS, promote=True)
    report = build_report(settings, rollout(), EVENTS, load, Samples(), LOAD_START, actions)
    doc = report.to_dict()
    assert [e["id"] for e in doc["events"]] == [5, 6, 7]
    texts = [(row["t"], row["text"]) for row in doc["timeline"]]
    assert (1.5, "verify promoted step 2") in texts
    assert texts.index((1.5, "verify promoted step 2")) == 2  # between the events at 1.0 and 3.0
    assert doc["actions"] == [
        {"t": 1.5, "elapsed": 1.4, "action": "promote", "accepted": True,
         "message": "verify promoted step 2"}
    ]  # fmt: skip
    assert doc["follow"] == {"max_wait": None, "promote": True}
    assert (doc["verdict"], doc["aborted_by_verify"]) == ("passed", None)
    assert "+1.500s  verify promoted step 2" in text_of(report)


def test_a_rollout_aborted_by_verify_fails_even_with_zero_failed_requests() -> None:
    load = Report(sent=70, ok=70, elapsed=7.0)
    aborted = {**rollout(phase="aborted"), "reason": "aborted by operator"}
    actions = [abort_action(1005.0, 3.02, 3.0)]
    settings = dataclasses.replace(SETTINGS, max_wait=3.0)
    report = build_report(settings, aborted, EVENTS, load, Samples(), LOAD_START, actions)
    doc = report.to_dict()
    assert (doc["verdict"], doc["passed"], doc["exit_code"]) == ("rollout-failed", False, 1)
    assert doc["aborted_by_verify"] == {"after": 3.02, "max_wait": 3.0}
    assert doc["reasons"][0] == (
        "the rollout was aborted by verify after 3.0 s: it had not finished within --max-wait"
    )
    assert doc["follow"] == {"max_wait": 3.0, "promote": False}
    assert doc["actions"][0]["action"] == "abort"
    assert "aborted by verify after 3.0 s" in text_of(report)


def test_a_refused_abort_is_recorded_but_is_not_an_abort_by_verify() -> None:
    load = Report(sent=70, ok=70, elapsed=7.0)
    actions = [abort_action(1005.0, 3.0, 3.0, "cannot abort a rollout that is succeeded")]
    report = build_report(SETTINGS, rollout(), EVENTS, load, Samples(), LOAD_START, actions)
    doc = report.to_dict()
    assert (doc["verdict"], doc["aborted_by_verify"]) == ("passed", None)
    assert doc["actions"][0]["accepted"] is False
