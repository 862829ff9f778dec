"""`proxy.engine`: builtin by default, haproxy on request, and what the haproxy engine
would read differently (a header route's regex under PCRE2) reported with its key
(spec.rules.engine_lacks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from changeover.agent.engine import make
from changeover.agent.paths import StatePaths
from changeover.spec.load import SpecError, load_spec_text
from changeover.spec.rules import engine_lacks

APP = '[app]\nname = "a"\ncommand = "x"\n'


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


def test_a_spec_using_every_routing_feature_and_the_access_log_loads_on_haproxy() -> None:
    text = (
        APP
        + '[proxy]\nengine = "haproxy"\naccess_log = true\n'
        + '[strategy]\ntype = "canary"\nsticky = "cookie:user"\n'
        + 'steps = [{ set_header_route = { header = "x-canary", value = "1" } },'
        + " { set_weight = 10 }]\n"
    )
    spec = load_spec_text(text, "svc.toml")  # the rules run: nothing is refused
    assert (spec.proxy.engine, spec.proxy.access_log) == ("haproxy", True)
    assert engine_lacks(spec, "haproxy") == []


def test_header_routes_sticky_users_and_the_preview_are_served_by_haproxy() -> None:
    text = (
        APP
        + '[proxy]\nengine = "haproxy"\n'
        + '[strategy]\ntype = "canary"\nsticky = "header:x-user"\n'
        + 'steps = [{ set_header_route = { header = "x-canary", regex = "v[0-9]+" } },'
        + " { set_weight = 10 }]\n"
    )
    assert engine_lacks(load_spec_text(text, "svc.toml"), "haproxy") == []
    blue_green = '[strategy]\ntype = "blue-green"\npreview_listen = "127.0.0.1:9999"\n'
    assert engine_lacks(load_spec_text(APP + blue_green, "svc.toml"), "haproxy") == []


def test_a_regex_pcre_would_read_differently_is_refused_on_haproxy_only() -> None:
    route = '{ set_header_route = { header = "x-group", regex = "beta[^;]*" } }'
    spec = load_spec_text(APP + f'[strategy]\ntype = "canary"\nsteps = [{route}]\n', "svc.toml")
    assert engine_lacks(spec, "builtin") == []
    (problem,) = engine_lacks(spec, "haproxy")
    assert problem.path == "strategy.steps[0].set_header_route.regex"
    assert problem.message.startswith(
        'with proxy.engine = "haproxy" (PCRE2) the regex can match a line feed'
    )
    assert "[^;\\r\\n] instead of [^;]" in problem.message


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("0", "proxy.threads: input should be greater than or equal to 1"),
        ("65", "proxy.threads: input should be less than or equal to 64"),
        ('"2"', "proxy.threads: input should be a valid integer"),
    ],
)
def test_threads_is_a_whole_number_of_haproxy_threads(value: str, problem: str) -> None:
    spec = load_spec_text(APP + '[proxy]\nengine = "haproxy"\nthreads = 2\n', "svc.toml")
    assert spec.proxy.threads == 2
    assert load_spec_text(APP, "svc.toml").proxy.threads is None  # the CPUs available
    with pytest.raises(SpecError) as raised:
        load_spec_text(APP + f"[proxy]\nthreads = {value}\n", "svc.toml")
    assert f"svc.toml: {problem}" in raised.value.lines()
