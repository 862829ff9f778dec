"""What `changeover status` says, on status documents made by the agent's own code: the
rollout first (why it is paused, the command that continues it), then live replicas and
the revisions that matter; exited replicas and idle revisions only with `--all`."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console

from changeover.cli.progress import analysis_table, live_table, routing_line, steps_line
from changeover.cli.status_view import StatusView
from changeover.rollout.decision import GuardState, Hold, PausedBy, Traffic
from changeover.rollout.phase import Phase

from ._status_docs import (
    Scene,
    after_the_tour,
    failed,
    guarding,
    inconclusive,
    operator_paused,
    paused_bluegreen,
    paused_canary,
    ready,
)

HEADERS = {"replica", "revision", "rev"}  # first cells of the tables' header rows


def rendered(doc: dict[str, Any], *, width: int = 200, height: int = 200, **kw: Any) -> list[str]:
    console = Console(width=width, height=height, file=io.StringIO(), record=True)
    console.print(StatusView(doc, **kw))
    return [line.rstrip() for line in console.export_text().splitlines()]


def table(lines: list[str], header: str) -> list[list[str]]:
    """The rows (as cells) of the table whose header starts with `header`."""
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == [header])
    rows = []
    for line in lines[start + 1 :]:
        if not line.startswith(" ") or line.split()[0] in HEADERS:  # rows are indented
            break
        rows.append(line.split())
    return rows


def test_a_paused_canary_leads_with_its_step_and_promote() -> None:
    doc = paused_canary().document()
    lines = rendered(doc)
    assert lines[:5] == [
        f"hello  http://127.0.0.1:8080  stable revision 5  agent pid {doc['agent']['pid']}",
        "rollout 8 (deploy, canary): revision 5 -> 6: paused at step 3/4",
        "paused: waiting for `changeover promote` (step 3/4: pause until promote)",
        "traffic weights: revision 5: 90%, revision 6: 10%",
        "steps: ... > 2. analysis slo > 3. pause until promote > 4. set_weight 50%",
    ]
    assert lines[5].split() == [
        "replica",
        "version",
        "state",
        "pid",
        "port",
        "restarts",
        "last",
        "error",
    ]


def test_a_paused_blue_green_names_the_preview_port() -> None:
    lines = rendered(paused_bluegreen().document())
    assert lines[1] == "rollout 8 (deploy, blue-green): revision 5 -> 6: paused"
    assert lines[2] == (
        "paused: waiting for `changeover promote` (preview revision 6 is ready on :8081)"
    )
    assert "preview http://127.0.0.1:8081 -> revision 6" in lines
    doc = paused_bluegreen().document()
    doc["agent"]["tls"] = {"subject": "CN=svc.test", "not_after": "2027-03-01T00:00:00Z"}
    assert "preview https://127.0.0.1:8081 -> revision 6" in rendered(doc)  # same certificate


def test_an_operator_pause_names_who_and_resume() -> None:
    lines = rendered(operator_paused().document())
    assert lines[1:3] == [
        "rollout 8 (deploy, rolling): revision 5 -> 6: paused",
        "paused by alice: `changeover resume` continues",
    ]


def test_an_inconclusive_analysis_says_promote_accepts_and_abort_rolls_back() -> None:
    lines = rendered(inconclusive().document())
    assert lines[1] == "rollout 8 (deploy, canary): revision 5 -> 6: paused at step 2/4"
    assert lines[2] == (
        "paused: analysis 'slo' inconclusive: `changeover promote` accepts it, "
        "`changeover abort` rolls back"
    )
    assert (
        "slo (step-1) inconclusive: "
        'metric "success" inconclusive 3 times (limit 2): too few canary requests'
    ) in lines


def test_a_pause_from_a_newer_agent_still_says_what_continues_it() -> None:
    doc = paused_canary().document()
    doc["rollout"]["paused"] = {"by": "approval", "continue": ["approve"], "message": "ticket 7"}
    assert rendered(doc)[2] == "paused: ticket 7: `changeover approve` continues"


def test_a_pause_without_its_reason_shows_the_phase_only() -> None:
    doc = paused_canary().document()
    doc["rollout"]["paused"] = None  # between `changeover pause` and the agent's next step
    lines = rendered(doc)
    assert lines[1] == "rollout 8 (deploy, canary): revision 5 -> 6: paused at step 3/4"
    assert not lines[2].startswith("paused")


def test_a_guard_window_says_what_is_left_of_it_and_what_it_watches() -> None:
    lines = rendered(guarding().document())
    assert lines[1] == "rollout 8 (deploy, canary): revision 5 -> 6: guarding"
    assert lines[2] == (
        "guard window 15m: 14m left; watching analysis 'slo', alerts and boot failures; "
        "a failure rolls back"
    )
    assert lines[3] == "traffic weights: revision 5: 0%, revision 6: 100%"


def test_a_held_guard_says_what_decides_it() -> None:
    held = "guard holds: guard analysis 'slo' inconclusive: ...; `promote` accepts revision 6"
    lines = rendered(guarding(GuardState.HELD, held).document())
    assert lines[2] == f"guard window 15m: {held}"


def test_a_failed_rollout_gives_its_reason_and_keeps_its_revision() -> None:
    lines = rendered(failed().document())
    assert lines[1] == (
        "rollout 8 (deploy, rolling): revision 5 -> 6: failed "
        "(replica r6-1 failed at boot 3 times: exited with code 3)"
    )
    assert lines[2] == "traffic: spread over 3 ready replica(s), least in-flight first"
    assert [row[0] for row in table(lines, "replica")] == ["r5-1", "r5-2", "r5-3"]
    assert [row[:3] for row in table(lines, "revision")] == [
        ["6", "v6", "failed"],  # the rollout's target, though no replica of it runs
        ["5", "v5", "stable"],
    ]
    assert lines[-1] == "hidden: 9 exited replicas, 4 idle revisions (--all shows them)"


def test_history_hides_exited_replicas_and_idle_revisions() -> None:
    doc = after_the_tour().document()
    assert len(doc["replicas"]) == 11  # the document keeps them all
    lines = rendered(doc)
    assert [row[0] for row in table(lines, "replica")] == ["r5-1", "r5-2"]
    assert [row[:3] for row in table(lines, "revision")] == [["5", "v5", "stable"]]
    assert lines[-1] == "hidden: 9 exited replicas, 4 idle revisions (--all shows them)"
    assert "exited" not in "\n".join(lines[:-1])


def test_all_shows_every_replica_revision_event_and_measurement() -> None:
    doc = paused_canary().document()
    lines = rendered(doc, show_all=True)
    text = "\n".join(lines)
    assert [row[0] for row in table(lines, "replica")] == [r["id"] for r in doc["replicas"]]
    assert [row[0] for row in table(lines, "revision")] == ["6", "5", "4", "3", "2", "1"]
    assert all(e["message"] in text for e in doc["events"])
    assert "success: success_rate 1.00 >= 0.99" in text
    assert "hidden" not in text
    assert "steps: 1. set_weight 10% > 2. analysis slo" in text  # no step elided


def test_no_rollout_yet() -> None:
    doc = after_the_tour().document()
    doc["rollout"], doc["progress"] = None, None
    lines = rendered(doc)
    assert lines[:2] == [
        f"hello  http://127.0.0.1:8080  stable revision 5  agent pid {doc['agent']['pid']}",
        "traffic: spread over 2 ready replica(s), least in-flight first",
    ]
    assert not any(line.startswith("rollout") for line in lines)


@pytest.mark.parametrize("text", ["v2[/rc]", "[bold]canary[/bold]"])
def test_user_text_is_shown_literally(text: str) -> None:
    replicas = [*ready(5, 3), *ready(6, 1, version=text)]
    scene = paused_canary(version=text, replicas=replicas, events=[f"started: 6 ({text})"])
    scene.hold = Hold(PausedBy.OPERATOR, f"paused by {text}")
    joined = "\n".join(rendered(scene.document()))
    assert joined.count(text) == 4  # the pause line, a replica, a revision, an event
    assert f"paused by {text}: `changeover resume` continues" in joined


def test_traffic_weights_or_spread() -> None:
    spread = Scene(traffic=Traffic(), phase=Phase.SUCCEEDED).document()
    assert "traffic: spread over 4 ready replica(s), least in-flight first" in rendered(spread)
    doc = paused_canary().document()
    doc["weights"] = {"10": 5, "9": 95}  # revisions in number order, not text order
    assert "traffic weights: revision 9: 95%, revision 10: 5%" in rendered(doc)


def test_steps_routing_live_traffic_and_measurements() -> None:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    traffic = {
        "header_route": {"header": "x-canary", "value": "1", "revision": 2},
        "sticky": "cookie:user",
        "warm": {"1": 42.0},
    }
    live = {"1": {"window": 10.0, "request_rate": 90.0, "success_rate": 1.0, "latency_p95": 0.002}}
    run = {
        "key": "step-1",
        "template": "slo",
        "status": "failed",
        "summary": "metric [b]success[/b] failed",
        "measurements": [
            {"metric": "success", "outcome": "failed", "message": "success_rate 0.70 < min 0.99"}
        ],
    }
    steps = ["set_weight 10%", "analysis slo", "set_weight 50%"]
    for part in (
        steps_line(steps, 1),
        routing_line(traffic),
        live_table(live),
        analysis_table([run]),
    ):
        console.print(part)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "1. set_weight 10% > 2. analysis slo > 3. set_weight 50%" in text
    assert "header x-canary value '1' -> revision 2" in text
    assert "sticky users by cookie:user" in text
    assert "revision 1 kept warm for 42s" in text
    assert "90.0" in text
    assert "100.00%" in text
    assert "2.0ms" in text
    assert "success_rate 0.70 < min 0.99" in text
    assert "[b]success[/b]" in text  # user text is never markup


def test_the_head_names_the_environment_when_there_is_one() -> None:
    doc = paused_canary().document()
    doc["agent"]["environment"] = "staging"
    assert rendered(doc)[0].startswith("hello [staging]  http://127.0.0.1:8080  stable revision 5")


def test_a_tls_listener_is_https_and_an_ending_certificate_is_said_under_the_head() -> None:
    doc = after_the_tour().document()
    doc["rollout"], doc["progress"] = None, None
    doc["agent"]["tls"] = {
        "subject": "CN=svc.test",
        "not_after": "2027-03-01T00:00:00Z",
        "sha256": "AB:CD",
        "warning": "the certificate (CN=svc.test) expires in 3 days, at 2027-03-01T00:00:00Z",
    }
    lines = rendered(doc)
    assert lines[0].startswith("hello  https://127.0.0.1:8080  stable revision 5")
    assert lines[1] == f"tls: {doc['agent']['tls']['warning']}"
    doc["agent"]["tls"]["warning"] = None
    assert rendered(doc)[1].startswith("traffic: ")
