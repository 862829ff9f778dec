"""`status` fits a terminal: at 80x24, with 2-4 live replicas and an active canary, every
essential is on screen and the rest is trimmed oldest first, with a line saying what was
not shown; `--all` and output that is not a terminal trim nothing; `--watch` piped prints
snapshots separated by a short line."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from rich.console import Console

from changeover.cli import status
from changeover.cli.status_view import StatusView, first_line
from changeover.rollout.decision import Traffic
from changeover.rollout.steps import HeaderRoute
from changeover.supervisor.state import ReplicaState
from tests.io.agent._fakes import replica_info

from ._status_docs import Scene, exited, inconclusive, paused_canary, ready, run

STAMP = re.compile(r"^\d\d:\d\d:\d\d  ")
LONG = "upstream connect error or disconnect/reset before headers, reset reason: overflow " * 2


def busy_canary(**kw: Any) -> Scene:
    """Progressing at its analysis step with a header route, sticky users, a background
    analysis, a crash-looping replica and long event messages: every optional part."""
    traffic = Traffic(
        weights={5: 90, 6: 10},
        header_route=HeaderRoute("x-canary", value="1"),
        header_revision=6,
        sticky="cookie:session",
    )
    runs = [
        run("background", "running", "", ("success", "passed", "success_rate 1.00 >= 0.99")),
        run("step-1", "running", "", ("latency", "passed", "p99 4.1ms <= 250ms " + LONG)),
    ]
    events = [f"event {i}: {LONG}" for i in range(15)]
    return Scene(step=1, traffic=traffic, runs=runs, events=events, **kw)


SCENES: dict[str, Callable[[], Scene]] = {
    "paused": paused_canary,
    "inconclusive": inconclusive,
    "progressing": busy_canary,
}


def live_replicas(count: int) -> list[Any]:
    """`count` live replicas (the canary's one, the stable's, one crash-looping), then
    the exited replicas of earlier rollouts."""
    looping = replica_info("r5-9", ReplicaState.BACKOFF, pid=None, restarts=4, last_error=LONG)
    stable = [*ready(5, count - 2), looping] if count > 2 else ready(5, count - 1)
    return [*stable, *ready(6, 1), *exited(9)]


def screen(doc: dict[str, Any], *, height: int = 24, **kw: Any) -> list[str]:
    console = Console(width=80, height=height, file=io.StringIO(), record=True)
    console.print(StatusView(doc, **kw))
    return console.export_text().splitlines()


def hidden(lines: list[str], noun: str) -> int:
    found = re.search(rf"(\d+) {noun}s?\b", lines[-1]) if lines[-1].startswith("hidden") else None
    return int(found.group(1)) if found else 0


@pytest.mark.parametrize("count", [2, 3, 4])
@pytest.mark.parametrize("name", list(SCENES))
def test_an_active_canary_fits_80x24_with_its_essentials(name: str, count: int) -> None:
    scene = SCENES[name]()
    scene.replicas = live_replicas(count)
    doc = scene.document()
    lines = screen(doc)
    assert len(lines) <= 23, "\n".join(lines)  # and one line left for the prompt
    assert max(map(len, lines)) <= 80
    assert lines[1].startswith("rollout 8 (deploy, canary): revision 5 -> 6: ")
    if doc["rollout"]["paused"]:
        assert lines[2].startswith("paused: ")
    live = {r["id"] for r in doc["replicas"] if r["state"] != "exited"}
    assert len(live) == count
    assert live <= {line.split()[0] for line in lines if line.strip()}
    assert hidden(lines, "exited replica") == 9
    shown_events = [line for line in lines if STAMP.match(line)]
    assert len(shown_events) + hidden(lines, "event") == 15
    if shown_events:  # the newest ones
        assert shown_events[-1].split("  ", 1)[1].startswith("event 14")


def test_with_room_nothing_is_trimmed() -> None:
    lines = screen(busy_canary(replicas=live_replicas(4)).document(), height=60)
    assert len(lines) < 59
    assert len([line for line in lines if STAMP.match(line)]) == 15
    assert lines[-1] == "hidden: 9 exited replicas, 4 idle revisions (--all shows them)"


def test_output_that_is_not_a_terminal_is_not_trimmed_but_still_hides() -> None:
    lines = screen(busy_canary(replicas=live_replicas(4)).document(), fit=False)
    assert len(lines) > 24
    assert len([line for line in lines if STAMP.match(line)]) == 15
    assert lines[-1] == "hidden: 9 exited replicas, 4 idle revisions (--all shows them)"


def test_all_trims_nothing_and_hides_nothing() -> None:
    doc = busy_canary(replicas=live_replicas(4)).document()
    text = "\n".join(screen(doc, show_all=True))
    assert "hidden" not in text
    assert all(r["id"] in text for r in doc["replicas"])
    assert text.count("reset reason: overflow") >= 2 * 15  # long events whole, wrapped
    assert "p99 4.1ms <= 250ms" in text


class FakeClient:
    """Answers `/v1/status` `snapshots` times, then the user presses Ctrl-C."""

    def __init__(self, doc: dict[str, Any], snapshots: int) -> None:
        self.doc, self.left = doc, snapshots

    def get(self, path: str) -> dict[str, Any]:
        assert path == "/v1/status"
        if not self.left:
            raise KeyboardInterrupt
        self.left -= 1
        return self.doc


def test_watch_piped_prints_snapshots_under_a_short_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr(status.time, "sleep", lambda seconds: None)
    doc = paused_canary().document()
    status.watch_status(FakeClient(doc, 2), show_all=False)  # type: ignore[arg-type]
    lines = capsys.readouterr().out.splitlines()
    separators = [line for line in lines if re.fullmatch(r"--- \d\d:\d\d:\d\d ---", line)]
    assert len(separators) == 2
    assert max(map(len, lines)) < 120  # not a 10,000-column rule
    assert sum("waiting for `changeover promote`" in line for line in lines) == 2
    assert sum(bool(STAMP.match(line)) for line in lines) == 2 * 15  # piped: not trimmed


def test_a_replicas_output_event_takes_one_line_in_the_compact_view() -> None:
    message = "r2-1 wrote before failing (last 2 lines):\n  boot\n  crashing at boot"
    assert first_line(message) == (
        "r2-1 wrote before failing (last 2 lines): (+2 lines: `changeover events`)"
    )
    assert first_line("one line") == "one line"
