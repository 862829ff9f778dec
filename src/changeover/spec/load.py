"""Load `changeover.toml` into a `Spec`, collecting every problem with its key path.

Invariant: loading either returns a fully valid Spec or raises SpecError listing all
problems as `file: key.path: message`; it never returns a partially valid spec.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

from changeover.spec.environments import merged, overlay_has, runs_here
from changeover.spec.models import Spec
from changeover.spec.rules import Problem, check_rules

_TYPE_TAGS = {"float", "int", "str", "bool", "none", "dict", "list"}


class SpecError(Exception):
    """The spec file is unreadable or invalid; `problems` says where and why."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [f"{self.source}: {p.path}: {p.message}" for p in self.problems]


def load_spec(path: Path, environment: str | None = None) -> Spec:
    """The spec in `path`, or with `environment`, that environment's merged spec."""
    return load_spec_text(read_spec(path), str(path), base=path.parent, environment=environment)


def read_spec(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(str(path), [Problem("(file)", f"cannot read: {exc.strerror}")]) from None


def load_spec_text(
    text: str, source: str, *, base: Path | None = None, environment: str | None = None
) -> Spec:
    """Parse TOML text; `base` (the spec's folder) enables filesystem checks like workdir."""
    return load_spec_data(parse_toml(text, source), source, base=base, environment=environment)


def parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(source, [Problem("(toml)", f"invalid TOML: {exc}")]) from None


def load_every_environment(path: Path) -> dict[str | None, Spec]:
    """The base spec and each environment's merged spec (key None: the base); one
    SpecError listing every problem of all of them."""
    source, base = str(path), path.parent
    data = parse_toml(read_spec(path), source)
    specs: dict[str | None, Spec] = {}
    problems: list[Problem] = []
    envs = data.get("environments")
    names: list[str | None] = [None, *(envs if isinstance(envs, dict) else {})]
    for name in names:
        try:
            specs[name] = load_spec_data(data, source, base=base, environment=name)
        except SpecError as exc:
            in_base = {p.path for p in problems} if name is not None else set()
            problems += [p for p in exc.problems if p not in problems and p.path not in in_base]
    if problems:
        raise SpecError(source, problems)
    return specs


def load_spec_data(
    data: dict[str, Any],
    source: str,
    *,
    base: Path | None = None,
    environment: str | None = None,
) -> Spec:
    if environment is None:
        return _validated(data, source, base)
    envs = data.get("environments")
    if not isinstance(envs, dict) or environment not in envs:
        known = ", ".join(sorted(envs)) if isinstance(envs, dict) and envs else "none"
        message = f"unknown environment {environment!r}; the spec defines: {known}"
        raise SpecError(source, [Problem("environments", message)])
    settings = envs[environment]
    overlay = settings.get("spec", {}) if isinstance(settings, dict) else {}
    try:
        return _validated(merged(data, environment), source, base, here=runs_here(settings, base))
    except SpecError as exc:
        relocated = [_relocate(p, overlay, environment) for p in exc.problems]
        raise SpecError(source, relocated) from None


def _relocate(problem: Problem, overlay: Any, environment: str) -> Problem:
    """Point a problem of a merged spec at the key to edit: the overlay's, or the base's."""
    if isinstance(overlay, dict) and overlay_has(overlay, problem.path):
        return Problem(f"environments.{environment}.spec.{problem.path}", problem.message)
    if problem.path.startswith("environments") or problem.path.startswith("("):
        return problem
    return Problem(problem.path, f"{problem.message} (in environment {environment})")


def _validated(data: dict[str, Any], source: str, base: Path | None, *, here: bool = True) -> Spec:
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(source, _problems(exc) + _partial_rules(data, base)) from None
    problems = check_rules(spec, base, here=here)
    if problems:
        raise SpecError(source, problems)
    return spec


def _partial_rules(data: dict[str, Any], base: Path | None) -> list[Problem]:
    """Cross-key problems among the sections that are valid on their own, so one pass of
    `check` reports them next to the schema problems of other sections."""
    valid: dict[str, Any] = {}
    for name, field in Spec.model_fields.items():
        if name not in data and field.is_required():
            continue
        raw = data[name] if name in data else field.get_default(call_default_factory=True)
        model = _model_in(field.annotation)
        if _is_model(model) and isinstance(raw, dict):
            raw = {k: v for k, v in raw.items() if k in model.model_fields}  # already reported
        try:
            valid[name] = TypeAdapter(cast(Any, field.annotation)).validate_python(raw)
        except ValidationError:
            continue
    return check_rules(Spec.model_construct(**valid), base, valid=valid)


def _problems(exc: ValidationError) -> list[Problem]:
    seen: dict[str, Problem] = {}
    for err in exc.errors():
        loc = [part for part in err["loc"] if not _is_type_tag(part)]
        path = format_path(loc)
        problem = Problem(path or "(top)", _message(err, loc))
        # A union reports one error per member; keep ours ("Value error") over generic ones.
        if path not in seen or err["type"] == "value_error":
            seen[path] = problem
    return list(seen.values())


def _is_type_tag(part: int | str) -> bool:
    return isinstance(part, str) and ("[" in part or part in _TYPE_TAGS)


def format_path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(err: Any, loc: list[int | str]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        fields = _fields_at(loc[:-1])
        hint = f"; expected one of: {', '.join(fields)}" if fields else ""
        return f"unknown key{hint}"
    if kind == "missing":
        return "required key is missing"
    msg = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    if kind == "string_pattern_mismatch" and loc and loc[-1] == "path":
        return "must start with /"
    return msg[0].lower() + msg[1:] if msg else kind


def _fields_at(loc: Sequence[int | str]) -> list[str]:
    """Field names of the model found at `loc`, for 'expected one of' hints."""
    node: Any = Spec
    for part in loc:
        node = _unwrap(node, part)
        if node is None:
            return []
    return list(node.model_fields) if _is_model(node) else []


def _unwrap(node: Any, part: int | str) -> Any:
    if _is_model(node) and isinstance(part, str) and part in node.model_fields:
        return _model_in(node.model_fields[part].annotation)
    origin = get_origin(node)
    if origin in (list, dict):
        return _model_in(get_args(node)[-1])
    return None


def _model_in(annotation: Any) -> Any:
    """The model (or container of models) inside an annotation like `X | None`."""
    if _is_model(annotation) or get_origin(annotation) in (list, dict):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _is_model(node: Any) -> bool:
    return isinstance(node, type) and issubclass(node, BaseModel)
