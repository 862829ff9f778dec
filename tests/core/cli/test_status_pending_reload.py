"""`changeover status` under its first line: the start-only keys the latest deploy
changed, which the running agent keeps until a reload (`agent.pending_reload`)."""

from __future__ import annotations

from ._status_docs import paused_canary
from .test_status_render import rendered


def test_pending_keys_are_a_note_under_the_first_line() -> None:
    doc = paused_canary().document()
    assert doc["agent"]["pending_reload"] == []  # as the agent makes it: none
    assert not any(line.startswith("note:") for line in rendered(doc))
    doc["agent"]["pending_reload"] = ["proxy.listen", "control.group"]
    lines = rendered(doc, width=1000)  # one line: the note is never cut
    assert lines[1] == (
        "note: proxy.listen changed: the running agent keeps its settings until "
        "'changeover reload' (docs/reload.md); control.group changed: the running agent "
        "keeps it until 'changeover down' then 'up' (a reload keeps the control socket as "
        "it was bound)"
    )
    assert lines[2].startswith("rollout 8 (deploy, canary)")  # the rest as before


def test_a_document_from_an_older_agent_has_no_note() -> None:
    doc = paused_canary().document()
    del doc["agent"]["pending_reload"]
    assert not any(line.startswith("note:") for line in rendered(doc))
