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


def load_spec(path: Path) -> Spec:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(str(path), [Problem("(file)", f"cannot read: {exc.strerror}")]) from None
    return load_spec_text(text, str(path), base=path.parent)


def load_spec_text(text: str, source: str, *, base: Path | None = None) -> Spec:
    """Parse TOML text; `base` (the spec's folder) enables filesystem checks like workdir."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(source, [Problem("(toml)", f"invalid TOML: {exc}")]) from None
    return load_spec_data(data, source, base=base)


def load_spec_data(data: dict[str, Any], source: str, *, base: Path | None = None) -> Spec:
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(source, _problems(exc) + _partial_rules(data, base)) from None
    problems = check_rules(spec, base)
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
