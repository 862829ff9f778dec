"""`proxy.max_headers`: the spec key, its errors with the key's path, the wiring into the
proxy's config (the 431 itself: tests/io/proxy/test_proxy_bytes_header_count.py)."""

from __future__ import annotations

import pytest

from changeover.agent.serve import proxy_config
from changeover.spec.load import SpecError, load_spec_text

APP = '[app]\nname = "a"\ncommand = "x"\n'


def spec_with(value: str) -> str:
    return f"{APP}[proxy]\nmax_headers = {value}\n"


def test_default_is_100_and_the_agent_passes_it_on() -> None:
    spec = load_spec_text(APP, "svc.toml")
    assert spec.proxy.max_headers == 100
    assert proxy_config(spec.proxy).max_headers == 100


def test_a_value_from_the_spec_reaches_the_proxy_config() -> None:
    spec = load_spec_text(spec_with("250"), "svc.toml")
    assert proxy_config(spec.proxy).max_headers == 250
    assert load_spec_text(spec_with("1"), "svc.toml").proxy.max_headers == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", "greater than or equal to 1"),
        ("-5", "greater than or equal to 1"),
        ("1.5", "a valid integer"),
        ("100.0", "a valid integer"),
        ('"100"', "a valid integer"),
        ("true", "a valid integer"),
    ],
)
def test_anything_but_an_integer_of_at_least_1_is_refused_naming_the_key(
    value: str, expected: str
) -> None:
    with pytest.raises(SpecError) as info:
        load_spec_text(spec_with(value), "svc.toml")
    assert info.value.lines() == [f"svc.toml: proxy.max_headers: input should be {expected}"]


def test_it_survives_a_revision_snapshot() -> None:
    spec = load_spec_text(spec_with("42"), "svc.toml")
    snapshot = spec.model_dump(mode="json")
    assert snapshot["proxy"]["max_headers"] == 42
    assert type(spec).model_validate(snapshot) == spec
