"""`changeover release notes V`: a release's notes in Markdown, the commits it carries
grouped, then what it met in each environment, as that environment's agent says.

Invariant: the commits are those between the release's commit (its tag, else its
record's) and the release its notes start from (`versioning.known.notes_base`); the
evidence is asked of every environment's agent at each call, never stored here. An
environment that cannot be asked is named (on stderr, and in `--json`), never silently
left out; one that never ran the release has no evidence section.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from semver import Version

from changeover.cli import release_record
from changeover.cli.client import AgentClient, Refused, Unreachable
from changeover.cli.common import BAD_INPUT, DEFAULT_SPEC, Json, SpecFile, err, fail, out, spec_path
from changeover.cli.release_env import client_for, environments
from changeover.cli.release_history import History, created, history, semver
from changeover.versioning.changes import Changes, changes
from changeover.versioning.evidence import Evidence
from changeover.versioning.known import Known, notes_base
from changeover.versioning.notes import render_notes


@dataclass(frozen=True)
class Section:
    markdown: str
    found: Changes
    base: Known | None
    known_history: bool  # False: no git history to read the commits from


def section(
    h: History,
    version: Version,
    tip: str | None,
    *,
    released: date,
    hotfix: bool,
    evidence: tuple[Evidence, ...] = (),
) -> Section:
    """The notes of `version`, whose commit is `tip` (None: unknown, no commits shown)."""
    reach = None if tip is None else h.reachable(tip)
    base = notes_base(h.known, version, reach) if reach is not None else None
    commits = None if tip is None else h.commits(base, tip)
    found = changes(commits or ())
    markdown = render_notes(
        version, found, released=released, web=h.web(), evidence=evidence, hotfix=hotfix
    )
    return Section(markdown, found, base, commits is not None)


def notes(
    version: Annotated[str, typer.Argument(metavar="V", help="The release's version.")],
    file: SpecFile = DEFAULT_SPEC,
    json: Json = False,
) -> None:
    """Print the notes of release V in Markdown: its commits grouped (breaking changes,
    features, fixes, performance, other), then per environment what it met there: when
    and how it was deployed, requests served and failed, analysis verdicts with their
    measured values, the soak, the gates, approvals (who, when) and rollbacks."""
    spec_file = spec_path(file)
    h = history(spec_file)
    parsed = semver(version.removeprefix("v"))
    meta = None if parsed is None else h.record(str(parsed))
    tagged = None if parsed is None else h.tag_commit(str(parsed))
    if parsed is None or (meta is None and tagged is None):
        known = ", ".join(str(k.version) for k in h.known[:10]) or "none"
        fail(
            BAD_INPUT,
            f"unknown release {version!r}: no release record or tag v{version} here; known: "
            f"{known}",
        )
    tip = tagged or (meta or {}).get("commit")
    sha256 = None if meta is None else meta.get("sha256")
    hotfix = bool((meta or {}).get("hotfix"))
    gathered = [gather(spec_file, name, str(parsed), sha256) for name in environments(spec_file)]
    evidence = tuple(e for e in gathered if isinstance(e, Evidence))
    unreachable = [e for e in gathered if isinstance(e, dict)]
    released = created(meta).date()
    made = section(h, parsed, tip, released=released, hotfix=hotfix, evidence=evidence)
    if json:
        out.print_json(data=document(parsed, released, hotfix, made, evidence, unreachable))
        return
    for u in unreachable:
        err.print(f"{u['name']}: unreachable ({u['error']}): its evidence is missing", markup=False)
    if not made.known_history:
        err.print("no git history for this release: its commits are not listed", markup=False)
    out.print(made.markdown, markup=False, end="")


def gather(
    spec_file: Path, environment: str, version: str, sha256: str | None
) -> Evidence | dict[str, Any] | None:
    """The evidence `environment`'s agent holds of the release; None if it never rolled
    it out; a dict naming the environment and why when its agent cannot be asked."""
    try:
        with client_for(spec_file, environment) as client:
            return ask(client, environment, version, sha256)
    except (Unreachable, Refused) as exc:
        return {"name": environment, "error": str(exc).splitlines()[0]}


def ask(client: AgentClient, environment: str, version: str, sha256: str | None) -> Evidence | None:
    found = client.get("/v1/promotions", version=version)
    promotion = release_record.chosen(found["promotions"], sha256)
    if promotion is None:
        return None
    rollout_id = promotion["rollout_id"]
    rollout = client.get(f"/v1/rollouts/{rollout_id}")
    analysis = client.get(f"/v1/rollouts/{rollout_id}/analysis")["analysis"]
    try:
        own: dict[str, Any] | None = client.get(
            f"/v1/releases/{version}/evidence", sha256=promotion["sha256"]
        )
    except Refused as exc:
        if exc.status != 404:
            raise
        own = None  # it never became stable there
    later = release_record.moved_back(
        promotion, client.get("/v1/history")["rollouts"], client.get("/v1/promotions")["promotions"]
    )
    return release_record.evidence_of(environment, promotion, rollout, analysis, own, later)


def document(
    version: Version,
    released: date,
    hotfix: bool,
    made: Section,
    evidence: tuple[Evidence, ...],
    unreachable: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "version": str(version),
        "released": released.isoformat(),
        "hotfix": hotfix,
        "since": None if made.base is None else str(made.base.version),
        "history": made.known_history,
        "changes": [c.to_json() for c in made.found.counted],
        "skipped": [s.to_json() for s in made.found.skipped],
        "evidence": [evidence_doc(e) for e in evidence],
        "unreachable": unreachable,
        "markdown": made.markdown,
    }


def evidence_doc(e: Evidence) -> dict[str, Any]:
    def traffic(t: Any) -> dict[str, int] | None:
        return None if t is None else {"served": t.served, "failed": t.failed}

    return {
        "environment": e.environment,
        "deployed_at": e.deployed_at.isoformat(),
        "strategy": e.strategy,
        "outcome": e.outcome,
        "promoted_from": e.promoted_from,
        "requested_by": e.requested_by,
        "rollout": traffic(e.traffic),
        "since_stable": traffic(e.since_stable),
        "analyses": [
            {
                "name": a.name,
                "status": a.status,
                "measurements": [
                    {
                        "metric": m.metric,
                        "outcome": m.outcome,
                        "value": m.value,
                        "message": m.message,
                    }
                    for m in a.measurements
                ],
            }
            for a in e.analyses
        ],
        "soak": None
        if e.soak is None
        else {
            "duration": e.soak.duration,
            "requests": e.soak.requests,
            "passed": e.soak.passed,
            "detail": e.soak.detail,
        },
        "gates": [{"gate": g.gate, "state": g.state, "summary": g.summary} for g in e.gates],
        "approvals": [{"by": a.by, "at": a.at.isoformat()} for a in e.approvals],
        "rollbacks": [{"at": r.at.isoformat(), "reason": r.reason} for r in e.rollbacks],
        "skipped_gates": list(e.skipped_gates),
    }
