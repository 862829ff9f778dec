"""Golden files: what `changeover k8s render` prints for the bundled example.

The files under golden/ were reviewed by a person once; a change to the rendering shows
here as a diff to review again. To accept an intended change, run with
CHANGEOVER_UPDATE_GOLDEN=1 and review `git diff tests/core/k8s/golden`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from changeover.k8s.options import Options
from changeover.k8s.output import explain_text, header, yaml_stream
from changeover.k8s.render import render
from changeover.spec.strategy import StrategyName
from tests.core.k8s.kit import example

GOLDEN = Path(__file__).parent / "golden"
CASES = {
    "plain": Options(),
    "rollouts": Options(rollouts=True),
    "rollouts-canary": Options(rollouts=True, strategy=StrategyName.CANARY),
    "rollouts-blue-green": Options(rollouts=True, strategy=StrategyName.BLUE_GREEN),
}


def _check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("CHANGEOVER_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"no golden file {path}: run with CHANGEOVER_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{path} differs: review, then update as the docstring says"


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_example_renders_as_reviewed(case: str) -> None:
    rendering = render(example(), CASES[case])
    stream = yaml_stream(rendering, header("changeover.toml", "1.30"))
    assert list(yaml.safe_load_all(stream)) == [m.body for m in rendering.manifests]
    report = "".join(f"# {f.line()}\n" for f in rendering.findings)
    _check(f"{case}.yaml", report + stream)


def test_the_example_explains_as_reviewed() -> None:
    _check("explain-plain.txt", explain_text(render(example(), Options())))
