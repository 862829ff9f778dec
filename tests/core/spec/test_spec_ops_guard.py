"""The `[ops]` and `[guard]` sections: defaults, their rules, and errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from changeover.spec.load import SpecError, load_spec, load_spec_text
from changeover.spec.models import GuardSettings, OpsSettings

BASE = '[app]\nname = "svc"\ncommand = "run"\n'
SLO = '[analysis.slo]\nmetrics = [{ name = "e", provider = "builtin", query = "error_rate" }]\n'


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as exc:
        load_spec_text(BASE + text, "svc.toml")
    return exc.value.lines()


def test_absent_sections_mean_no_listener_and_no_guard() -> None:
    spec = load_spec_text(BASE, "svc.toml")
    assert spec.ops == OpsSettings(listen=None, token_file=None)
    assert spec.guard == GuardSettings()
    assert (spec.guard.window, spec.guard.analysis, spec.guard.alert_labels) == (None, None, {})


def test_a_full_guard_and_an_ops_listener_without_a_token() -> None:
    spec = load_spec_text(
        BASE
        + SLO
        + '[ops]\nlisten = "127.0.0.1:9464"\n'
        + '[guard]\nwindow = "15m"\nanalysis = "slo"\nalert_labels = { service = "svc" }\n',
        "svc.toml",
    )
    assert spec.ops.listen == "127.0.0.1:9464"
    assert spec.ops.token_file is None  # /metrics only: /v1/alerts needs a token
    guard = spec.guard
    assert (guard.window, guard.analysis, guard.alert_labels) == (900.0, "slo", {"service": "svc"})


def test_the_guard_analysis_must_exist_and_needs_a_window() -> None:
    assert problems('[guard]\nanalysis = "slo"\n') == [
        "svc.toml: guard.analysis: unknown analysis template 'slo' (defined: none)",
        "svc.toml: guard.analysis: runs over the guard window: set guard.window too",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('window = "0s"', "guard.window: must be greater than 0s (leave it out for no guard"),
        ("window = 15", 'guard.window: expected a duration with a unit, like "250ms"'),
        ('alert_labels = { "2x" = "a" }', "guard.alert_labels: invalid label name '2x'; expected"),
        ('alert_labels = { __name__ = "a" }', "invalid label name '__name__'"),
        ("alert_labels = { service = 3 }", "guard.alert_labels.service: input should be a valid"),
        ('windw = "1m"', "guard.windw: unknown key; expected one of: window, analysis, alert_l"),
    ],
)
def test_bad_guard_keys_name_the_key(text: str, message: str) -> None:
    (line,) = problems(f"[guard]\n{text}\n")
    assert message in line


def test_the_ops_listener_must_not_share_another_listeners_address() -> None:
    text = '[proxy]\nlisten = "127.0.0.1:8080"\n[ops]\nlisten = "127.0.0.1:8080"\n'
    assert problems(text) == ["svc.toml: ops.listen: must differ from proxy.listen"]
    flags = (
        '[flags]\nlisten = "127.0.0.1:9000"\ntoken_file = "t"\n[ops]\nlisten = "127.0.0.1:9000"\n'
    )
    assert problems(flags) == ["svc.toml: ops.listen: must differ from flags.listen"]
    load_spec_text(BASE + '[ops]\nlisten = "127.0.0.1:0"\n[flags]\nlisten = "127.0.0.1:0"\n'
                   'token_file = "t"\n', "svc.toml")  # fmt: skip


def test_the_ops_token_file_is_checked_as_the_flags_one_is(tmp_path: Path) -> None:
    spec = tmp_path / "svc.toml"
    spec.write_text(BASE + '[ops]\nlisten = "127.0.0.1:0"\ntoken_file = "ops.token"\n')
    token = tmp_path / "ops.token"
    token.write_text("abc\n")
    token.chmod(0o644)
    with pytest.raises(SpecError) as exc:
        load_spec(spec)
    assert exc.value.lines() == [
        f"{spec}: ops.token_file: {token} is open to group or others (mode 0644), so other "
        f"users could read the token; run `chmod 600 {token}`"
    ]
    token.chmod(0o600)
    assert load_spec(spec).ops.token_file == "ops.token"
