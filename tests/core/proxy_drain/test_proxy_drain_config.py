"""`write_timeout`: ProxyConfig validation, the spec key `proxy.write_timeout`, the wiring."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from changeover.agent.main import proxy_config
from changeover.proxy.config import ProxyConfig
from changeover.spec.load import SpecError, load_spec_text
from changeover.units import format_duration

APP = '[app]\nname = "a"\ncommand = "x"\n'


def spec_with(value: str) -> str:
    return f"{APP}[proxy]\nwrite_timeout = {value}\n"


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_spec_text(text, "svc.toml")
    return info.value.lines()


def test_default_is_thirty_seconds_in_config_and_spec() -> None:
    assert ProxyConfig().write_timeout == 30.0
    assert load_spec_text(APP, "svc.toml").proxy.write_timeout == 30.0


@pytest.mark.parametrize("bad", [0, 0.0, -1.0, math.nan, "5", None, True])
def test_config_refuses_what_is_not_a_positive_number_of_seconds(bad: object) -> None:
    with pytest.raises(ValueError, match=r"write_timeout must be > 0 \(a number of seconds\)"):
        ProxyConfig(write_timeout=bad)  # type: ignore[arg-type]


def test_config_error_names_the_value_given() -> None:
    with pytest.raises(ValueError, match=r"got -2\.5"):
        ProxyConfig(write_timeout=-2.5)


@given(st.floats(min_value=1e-3, max_value=1e6))
def test_any_positive_timeout_is_kept_and_the_sweep_is_fine_enough(seconds: float) -> None:
    config = ProxyConfig(write_timeout=seconds)
    assert config.write_timeout == seconds
    # The sweep enforces it: never coarser than a quarter of it (above the 20 ms floor).
    assert config.sweep_interval <= max(0.02, seconds / 4)


def test_small_write_timeout_makes_the_sweep_finer() -> None:
    assert ProxyConfig(write_timeout=0.3).sweep_interval == pytest.approx(0.075)
    assert ProxyConfig().sweep_interval == ProxyConfig(write_timeout=1e6).sweep_interval


def test_spec_reads_a_duration_and_the_agent_passes_it_on() -> None:
    spec = load_spec_text(spec_with('"1m30s"'), "svc.toml")
    assert spec.proxy.write_timeout == 90.0
    assert proxy_config(spec.proxy).write_timeout == 90.0


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ('"0s"', "must be greater than 0s"),
        ("0", "duration with a unit"),
        ("30", "duration with a unit"),
        ('"soon"', "duration with a unit"),
        ('"-5s"', "duration with a unit"),
    ],
)
def test_spec_errors_name_the_key_and_what_is_expected(value: str, fragment: str) -> None:
    lines = problems(spec_with(value))
    assert any(
        line.startswith("svc.toml: proxy.write_timeout: ") and fragment in line for line in lines
    ), lines


@given(st.integers(min_value=1, max_value=10**7))
def test_spec_value_round_trips_through_a_snapshot(millis: int) -> None:
    text = format_duration(millis / 1000)
    spec = load_spec_text(spec_with(f'"{text}"'), "svc.toml")
    assert spec.proxy.write_timeout == pytest.approx(millis / 1000)
    dumped = spec.model_dump(mode="json")["proxy"]["write_timeout"]
    assert load_spec_text(spec_with(f'"{dumped}"'), "svc.toml") == spec


@pytest.mark.parametrize(
    "key",
    [
        "connect_timeout",
        "header_timeout",
        "idle_timeout",
        "response_timeout",
        "upstream_idle_timeout",
    ],
)
def test_every_proxy_timeout_refuses_zero_when_the_spec_is_read(key: str) -> None:
    # Caught here, with the key's path, not later when the agent builds its ProxyConfig.
    assert problems(f'{APP}[proxy]\n{key} = "0s"\n') == [
        f"svc.toml: proxy.{key}: must be greater than 0s"
    ]
