"""`changeover release next` and the version `release create` gives a release: computed
from the commits since the last release (`versioning.bump.next_version`), or given.

Invariant: deciding reads only (git, the release records, for a hotfix production's
agent); nothing is written until the version, the tag and the changelog section are all
known to be possible. The last release is the highest one (tag `vX.Y.Z` or release
record) that HEAD builds on; a hotfix's is the release production runs (or `--from`),
and HEAD must build on it and on nothing newer.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from semver import Version

from changeover.cli.client import Refused, Unreachable
from changeover.cli.common import BAD_INPUT, DEFAULT_SPEC, UNREACHABLE, Json, SpecFile, fail, out
from changeover.cli.common import spec_path as resolve_spec
from changeover.cli.release_env import client_for, environments, last_environments
from changeover.cli.release_history import History, history, semver
from changeover.versioning.bump import Decision, NextVersion, VersionError, next_version
from changeover.versioning.changes import Bump
from changeover.versioning.known import Known, last_release

BumpOption = Annotated[
    str | None,
    typer.Option(
        "--bump", metavar="major|minor|patch", help="Raise this part, whatever the commits say."
    ),
]
PreOption = Annotated[
    str | None,
    typer.Option("--pre", metavar="LABEL", help="A pre-release: LABEL.1, then LABEL.2 (e.g. rc)."),
]
HotfixOption = Annotated[
    bool, typer.Option("--hotfix", help="A patch release on top of what production runs.")
]
FromOption = Annotated[
    str | None,
    typer.Option("--from", metavar="V", help="The release a hotfix fixes (default: production's)."),
]


@dataclass(frozen=True)
class Plan:
    history: History
    decision: Decision
    last: Known | None
    hotfix_from: Version | None


def decide(
    spec_file: Path,
    *,
    version: str | None = None,
    bump: str | None = None,
    pre: str | None = None,
    hotfix: bool = False,
    from_: str | None = None,
) -> Plan:
    """The version the next release gets, and why; exit 2 on bad input."""
    h = history(spec_file)
    level = parse_bump(bump)
    if from_ is not None and not hotfix:
        fail(BAD_INPUT, "--from names the release a hotfix fixes: give it with --hotfix")
    base: Version | None = None
    if hotfix:
        if level not in (None, Bump.PATCH):
            fail(BAD_INPUT, f"--bump {bump}: a hotfix is a patch release; leave --bump out")
        base = given(from_, "--from") if from_ is not None else None
        if base is None and version is None:
            base = production_version(spec_file)
        level = level if version is not None else Bump.PATCH
    if version is not None:
        taken = next((k for k in h.known if k.version == semver(version.removeprefix("v"))), None)
        if taken is not None:
            where = f"tag {taken.ref}" if taken.source == "tag" else "a release record"
            fail(
                BAD_INPUT,
                f"release {taken.version} exists already ({where}): choose another version",
            )
    last = hotfix_base(h, base) if base is not None else last_release(h.known, h.reachable())
    commits = h.commits(last)
    try:
        decision = next_version(
            None if last is None else last.version, commits, bump=level, version=version, pre=pre
        )
    except VersionError as exc:
        fail(BAD_INPUT, str(exc))
    if base is not None and isinstance(decision, NextVersion):
        why = f"hotfix: a patch on top of {base}, not of the main line"
        decision = dataclasses.replace(decision, reasons=(why, *decision.reasons))
    return Plan(h, decision, last, base)


def parse_bump(bump: str | None) -> Bump | None:
    if bump is None:
        return None
    try:
        return Bump.parse(bump)
    except ValueError as exc:
        fail(BAD_INPUT, f"--bump: {exc}")


def given(text: str, what: str) -> Version:
    found = semver(text.strip().removeprefix("v"))
    if found is None:
        fail(BAD_INPUT, f"{what} {text!r} is not a semantic version like 1.4.0 (semver.org)")
    return found


def production_version(spec_file: Path) -> Version:
    """What the last environment of the promotion chain runs, as its agent says."""
    envs = environments(spec_file)
    ends = last_environments(envs)
    if len(ends) != 1:
        said = (
            "the spec defines no promotion chain"
            if not ends
            else f"the spec has {len(ends)} last environments ({', '.join(ends)})"
        )
        fail(BAD_INPUT, f"--hotfix: which release does production run? {said}; give --from V")
    (prod,) = ends
    try:
        with client_for(spec_file, prod) as client:
            status = client.get("/v1/status")
    except (Unreachable, Refused) as exc:
        first = str(exc).splitlines()[0]
        code = UNREACHABLE if isinstance(exc, Unreachable) else BAD_INPUT
        fail(code, f"--hotfix: cannot ask {prod} what it runs: {first}", "give --from V")
    stable = status.get("stable_revision")
    running = next((r for r in status.get("revisions", []) if r["revision"] == stable), None)
    found = None if running is None else semver(str(running["version"]).removeprefix("v"))
    if found is None:
        what = "nothing stable" if running is None else f"{running['version']!r}"
        fail(BAD_INPUT, f"--hotfix: {prod} runs {what}, not a release version; give --from V")
    return found


def hotfix_base(h: History, base: Version) -> Known:
    """The release a hotfix is built on: known, HEAD builds on it and on nothing newer."""
    found = next((k for k in h.known if k.version == base), None)
    reach = h.reachable()
    if found is None or found.commit is None:
        fail(BAD_INPUT, f"--hotfix: release {base} is not known here (no tag v{base}, no record)")
    if reach is not None and not reach(found.commit):
        fail(
            BAD_INPUT,
            f"--hotfix: HEAD is not built on release {base}; a hotfix is made on a branch "
            f"from it: git switch -c hotfix-{base.bump_patch()} {found.ref}",
        )
    newer = last_release(h.known, reach)
    if newer is not None and newer.version.compare(base) > 0:
        fail(
            BAD_INPUT,
            f"--hotfix: HEAD carries release {newer.version}, newer than {base}; a hotfix "
            f"is made on a branch from {base}: git switch -c hotfix-{base.bump_patch()} "
            f"{found.ref}",
        )
    return found


def next_(
    bump: BumpOption = None,
    pre: PreOption = None,
    hotfix: HotfixOption = False,
    from_: FromOption = None,
    file: SpecFile = DEFAULT_SPEC,
    json: Json = False,
) -> None:
    """The version `release create` would give the next release, and why: every commit
    since the last release with the rule that classified it, and the commits skipped.
    Nothing to release is an answer (exit 0), not an error."""
    plan = decide(resolve_spec(file), bump=bump, pre=pre, hotfix=hotfix, from_=from_)
    if json:
        out.print_json(data=plan.decision.to_json())
        return
    for line in explain(plan.decision):
        out.print(line, markup=False)


def explain(decision: Decision) -> list[str]:
    doc = decision.to_json()
    last = doc["last"] or "none"
    if isinstance(decision, NextVersion):
        lines = [f"next version: {decision.version} ({raised(decision)}; last release: {last})"]
        lines += [f"  {r}" for r in decision.reasons]
    else:
        reason = decision.reason.removeprefix("nothing to release: ")
        lines = [f"nothing to release (last release: {last}): {reason}"]
    counted = decision.changes.counted
    if counted:
        lines.append(f"commits ({len(counted)}):")
        width = max(len(c.why) for c in counted)
        lines += [
            f"  {c.commit.short}  {c.bump.label:<6} {c.why:<{width}}  {c.commit.subject}"
            for c in counted
        ]
    skipped = decision.changes.skipped
    if skipped:
        lines.append(f"skipped ({len(skipped)}):")
        lines += [f"  {s.commit.short}  {s.commit.subject}: {s.why}" for s in skipped]
    return lines


def raised(decision: NextVersion) -> str:
    """The part the version raises, or what a final release of a pre-release does."""
    return decision.bump.label if decision.bump else "the pre-release made final"
