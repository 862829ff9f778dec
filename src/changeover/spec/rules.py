"""Rules that span several keys of a spec, checked after the models validate.

Invariant: each rule reports a `Problem` with the key path the user must edit; rules
never raise, so `check` can print every problem at once.
"""

from __future__ import annotations

import grp
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from changeover.spec import pcre
from changeover.spec.envfile import EnvFileError, read_env_file
from changeover.spec.environments import EnvironmentSettings
from changeover.spec.models import Metric, Spec
from changeover.spec.queries import check_query
from changeover.spec.types import parse_address
from changeover.tlsfiles import TlsFileError, load_pair
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
    spec: Spec, base: Path | None, valid: Collection[str] | None = None, *, here: bool = True
) -> list[Problem]:
    """Problems from every rule whose sections are all in `valid` (default: all); the
    rules about the machine the agent runs on only when that is this one (`here`: not
    an environment on another host) and the spec's folder is known (`base`)."""
    out: list[Problem] = []
    local = RULES_OF_THE_MACHINE if here and base is not None else ()
    for rule, needs in (*RULES, *local):
        if valid is None or needs <= set(valid):
            out += rule(spec, base)
    return out


def _control_group(spec: Spec, base: Path | None) -> list[Problem]:
    """The control socket's group must exist where the agent creates the socket."""
    group = spec.control.group
    if group is None:
        return []
    try:
        grp.getgrnam(group)
    except KeyError:
        return [
            Problem(
                "control.group",
                f"no group {group!r} on this machine: create it (groupadd {group}) and add "
                "the accounts that may use the agent, or remove the key (socket 0600)",
            )
        ]
    return []


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
    refs.append(("guard.analysis", spec.guard.analysis))
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
    others = [("proxy.listen", spec.proxy.listen), ("strategy.preview_listen", preview)]
    for key, mine in (("flags.listen", spec.flags.listen), ("ops.listen", spec.ops.listen)):
        if mine and parse_address(mine)[1] != 0:
            for other_key, other in others:
                if other and parse_address(mine) == parse_address(other):
                    out.append(Problem(key, f"must differ from {other_key}"))
        others.append((key, mine))
    return out


def _token(key: str, token_file: str | None, base: Path | None) -> list[Problem]:
    if base is None or token_file is None:
        return []
    try:
        read_token(base / token_file)
    except TokenFileError as exc:
        return [Problem(key, str(exc))]
    return []


def _flags_token(spec: Spec, base: Path | None) -> list[Problem]:
    return _token("flags.token_file", spec.flags.token_file, base)


def _ops_token(spec: Spec, base: Path | None) -> list[Problem]:
    """Checked as the flags token is: the same file rules, the same messages."""
    return _token("ops.token_file", spec.ops.token_file, base)


def _tls(spec: Spec, base: Path | None) -> list[Problem]:
    """The certificate and key: readable, PEM, a matching pair, the key mode 0600."""
    tls = spec.proxy.tls
    if base is None or tls is None:
        return []
    try:
        load_pair(base / tls.cert, base / tls.key)
    except TlsFileError as exc:
        return [Problem(exc.key, str(exc))]
    return []


def _guard(spec: Spec, base: Path | None) -> list[Problem]:
    guard = spec.guard
    if guard.analysis is not None and guard.window is None:
        return [Problem("guard.analysis", "runs over the guard window: set guard.window too")]
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
            if metric.floor is not None and not _is_latency_ratio(metric):
                out.append(
                    Problem(
                        f"analysis.{name}.metrics[{i}].floor",
                        "only a builtin latency_*_ratio query has a floor "
                        f"(this metric is {metric.provider} {metric.query or ''})".rstrip(),
                    )
                )
    return out


def _is_latency_ratio(metric: Metric) -> bool:
    query = metric.query or ""
    return (
        metric.provider == "builtin" and query.startswith("latency_") and query.endswith("_ratio")
    )


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


def _pipeline(spec: Spec, base: Path | None) -> list[Problem]:
    envs = spec.environments
    out: list[Problem] = []
    for name, env in envs.items():
        out += _environment(name, env, spec)
    out += _cycles(envs)
    return out


def _environment(name: str, env: EnvironmentSettings, spec: Spec) -> list[Problem]:
    envs, out = spec.environments, []

    def bad(key: str, message: str) -> None:
        out.append(Problem(f"environments.{name}.{key}", message))

    source = env.promote_from
    if source is not None and source not in envs:
        bad("promote_from", f"unknown environment {source!r}; defined: {_names(envs)}")
    if source is None and (env.soak or env.soak_requests or env.soak_analysis):
        bad("soak", "a soak is measured where a release is promoted from: set promote_from")
    if env.soak_analysis is not None and env.soak_analysis not in spec.analysis:
        known = _names(spec.analysis)
        bad("soak_analysis", f"unknown analysis {env.soak_analysis!r}; defined: {known}")
    approvers = set(env.approvers)
    if approvers and env.approvals == 0:
        bad("approvers", "approvers are listed but approvals is 0: set how many must approve")
    if approvers and env.approvals > len(approvers):
        bad(
            "approvals",
            f"{env.approvals} approvals needed but only {len(approvers)} approver(s) "
            "listed: the gate could never be met",
        )
    names = [item.name for item in env.checklist]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        bad("checklist", f"two items are named {dup!r}: names must differ")
    if "environments" in env.spec:
        bad("spec.environments", "an environment's overlay cannot define environments")
    return out


def engine_lacks(spec: Spec, engine: str) -> list[Problem]:
    """What `spec` uses that the data plane `engine` reads differently: the haproxy
    engine matches a header route's regex with PCRE2 (`spec.pcre`: a regex it would
    read otherwise is refused)."""
    if engine != "haproxy":
        return []
    out = []
    for i, step in enumerate(spec.strategy.steps):
        route = step.set_header_route
        if route is not None and route.regex is not None:
            out += [
                Problem(
                    f"strategy.steps[{i}].set_header_route.regex",
                    f'with proxy.engine = "haproxy" (PCRE2) the regex {problem}',
                )
                for problem in pcre.problems(route.regex)
            ]
    return out


def _engine(spec: Spec, base: Path | None) -> list[Problem]:
    return engine_lacks(spec, spec.proxy.engine)


def _names(defined: Collection[str]) -> str:
    return ", ".join(sorted(defined)) or "none"


def _cycles(envs: dict[str, EnvironmentSettings]) -> list[Problem]:
    out, reported = [], set()
    for start in envs:
        chain, name = [start], envs[start].promote_from
        while name is not None and name in envs and name not in chain:
            chain.append(name)
            name = envs[name].promote_from
        if name is not None and name in chain and name not in reported:
            loop = [*chain[chain.index(name) :], name]
            reported.update(loop)
            cycle = " <- ".join(loop)
            out.append(
                Problem(f"environments.{name}.promote_from", f"the pipeline has a cycle: {cycle}")
            )
    return out


RULES: tuple[tuple[Rule, frozenset[str]], ...] = (
    (_rolling, frozenset({"app", "strategy"})),
    (_references, frozenset({"strategy", "analysis", "guard"})),
    (_listeners, frozenset({"strategy", "proxy", "flags", "ops"})),
    (_flags_token, frozenset({"flags"})),
    (_ops_token, frozenset({"ops"})),
    (_guard, frozenset({"guard"})),
    (_metrics, frozenset({"analysis"})),
    (_workdir, frozenset({"app"})),
    (_pipeline, frozenset({"environments", "analysis"})),
    (_secrets_not_in_spec, frozenset({"app"})),
    (_env_file, frozenset({"app"})),
    (_engine, frozenset({"proxy", "strategy"})),
    (_tls, frozenset({"proxy"})),
)

# checked only on the machine where the environment's agent runs
RULES_OF_THE_MACHINE: tuple[tuple[Rule, frozenset[str]], ...] = (
    (_control_group, frozenset({"control"})),
)
