"""Load a flag state document (JSON text, bytes, a mapping or a file) into a `State`.

Invariant: loading returns a State or raises `FlagStateError` listing every problem with its
path. Lenient loading (what a client does with what a server sends) rejects only structural
errors and keeps the rest as `State.warnings`, as every Unleash SDK must; strict loading (for
documents people write) also rejects unknown keys, operators, strategies and bad values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from changeover.flags.compile import unknown_keys
from changeover.flags.engine import State
from changeover.flags.model import StateDocument
from changeover.flags.problems import FlagStateError, Problem, from_validation

_SHAPE = 'a JSON object like {"version": 2, "features": [...], "segments": [...]}'


def parse_state(
    document: Mapping[str, Any] | str | bytes, *, strict: bool = False, source: str = "flag state"
) -> State:
    data: object = document
    if isinstance(document, str | bytes | bytearray):
        try:
            data = json.loads(document)
        except ValueError as exc:
            problem = Problem("(document)", f"not valid JSON: {exc}")
            raise FlagStateError([problem], source) from None
    if not isinstance(data, Mapping):
        raise FlagStateError([Problem("(document)", f"expected {_SHAPE}")], source)
    try:
        model = StateDocument.model_validate(data)
    except ValidationError as exc:
        raise FlagStateError(from_validation(exc), source) from None
    state = State(model)
    if strict:
        problems = unknown_keys(model) + list(state.warnings)
        if problems:
            raise FlagStateError(problems, source)
    return state


def load_state_file(path: Path, *, strict: bool = False) -> State:
    try:
        text = path.read_bytes()
    except OSError as exc:
        problem = Problem("(file)", f"cannot read: {exc.strerror}")
        raise FlagStateError([problem], str(path)) from None
    return parse_state(text, strict=strict, source=str(path))
