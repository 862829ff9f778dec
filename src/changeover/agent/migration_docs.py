"""The `--json` documents of migrations: each revision's schema state, and what is due.

Invariant: read-only, and nothing in them holds a secret (the store keeps only redacted
output). Documented in docs/cli-json.md ("migrate status").
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from changeover.agent.releases import BadRequest
from changeover.migrations.decide import contract_wait, rollback_choice
from changeover.store.schema_steps import SchemaRecord

if TYPE_CHECKING:
    from changeover.agent.core import Agent


def schema_doc(record: SchemaRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        "revision": record.revision,
        "state": record.state.value,
        "step": record.step.value,
        "command": record.command,
        "exit_code": record.exit_code,
        "duration": record.duration,
        "detail": record.detail,
        "schema": record.schema,
        "at": record.at,
        "expanded_at": record.expanded_at,
        "contracted_at": record.contracted_at,
    }


def migrations_document(agent: Agent) -> dict[str, Any]:
    """`changeover migrate status --json`."""
    scene = agent.schema_scene()
    settings = None if scene.stable is None else agent.revision_spec(scene.stable).migrations
    versions = {r.id: r.version for r in agent.store.revisions()}
    records = agent.store.schema_records()
    return {
        "stable_revision": scene.stable,
        "configured": settings is not None and settings.configured,
        "contract_when": None if settings is None else settings.contract_when,
        "running": agent.migrator.busy,
        # null: the stable revision's contract would run now (or is running)
        "contract_waits": contract_wait(scene, manual=False) if scene.stable else None,
        "rollback_candidate": rollback_choice(scene),
        "revisions": [
            {**(schema_doc(r) or {}), "version": versions.get(r.revision, "")}
            for r in reversed(records)  # newest first, as history
        ],
    }


def migrations_log_file(path: Path) -> dict[str, Path]:
    """`changeover logs --migrations`: every migration command's output, redacted."""
    if not path.exists():
        raise BadRequest("no migration command has run yet: the migrations log is empty")
    return {"migrations": path}
