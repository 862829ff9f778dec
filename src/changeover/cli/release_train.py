"""`changeover release train`: the release train's cut-offs, what the next train would
carry, and where the previous train's release is.

Invariant: only reads: the spec's `[releases] train`, the clock, the commits since the
last release (the same decision as `release next`), the release records, and each
environment's agent (an agent that cannot be asked is a state, as in `release show`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from changeover.cli.common import BAD_INPUT, DEFAULT_SPEC, Json, SpecFile, fail, out, spec_path
from changeover.cli.release_cut import last_train_cut
from changeover.cli.release_env import base_spec, environment_view
from changeover.cli.release_version import decide, explain
from changeover.spec.models import Spec
from changeover.units import format_duration
from changeover.versioning.train import Train, may_cut, previous_cutoff


def train(file: SpecFile = DEFAULT_SPEC, json: Json = False) -> None:
    """The train's next cut-off and whether a train release may be cut now, what it would
    carry (the version and the commits since the last release), and the state of the
    previous train release in each environment."""
    spec_file = spec_path(file)
    spec = base_spec(spec_file)
    settings = spec.releases.train
    if settings is None:
        fail(
            BAD_INPUT,
            f"{spec_file}: the spec has no release train; expected "
            '[releases] train = { every = "2w", first = "2026-01-05T10:00:00+01:00" }',
        )
    schedule = Train.of(settings.every, settings.first)
    now = datetime.now(UTC)
    plan = decide(spec_file)
    cut = may_cut(schedule, now, last_cut=last_train_cut(plan.history))
    passed = previous_cutoff(schedule, now)
    previous = next((m for m in plan.history.records if m.get("train")), None)
    doc: dict[str, Any] = {
        "every": settings.every,
        "first": settings.first.isoformat(),
        "now": now.astimezone(settings.first.tzinfo).isoformat(),
        "previous_cutoff": None if passed is None else passed.isoformat(),
        "cut": cut.to_json(),
        "next": plan.decision.to_json(),
        "previous": None if previous is None else previous_doc(spec_file, previous, spec),
    }
    if json:
        out.print_json(data=doc)
        return
    for line in lines(doc, explain(plan.decision)):
        out.print(line, markup=False)


def previous_doc(spec_file: Path, meta: dict[str, Any], spec: Spec) -> dict[str, Any]:
    version, sha256 = str(meta["version"]), str(meta.get("sha256", ""))
    envs = []
    for name in spec.environments:
        view = environment_view(spec_file, name, version, sha256)
        last = (view.get("promotions") or [None])[0]
        envs.append(
            {
                "name": name,
                "reachable": view["reachable"],
                "error": view["error"],
                "state": None if last is None else last["state"],
                "outcome": None if last is None else last["outcome"],
                "current": bool(last and last["current"]),
            }
        )
    return {
        "version": version,
        "created_at": meta.get("created_at"),
        "cutoff": (meta.get("train") or {}).get("cutoff"),
        "environments": envs,
    }


def lines(doc: dict[str, Any], carries: list[str]) -> list[str]:
    said = [
        f"release train: every {format_duration(doc['every'])} from {doc['first']}",
        f"next cut-off: {doc['cut']['next_cutoff']}",
    ]
    cut = doc["cut"]
    said.append(f"a train release may be cut now: {cut['reason']}" if cut["allowed"]
                else cut["reason"])  # fmt: skip
    said += ["on the train:", *(f"  {line}" for line in carries)]
    previous = doc["previous"]
    if previous is None:
        said.append("previous train release: none")
        return said
    cutoff = f" (cut-off {previous['cutoff']})" if previous["cutoff"] else ""
    said.append(f"previous train release: {previous['version']}{cutoff}")
    for env in previous["environments"]:
        if not env["reachable"]:
            said.append(f"  {env['name']}: unreachable ({env['error']})")
        elif env["state"] is None:
            said.append(f"  {env['name']}: never promoted")
        else:
            now = ", current" if env["current"] else ""
            said.append(f"  {env['name']}: {env['state']}, {env['outcome']}{now}")
    return said
