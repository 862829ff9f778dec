"""Rules that span several keys of a spec, checked after the models validate.

Invariant: each rule reports a `Problem` with the key path the user must edit; rules
never raise, so `check` can print every problem at once.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from changeover.spec.envfile import EnvFileError, read_env_file
from changeover.spec.models import Spec
from changeover.spec.queries import check_query
from changeover.spec.types import parse_address
from changeover.tokenfile import TokenFileError, read_token


@dataclass(frozen=True)
class Problem:
    path: str
    message: str


_PROVIDER_NEEDS = {
    "builtin": ("query",),
    "prometheus": ("address", "query"),
    "web": ("url",),
    "command": ("command",),
}


def check_rules(
    spec: Spec, base: Path | None, valid: Collection[str] | None = None
) -> list[Problem]:
    """Problems from every rule whose sections are all in `valid` (default: all)."""
    out: list[Problem] = []
    for rule, needs in RULES:
        if valid is None or needs <= set(valid):
            out += rule(spec, base)
    return out


def _rolling(spec: Spec, base: Path | None) -> list[Problem]:
    n = spec.app.replicas
    surge = spec.strategy.max_surge.resolve(n, round_up=True)
    unavailable = spec.strategy.max_unavailable.resolve(n, round_up=False)
    if surge == 0 and unavailable == 0:
        return [
            Problem(
                "strategy.max_surge",
                (
                    f"max_surge ({spec.strategy.max_surge}) and max_unavailable "
                    f"({spec.strategy.max_unavailable}) both resolve to 0 for {n} replica(s), so a "
                    "rolling deploy could never replace a replica; set max_surge to at least 1"
                ),
            )
        ]
    return []


def _references(spec: Spec, base: Path | None) -> list[Problem]:
    known = set(spec.analysis)
    defined = ", ".join(sorted(known)) or "none"
    refs: list[tuple[str, str | None]] = [
        (f"strategy.steps[{i}].analysis", step.analysis)
        for i, step in enumerate(spec.strategy.steps)
    ]
    refs += [
        (f"strategy.{key}", getattr(spec.strategy, key))
        for key in ("background_analysis", "pre_promotion_analysis", "post_promotion_analysis")
    ]
    return [
        Problem(path, f"unknown analysis template {name!r} (defined: {defined})")
        for path, name in refs
        if name is not None and name not in known
    ]


def _listeners(spec: Spec, base: Path | None) -> list[Problem]:
    out = []
    public = parse_address(spec.proxy.listen)
    preview = spec.strategy.preview_listen
    if preview and parse_address(preview) == public:
        out.append(Problem("strategy.preview_listen", "must differ from proxy.listen"))
    flags = spec.flags.listen
    if flags and parse_address(flags)[1] != 0:
        for key, other in (
            ("proxy.listen", spec.proxy.listen),
            ("strategy.preview_listen", preview),
        ):
            if other and parse_address(flags) == parse_address(other):
                out.append(Problem("flags.listen", f"must differ from {key}"))
    return out


def _flags_token(spec: Spec, base: Path | None) -> list[Problem]:
    token_file = spec.flags.token_file
    if base is None or token_file is None:
        return []
    try:
        read_token(base / token_file)
    except TokenFileError as exc:
        return [Problem("flags.token_file", str(exc))]
    return []


def _metrics(spec: Spec, base: Path | None) -> list[Problem]:
    out = []
    for name, template in spec.analysis.items():
        for i, metric in enumerate(template.metrics):
            for key in _PROVIDER_NEEDS[metric.provider]:
                if getattr(metric, key) is None:
                    out.append(
                        Problem(
                            f"analysis.{name}.metrics[{i}].{key}",
                            f"required for provider {metric.provider!r}",
                        )
                    )
            if metric.provider == "builtin" and metric.query is not None:
                try:
                    check_query(metric.query)
                except ValueError as exc:
                    out.append(Problem(f"analysis.{name}.metrics[{i}].query", str(exc)))
    return out


def _workdir(spec: Spec, base: Path | None) -> list[Problem]:
    if base is None:
        return []
    workdir = (base / spec.app.workdir).resolve()
    if not workdir.is_dir():
        return [Problem("app.workdir", f"directory {str(workdir)!r} does not exist")]
    return []


def _secrets_not_in_spec(spec: Spec, base: Path | None) -> list[Problem]:
    """A secret's value in `[app] env` would be stored with every revision's snapshot."""
    return [
        Problem(
            f"app.env.{name}",
            "named in app.secret_env, so its value must not be in the spec (each revision "
            "stores the spec); put it in the env_file or the agent's environment",
        )
        for name in spec.app.secret_env
        if name in spec.app.env
    ]


def _env_file(spec: Spec, base: Path | None) -> list[Problem]:
    if base is None or spec.app.env_file is None:
        return []
    try:
        read_env_file(base / spec.app.env_file)
    except EnvFileError as exc:  # its message names file:line, never the file's text
        return [Problem("app.env_file", str(exc))]
    return []


Rule = Callable[[Spec, Path | None], list[Problem]]
RULES: tuple[tuple[Rule, frozenset[str]], ...] = (
    (_rolling, frozenset({"app", "strategy"})),
    (_references, frozenset({"strategy", "analysis"})),
    (_listeners, frozenset({"strategy", "proxy", "flags"})),
    (_flags_token, frozenset({"flags"})),
    (_metrics, frozenset({"analysis"})),
    (_workdir, frozenset({"app"})),
    (_secrets_not_in_spec, frozenset({"app"})),
    (_env_file, frozenset({"app"})),
)
