"""Release notes: the groups and their order, entries, links, and the evidence."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from changeover.versioning.changes import changes
from changeover.versioning.evidence import (
    AnalysisVerdict,
    Approval,
    Evidence,
    Measured,
    Rollback,
    Soak,
    Traffic,
)
from changeover.versioning.notes import render_notes

from .history import history, sha

WEB = "https://github.com/acme/shop"
MESSAGES = (
    "docs: explain the cache",
    "perf(db): index orders by customer",
    "fix(cart): keep the coupon after login",
    "feat(api)!: remove the v1 endpoints\n\nBREAKING CHANGE: clients must call /v2;\n"
    "the v1 paths answer 410",
    "feat(search): suggest as you type",
    "Tidy the README",
    "feat: export orders as CSV",
)


def test_groups_in_order_each_entry_with_scope_and_linked_hash() -> None:
    notes = render_notes("2.0.0", changes(history(*MESSAGES)), released=date(2026, 1, 12), web=WEB)

    def link(message: str) -> str:
        return f"[{sha(message)[:7]}]({WEB}/commit/{sha(message)})"

    assert notes == (
        "## 2.0.0 (2026-01-12)\n"
        "\n"
        "### Breaking changes\n"
        f"- **api:** remove the v1 endpoints ({link(MESSAGES[3])})\n"
        "  - clients must call /v2;\n"
        "    the v1 paths answer 410\n"
        "\n"
        "### Features\n"
        f"- **search:** suggest as you type ({link(MESSAGES[4])})\n"
        f"- export orders as CSV ({link(MESSAGES[6])})\n"
        "\n"
        "### Fixes\n"
        f"- **cart:** keep the coupon after login ({link(MESSAGES[2])})\n"
        "\n"
        "### Performance\n"
        f"- **db:** index orders by customer ({link(MESSAGES[1])})\n"
        "\n"
        "### Other\n"
        f"- explain the cache ({link(MESSAGES[0])})\n"
        f"- Tidy the README ({link(MESSAGES[5])})\n"
    )


def test_without_a_remote_the_hash_is_plain_and_empty_groups_are_left_out() -> None:
    notes = render_notes("1.3.1", changes(history("fix: x")), released=date(2026, 2, 1))
    assert notes == f"## 1.3.1 (2026-02-01)\n\n### Fixes\n- x ({sha('fix: x')[:7]})\n"


def test_a_release_without_changes_and_a_hotfix_say_so() -> None:
    notes = render_notes("1.4.0", changes([]), released=date(2026, 2, 1), hotfix=True)
    assert notes == "## 1.4.0 (2026-02-01, hotfix)\n\nNo changes since the last release.\n"


def test_reverted_pairs_do_not_appear() -> None:
    feat = "feat: flaky thing"
    revert = f'Revert "{feat}"\n\nThis reverts commit {sha(feat)}.'
    notes = render_notes("1.3.1", changes(history(revert, "fix: y", feat)), released=date.today())
    assert "flaky" not in notes
    assert "- y (" in notes


PARIS = timezone(timedelta(hours=1))
STAGING = Evidence(
    environment="staging",
    deployed_at=datetime(2026, 1, 12, 10, 4, tzinfo=PARIS),
    strategy="canary",
    outcome="succeeded",
    analyses=(
        AnalysisVerdict(
            "canary-health",
            "successful",
            (
                Measured("success-rate", "passed", 0.9981, "success rate 99.81% >= 99%"),
                Measured("p99", "passed", 0.212),
                Measured("errors", "inconclusive"),
            ),
        ),
    ),
    traffic=Traffic(served=48210, failed=3),
    soak=Soak(3600.0, 51000, passed=True, detail="analysis soak-health successful"),
    approvals=(Approval("alice", datetime(2026, 1, 12, 12, 30, tzinfo=UTC)),),
)
PRODUCTION = Evidence(
    environment="production",
    deployed_at=datetime(2026, 1, 13, 9, 0, tzinfo=UTC),
    strategy="blue-green",
    outcome="rolled back",
    traffic=Traffic(served=1000, failed=0),
    rollbacks=(Rollback(datetime(2026, 1, 13, 9, 7, tzinfo=UTC), "analysis p99 failed"),),
    skipped_gates=("soak", "approvals"),
)


def test_evidence_per_environment_in_the_order_given() -> None:
    notes = render_notes(
        "1.3.1",
        changes(history("fix: x")),
        released=date(2026, 1, 12),
        evidence=[STAGING, PRODUCTION],
    )
    evidence = notes.split("### Evidence\n", 1)[1]
    assert evidence == (
        "\n"
        "#### staging\n"
        "- Deployed 2026-01-12 09:04 UTC with canary: succeeded\n"
        "- Requests during the rollout: 48,210 served, 3 failed (0.00622%)\n"
        "- Analysis `canary-health`: successful\n"
        "  - `success-rate` passed: 0.9981 (success rate 99.81% >= 99%)\n"
        "  - `p99` passed: 0.212\n"
        "  - `errors` inconclusive\n"
        "- Soak: 1h, 51,000 requests: passed (analysis soak-health successful)\n"
        "- Approved by alice at 2026-01-12 12:30 UTC\n"
        "\n"
        "#### production\n"
        "- Deployed 2026-01-13 09:00 UTC with blue-green: rolled back\n"
        "- Requests during the rollout: 1,000 served, 0 failed\n"
        "- Rolled back at 2026-01-13 09:07 UTC: analysis p99 failed\n"
        "- Hotfix: skipped soak, approvals\n"
    )


def test_evidence_refuses_what_cannot_be_true() -> None:
    with pytest.raises(ValueError, match="expected 0 <= failed <= served, got 5 failed of 3"):
        Traffic(served=3, failed=5)
    with pytest.raises(ValueError, match="approval by bob: expected a time with a UTC offset"):
        Approval("bob", datetime(2026, 1, 1, 12, 0))
    with pytest.raises(ValueError, match="evidence of dev: deployed_at: expected a time"):
        Evidence("dev", datetime(2026, 1, 1), "rolling", "succeeded")
