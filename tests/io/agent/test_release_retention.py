"""`[releases] keep` on a real `Agent` (store, artifacts; no replica runs): the retention
round removes the release folders nothing needs beyond the newest, one event each, and
an undo to a revision whose folder is gone is refused before anything moves."""

from __future__ import annotations

from pathlib import Path

import pytest

from changeover.agent import release_retention
from changeover.agent.core import BadRequest
from changeover.agent.promotions import PromotionRequest
from changeover.agent.releases import UndoRequest
from changeover.agent.retention_task import for_agent
from tests.helpers import bounded
from tests.io.agent._releases import ASKER, SPEC, Setup, staging_agent

KEEP_TWO = SPEC + "\n[releases]\nkeep = 2\n"


def test_old_release_folders_go_and_those_in_use_stay(tmp_path: Path) -> None:
    async def main() -> tuple[list[str], list[str], list[str], Path]:
        async with staging_agent(tmp_path, spec=KEEP_TWO) as s:
            await promoted(s, "1.0.0")  # revision 2 runs it, and is stable
            for version in ("1.1.0", "1.2.0", "1.3.0"):
                await s.hold(version)
            folder = s.agent.artifacts.folder("1.1.0", sha_of(s, "1.1.0"))
            problems = await for_agent(s.agent).round()  # as every minute
            again = release_retention.prune(s.agent)  # nothing more to do
            held = sorted(h.version for h in s.agent.artifacts.listing())
            said = [e.message for e in s.store.events() if "removed from" in e.message]
            return problems + again, held, said, folder

    problems, held, said, folder = bounded(main())
    assert problems == []
    assert held == ["1.0.0", "1.2.0", "1.3.0"]  # 1.0.0: the stable revision runs it
    assert not folder.exists()
    assert said == [
        f"release 1.1.0 removed from {folder.parent} ([releases] keep = 2: older than the "
        "2 newest, and no revision in use runs it)"
    ]


def test_an_undo_to_a_revision_whose_folder_is_gone_is_refused(tmp_path: Path) -> None:
    async def main() -> tuple[str, int]:
        async with staging_agent(tmp_path) as s:
            await promoted(s, "1.0.0")
            gone = tmp_path / "removed"
            old = s.store.create_revision(
                version="0.9.0", path=str(gone), command="python app.py", env={}, spec={},
                replicas=1, now=2.0,
            )  # fmt: skip
            before = len(s.store.rollouts(limit=100))
            with pytest.raises(BadRequest) as refused:
                await s.agent.undo(UndoRequest(to_revision=old.id))
            return str(refused.value), len(s.store.rollouts(limit=100)) - before

    message, started = bounded(main())
    assert started == 0
    assert message == (
        f"revision 3 (0.9.0) cannot run again: its folder {tmp_path / 'removed'} is gone "
        "([releases] keep removes old release folders); promote its release again, or deploy"
    )


async def promoted(s: Setup, version: str) -> None:
    sha = await s.hold(version)
    request = PromotionRequest(version=version, sha256=sha, from_environment="dev")
    await s.agent.promote(request, ASKER)
    s.succeed()


def sha_of(s: Setup, version: str) -> str:
    held = s.agent.artifacts.held(version)
    assert held is not None
    return held.sha256
