"""What the gate commands print and read, as pure functions: the lines of a waiting
promotion's gates, the checklist `release show` prints per environment, and `freeze
--until` read as a duration or an instant."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from rich.console import Console

from changeover.cli.freeze import until_body
from changeover.cli.release_gates import gates_lines
from changeover.cli.release_view import checklist

GATES: list[dict[str, Any]] = [
    {"gate": "approvals", "item": None, "state": "unmet", "summary": "0 of 1 approval(s): none yet",
     "needs": "1 more approval(s) by one of bob: `changeover release approve 1.4.0 --to prod`"},
    {"gate": "soak", "item": None, "state": "skipped", "needs": None,
     "summary": "HOTFIX: skipped (hotfix_skips lists soak); stable in staging for 3s"},
    {"gate": "checklist", "item": "support told", "state": "met",
     "summary": "ticked by bob at 2026-05-09T08:00:00Z", "needs": None},
]  # fmt: skip


def test_each_gate_is_a_line_and_an_unmet_one_says_what_would_meet_it() -> None:
    assert gates_lines(GATES) == [
        "  WAITING approvals: 0 of 1 approval(s): none yet",
        "          needs 1 more approval(s) by one of bob: "
        "`changeover release approve 1.4.0 --to prod`",
        "  SKIPPED soak: HOTFIX: skipped (hotfix_skips lists soak); stable in staging for 3s",
        "  ok      checklist: support told: ticked by bob at 2026-05-09T08:00:00Z",
    ]  # fmt: skip


def render(env: dict[str, Any]) -> str:
    view = checklist(env)
    assert view is not None
    console = Console(width=200, record=True, color_system=None)
    console.print(view)
    return console.export_text()


def test_show_lists_the_latest_promotions_gates_approvals_and_freezes() -> None:
    env = {
        "name": "prod", "reachable": True,
        "promotions": [{"id": 3, "hotfix": True, "state": "waiting", "gates": GATES,
                        "approvals": [{"verdict": "reject", "by": "carol", "at": 0.0,
                                       "note": "not today"}]}],
        "freezes": [{"by": "dave", "until": 0.0, "reason": "sale"}],
    }  # fmt: skip
    text = render(env)
    assert text.startswith("prod: promotion #3 HOTFIX (waiting)")
    assert "  WAITING approvals: 0 of 1 approval(s): none yet" in text
    assert "  SKIPPED soak: HOTFIX: skipped" in text
    assert "REJECTED by carol" in text
    assert "  frozen by dave until " in text
    assert text.rstrip().endswith(": sale")
    assert checklist({"name": "dev", "reachable": True, "promotions": []}) is None
    assert checklist({"name": "x", "reachable": False, "error": "down"}) is None


def test_freeze_until_is_a_duration_or_an_instant() -> None:
    assert until_body("2h") == {"seconds": 7200.0}
    assert until_body("2026-05-09T18:00:00+02:00") == {"until": 1778342400.0}
    with pytest.raises(typer.Exit) as refused:
        until_body("tomorrow")
    assert refused.value.exit_code == 2
