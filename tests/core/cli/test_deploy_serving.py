"""What `deploy` says serves after a rollout that did not succeed, from the agent's status:
a rollback that gave up at its deadline may leave the target serving as the stable one."""

from __future__ import annotations

from typing import Any

import pytest

from changeover.cli.deploy import serving_now


def status(stable: int | None, ready: dict[int, int]) -> dict[str, Any]:
    return {
        "stable_revision": stable,
        "revisions": [{"revision": rev, "ready": n} for rev, n in ready.items()],
    }


@pytest.mark.parametrize(
    ("doc", "said"),
    [
        (status(1, {1: 2, 2: 0}), "revision 1 still serving"),  # rolled back
        (status(2, {1: 0, 2: 1}), "revision 2 serving, now the stable revision"),  # gave up
        (status(1, {1: 0}), "nothing is serving"),  # gave up with nothing ready
        (status(None, {}), "nothing is serving"),  # a first deploy failed
    ],
)
def test_what_serves_is_read_from_the_agent_not_assumed(doc: dict[str, Any], said: str) -> None:
    assert serving_now(doc, origin=1) == said
