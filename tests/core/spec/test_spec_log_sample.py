"""`proxy.log_sample`: the spec key ("auto", the default, or an integer N >= 1), its errors
with the key's path, and what the haproxy engine renders from it (every request while
the access log is on)."""

from __future__ import annotations

from pathlib import Path

import pytest

from changeover.agent.engine import make
from changeover.agent.paths import StatePaths
from changeover.haproxy.engine import HaproxyEngine
from changeover.spec.load import SpecError, load_spec_text
from changeover.spec.models import LOG_SAMPLE, ProxySettings

APP = '[app]\nname = "a"\ncommand = "x"\n'


def spec_with(value: str, more: str = "") -> str:
    return f'{APP}[proxy]\nengine = "haproxy"\nlog_sample = {value}\n{more}'


def test_default_and_a_value() -> None:
    assert load_spec_text(APP, "svc.toml").proxy.log_sample == LOG_SAMPLE == "auto"
    assert load_spec_text(spec_with('"auto"'), "svc.toml").proxy.log_sample == "auto"
    assert load_spec_text(spec_with("1"), "svc.toml").proxy.log_sample == 1
    assert load_spec_text(spec_with("100"), "svc.toml").proxy.log_sample == 100
    assert load_spec_text(spec_with("1000000"), "svc.toml").proxy.log_sample == 1_000_000


EXPECTED = 'expected "auto" or an integer from 1 to 1000000 (log 1 response in N), got'


@pytest.mark.parametrize(
    ("value", "got"),
    [
        ("0", "0"),
        ("-3", "-3"),
        ("1.5", "1.5"),
        ("10.0", "10.0"),
        ('"10"', "'10'"),
        ("true", "true"),
        ("1000001", "1000001"),
        ('"Auto"', "'Auto'"),
        ('"automatic"', "'automatic'"),
        ('""', "''"),
        ("[10]", "[10]"),
    ],
)
def test_anything_but_auto_or_an_integer_of_at_least_1_is_refused_naming_the_key(
    value: str, got: str
) -> None:
    with pytest.raises(SpecError) as info:
        load_spec_text(spec_with(value), "svc.toml")
    assert info.value.lines() == [f"svc.toml: proxy.log_sample: {EXPECTED} {got}"]


@pytest.mark.parametrize(
    ("sample", "access_log", "rendered"),
    [(25, False, 25), (25, True, 1), ("auto", False, "auto"), ("auto", True, 1)],
)
def test_the_engine_samples_only_while_the_access_log_is_off(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sample: int | str,
    access_log: bool,
    rendered: int | str,
) -> None:
    program = tmp_path / "haproxy"  # make() only checks that it is an executable file
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    monkeypatch.setenv("CHANGEOVER_HAPROXY", str(program))
    settings = ProxySettings(engine="haproxy", log_sample=sample, access_log=access_log)
    paths = StatePaths(tmp_path / "state")
    paths.ensure()
    engine = make(settings, paths, builtin=lambda: None)  # type: ignore[arg-type,return-value]
    assert isinstance(engine, HaproxyEngine)
    assert engine.settings.log_sample == rendered
    mode = "auto" if rendered == "auto" else "fixed"
    assert engine.metrics()["log_sample"]["mode"] == mode
