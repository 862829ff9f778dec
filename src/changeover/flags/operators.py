"""Constraint operators, compiled once per state into closures `check(fields, effects)`.

Invariant: a constraint whose definition cannot be understood (unknown operator, a value that
is not a number, date, version, regex or network) compiles to a check that is always false,
inverted or not, and records a `Problem`: a broken rule never turns a flag on. A context
value that is missing or unreadable (not a number, date, ...) makes the operator false (for
NOT_IN: true) before `inverted` applies, as Unleash SDKs do.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from changeover.flags import regex, semver
from changeover.flags.context import Fields, text
from changeover.flags.effects import Effects
from changeover.flags.model import Constraint
from changeover.flags.parse import parse_date, parse_number
from changeover.flags.problems import Problem
from changeover.flags.targets import networks

Check = Callable[[Fields, Effects], bool]
Builder = Callable[[Constraint, str, list[Problem]], Check | None]


def never(fields: Fields, effects: Effects) -> bool:
    return False


def compile_constraint(c: Constraint, path: str, problems: list[Problem]) -> Check:
    builder = BUILDERS.get(c.operator)
    if builder is None:
        expected = f"unknown operator; expected one of {', '.join(BUILDERS)}"
        problems.append(Problem(f"{path}.operator", expected))
        return never
    check = builder(c, path, problems)
    if check is None:
        return never
    if c.inverted:
        return lambda fields, effects: not check(fields, effects)
    return check


def _membership(c: Constraint, path: str, problems: list[Problem]) -> Check:
    name, values, wanted = c.context_name, frozenset(c.values or ()), c.operator == "IN"

    def check(fields: Fields, effects: Effects) -> bool:
        v = fields.get(name)
        if v is None:
            return not wanted
        return (text(v) in values) is wanted

    return check


def _strings(c: Constraint, path: str, problems: list[Problem]) -> Check:
    name, ci, op = c.context_name, c.case_insensitive, c.operator
    values = tuple(v.lower() if ci else v for v in (c.values or ()))

    def check(fields: Fields, effects: Effects) -> bool:
        v = fields.get(name)
        if v is None:
            return False
        s = text(v).lower() if ci else text(v)
        if op == "STR_STARTS_WITH":
            return s.startswith(values)
        if op == "STR_ENDS_WITH":
            return s.endswith(values)
        return any(x in s for x in values)

    return check


def _single(c: Constraint, path: str, problems: list[Problem], kind: str) -> str | None:
    if c.value is None:
        problems.append(Problem(f"{path}.value", f"required for {c.operator}: {kind}"))
    return c.value


_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "EQ": operator.eq,
    "GT": operator.gt,
    "GTE": operator.ge,
    "LT": operator.lt,
    "LTE": operator.le,
    "AFTER": operator.gt,
    "BEFORE": operator.lt,
}


def _ordered(read: Callable[[str], object | None], kind: str) -> Builder:
    """A builder for NUM_*, DATE_* and SEMVER_*: parse both sides with `read`, compare."""

    def build(c: Constraint, path: str, problems: list[Problem]) -> Check | None:
        raw = _single(c, path, problems, kind)
        target = read(raw) if raw is not None else None
        if target is None:
            if raw is not None:
                problems.append(Problem(f"{path}.value", f"expected {kind} (got {raw!r})"))
            return None
        name, cmp = c.context_name, _CMP[c.operator.rsplit("_", 1)[1]]
        dated = c.operator.startswith("DATE_")

        def check(fields: Fields, effects: Effects) -> bool:
            v = fields.get(name)
            if v is None:
                if not dated:
                    return False
                v = effects.now()  # Unleash: a date rule without currentTime means "now"
            if dated and isinstance(v, datetime):
                mine: object = v if v.tzinfo else v.replace(tzinfo=UTC)  # naive means UTC
            else:
                mine = read(text(v))
            return mine is not None and cmp(mine, target)

        return check

    return build


def _regex(c: Constraint, path: str, problems: list[Problem]) -> Check | None:
    raw = _single(c, path, problems, "a regular expression (RE2 syntax)")
    if raw is None:
        return None
    try:
        pattern = regex.compile(raw, ignore_case=c.case_insensitive)
    except regex.RegexError as exc:
        problems.append(Problem(f"{path}.value", f"expected an RE2 regular expression: {exc}"))
        return None
    name, search = c.context_name, pattern.search

    def check(fields: Fields, effects: Effects) -> bool:
        v = fields.get(name)
        return v is not None and search(text(v)) is not None

    return check


def _cidr(c: Constraint, path: str, problems: list[Problem]) -> Check | None:
    values = c.values or []
    nets = networks(values, [f"{path}.values[{i}]" for i in range(len(values))])
    for where, raw in nets.invalid:
        problems.append(Problem(where, f"expected an IP or CIDR range (got {raw!r})"))
    if not nets.valid:
        return None
    name, contains = c.context_name, nets.contains
    return lambda fields, effects: contains(fields.get(name))


_NUMBER, _DATE = "a number", "an ISO 8601 date-time"
_SEMVER = "a semantic version like 1.2.3 or 2.0.0-rc.1"
BUILDERS: dict[str, Builder] = {
    "IN": _membership,
    "NOT_IN": _membership,
    "STR_STARTS_WITH": _strings,
    "STR_ENDS_WITH": _strings,
    "STR_CONTAINS": _strings,
    **{f"NUM_{op}": _ordered(parse_number, _NUMBER) for op in ("EQ", "GT", "GTE", "LT", "LTE")},
    "DATE_AFTER": _ordered(parse_date, _DATE),
    "DATE_BEFORE": _ordered(parse_date, _DATE),
    **{f"SEMVER_{op}": _ordered(semver.parse, _SEMVER) for op in ("EQ", "GT", "GTE", "LT", "LTE")},
    "REGEX": _regex,
    "IN_CIDR": _cidr,
}
