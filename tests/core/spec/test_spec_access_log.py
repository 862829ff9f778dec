"""`proxy.access_log` and `proxy.access_log_query`: the spec keys, their errors with the
key's path, the wiring into the proxy's config (the lines themselves:
tests/io/proxy/test_proxy_bytes_access.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from changeover.agent.serve import proxy_config
from changeover.spec.load import SpecError, load_spec_text

APP = '[app]\nname = "a"\ncommand = "x"\n'
LOGS = Path("/srv/state/logs")
WHERE = "the log is logs/access.log in the state directory"


def spec_with(lines: str) -> str:
    return f"{APP}[proxy]\n{lines}\n"


def test_off_by_default_so_the_proxy_gets_no_file() -> None:
    spec = load_spec_text(APP, "svc.toml")
    assert (spec.proxy.access_log, spec.proxy.access_log_query) == (False, False)
    config = proxy_config(spec.proxy, LOGS)
    assert (config.access_log, config.access_log_query) == (None, False)


def test_on_it_is_access_log_in_the_state_directorys_logs_folder() -> None:
    spec = load_spec_text(spec_with("access_log = true"), "svc.toml")
    config = proxy_config(spec.proxy, LOGS)
    assert config.access_log == "/srv/state/logs/access.log"
    assert config.access_log_query is False  # query strings stay out unless asked for


def test_query_strings_are_kept_only_when_asked_for() -> None:
    spec = load_spec_text(spec_with("access_log = true\naccess_log_query = true"), "svc.toml")
    assert proxy_config(spec.proxy, LOGS).access_log_query is True


def test_an_access_log_needs_the_logs_folder() -> None:
    spec = load_spec_text(spec_with("access_log = true"), "svc.toml")
    with pytest.raises(ValueError, match="logs folder"):
        proxy_config(spec.proxy)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        (
            "access_log",
            '"/var/log/app.log"',
            f"expected true or false ({WHERE}), got '/var/log/app.log'",
        ),
        ("access_log", '"true"', f"expected true or false ({WHERE}), got 'true'"),
        ("access_log", "1", f"expected true or false ({WHERE}), got 1"),
        ("access_log_query", '"yes"', "expected true or false, got 'yes'"),
        ("access_log_query", "0", "expected true or false, got 0"),
    ],
)
def test_anything_but_a_boolean_is_refused_naming_the_key(
    key: str, value: str, expected: str
) -> None:
    with pytest.raises(SpecError) as info:
        load_spec_text(spec_with(f"{key} = {value}"), "svc.toml")
    assert info.value.lines() == [f"svc.toml: proxy.{key}: {expected}"]


def test_a_misspelt_key_is_refused_listing_the_real_ones() -> None:
    with pytest.raises(SpecError) as info:
        load_spec_text(spec_with("accesslog = true"), "svc.toml")
    (line,) = info.value.lines()
    assert line.startswith("svc.toml: proxy.accesslog: unknown key; expected one of: ")
    assert ", access_log, access_log_query" in line


def test_it_survives_a_revision_snapshot() -> None:
    spec = load_spec_text(spec_with("access_log = true\naccess_log_query = true"), "svc.toml")
    snapshot = spec.model_dump(mode="json")
    assert snapshot["proxy"]["access_log"] is True
    assert type(spec).model_validate(snapshot) == spec
