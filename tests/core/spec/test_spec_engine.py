"""`proxy.engine`: builtin by default, haproxy on request, and every feature a spec uses
that the haproxy engine lacks reported with its key (spec.rules.engine_lacks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from changeover.agent.engine import make
from changeover.agent.paths import StatePaths
from changeover.spec.load import SpecError, load_spec_text
from changeover.spec.rules import engine_lacks

APP = '[app]\nname = "a"\ncommand = "x"\n'
LACKS = 'proxy.engine = "haproxy" has no {} yet (docs/haproxy.md); use engine = "builtin"'


def test_builtin_is_the_default_and_needs_nothing_installed(tmp_path: Path) -> None:
    spec = load_spec_text(APP, "svc.toml")
    assert spec.proxy.engine == "builtin"
    made = make(spec.proxy, StatePaths(tmp_path), builtin=lambda: "the proxy")  # type: ignore[arg-type,return-value]
    assert made == "the proxy"


def test_haproxy_is_chosen_in_the_proxy_section() -> None:
    spec = load_spec_text(APP + '[proxy]\nengine = "haproxy"\n', "svc.toml")
    assert spec.proxy.engine == "haproxy"
    assert engine_lacks(spec, "haproxy") == []


def test_the_access_log_is_not_refused_on_haproxy() -> None:
    text = APP + '[proxy]\nengine = "haproxy"\naccess_log = true\naccess_log_query = true\n'
    assert engine_lacks(load_spec_text(text, "svc.toml"), "haproxy") == []


def test_an_unknown_engine_is_refused_with_its_key() -> None:
    with pytest.raises(SpecError) as raised:
        load_spec_text(APP + '[proxy]\nengine = "nginx"\n', "svc.toml")
    assert "svc.toml: proxy.engine: input should be 'builtin' or 'haproxy'" in raised.value.lines()


def test_what_the_haproxy_engine_lacks_is_listed_key_by_key() -> None:
    text = (
        APP
        + '[proxy]\nengine = "haproxy"\naccess_log = true\n'
        + '[strategy]\ntype = "canary"\nsticky = "cookie:user"\n'
        + 'steps = [{ set_header_route = { header = "x-canary", value = "1" } },'
        + " { set_weight = 10 }]\n"
    )
    with pytest.raises(SpecError) as raised:
        load_spec_text(text, "svc.toml")
    assert raised.value.lines() == [
        f"svc.toml: strategy.steps[0].set_header_route: {LACKS.format('header routes')}",
        f"svc.toml: strategy.sticky: {LACKS.format('sticky users')}",
    ]


def test_the_agents_engine_judges_a_deployed_spec() -> None:
    """`[proxy]` is read from the spec `up` was given: a deployed spec that says builtin
    is still served by the agent's haproxy engine, and judged against it."""
    spec = load_spec_text(
        APP + '[strategy]\ntype = "blue-green"\npreview_listen = "127.0.0.1:9999"\n', "svc.toml"
    )
    assert engine_lacks(spec, "builtin") == []
    (problem,) = engine_lacks(spec, "haproxy")
    assert (problem.path, problem.message) == (
        "strategy.preview_listen",
        LACKS.format("preview listener"),
    )
