"""Loading changeover.toml: the design's example, every error with its key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from changeover.spec.load import SpecError, load_spec, load_spec_data, load_spec_text

ROOT = Path(__file__).resolve().parents[3]

DESIGN_EXAMPLE = """
[app]
name = "hello"
command = "uvicorn app:app --fd 3"
replicas = 2
workdir = "."
env = { LOG_LEVEL = "info" }
[proxy]
listen = "127.0.0.1:8080"
[probes.readiness]
path = "/readyz"
period = "1s"
timeout = "1s"
failure_threshold = 1
[probes.liveness]
path = "/healthz"
period = "5s"
failure_threshold = 3
[probes.startup]
path = "/healthz"
period = "250ms"
failure_threshold = 120
[termination]
drain_timeout = "30s"
pre_stop = ""
stop_signal = "SIGTERM"
grace_period = "30s"
[strategy]
type = "rolling"
max_surge = 1
max_unavailable = 0
min_ready = "0s"
progress_deadline = "5m"
steps = [{ set_weight = 10 }, { pause = "30s" }, { analysis = "slo" }, { set_weight = 50 },
         { pause = {} }]
auto_promote = true
scale_down_delay = "30s"
pre_promotion_analysis = "slo"
[analysis.slo]
interval = "10s"
count = 3
failure_limit = 1
metrics = [
  { name = "success", provider = "builtin", query = "success_rate", min = 0.99 },
  { name = "p95", provider = "builtin", query = "latency_p95", max = "300ms" },
]
"""


def problems(text: str, base: Path | None = None) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_spec_text(text, "svc.toml", base=base)
    return info.value.lines()


def test_design_example_is_valid_and_typed() -> None:
    spec = load_spec_text(DESIGN_EXAMPLE, "svc.toml")
    assert spec.app.replicas == 2
    assert spec.probes.startup is not None
    assert spec.probes.startup.period == 0.25
    assert spec.strategy.progress_deadline == 300.0
    assert spec.strategy.max_surge.resolve(2, round_up=True) == 1
    assert spec.analysis["slo"].metrics[1].max == pytest.approx(0.3)
    assert spec.strategy.steps[4].pause == {}


def test_snapshot_round_trips_through_json() -> None:
    spec = load_spec_text(DESIGN_EXAMPLE, "svc.toml")
    assert load_spec_data(spec.model_dump(mode="json"), "snapshot") == spec


def test_bundled_example_is_valid() -> None:
    spec = load_spec(ROOT / "examples" / "hello" / "changeover.toml")
    assert spec.app.command.startswith("uvicorn app:app --fd 3")


def test_minimal_spec_gets_defaults() -> None:
    spec = load_spec_text('[app]\nname = "a"\ncommand = "x"\n', "svc.toml")
    assert spec.app.replicas == 1
    assert spec.proxy.listen == "127.0.0.1:8080"
    assert spec.strategy.type == "rolling"
    assert spec.probes.readiness is None


def test_unknown_keys_are_named_with_the_expected_ones() -> None:
    lines = problems('[app]\nname = "a"\ncommand = "x"\ncolour = "blue"\n[extra]\nx = 1\n')
    assert (
        "svc.toml: app.colour: unknown key; expected one of: name, command, replicas, "
        "workdir, env, env_file, secret_env" in lines
    )
    assert any(
        line.startswith("svc.toml: extra: unknown key; expected one of: app,") for line in lines
    )


def test_every_problem_is_reported_at_once() -> None:
    text = """
[app]
name = "a"
command = "x"
replicas = 0
[proxy]
listen = "localhost"
[probes.readiness]
path = "readyz"
period = 1
[termination]
stop_signal = "SIGNOPE"
[strategy]
type = "linear"
steps = [{ set_weight = 150 }, { set_weight = 5, pause = "1s" }]
"""
    lines = problems(text)
    expected = {
        "app.replicas": "greater than or equal to 1",
        "proxy.listen": 'expected "host:port"',
        "probes.readiness.path": "must start with /",
        "probes.readiness.period": "duration with a unit",
        "termination.stop_signal": "signal name",
        "strategy.type": "'rolling', 'blue-green' or 'canary'",
        "strategy.steps[0].set_weight": "less than or equal to 100",
        "strategy.steps[1]": "exactly one of",
    }
    for path, fragment in expected.items():
        assert any(line.startswith(f"svc.toml: {path}: ") and fragment in line for line in lines), (
            path,
            lines,
        )


def test_missing_keys_and_bad_toml() -> None:
    assert problems('[app]\nname = "a"\n') == ["svc.toml: app.command: required key is missing"]
    assert problems("[app\n")[0].startswith("svc.toml: (toml): invalid TOML:")
    assert problems("")[0] == "svc.toml: app: required key is missing"


def test_surge_and_unavailable_cannot_both_be_zero() -> None:
    lines = problems(
        '[app]\nname = "a"\ncommand = "x"\nreplicas = 3\n'
        '[strategy]\nmax_surge = 0\nmax_unavailable = "20%"\n'
    )
    assert len(lines) == 1
    assert lines[0].startswith(
        "svc.toml: strategy.max_surge: max_surge (0) and max_unavailable (20%)"
    )
    # 20% of 5 rounds down to 1: fine.
    load_spec_text(
        '[app]\nname = "a"\ncommand = "x"\nreplicas = 5\n'
        '[strategy]\nmax_surge = 0\nmax_unavailable = "20%"\n',
        "svc.toml",
    )


def test_cross_references_and_filesystem(tmp_path: Path) -> None:
    text = """
[app]
name = "a"
command = "x"
workdir = "missing"
[strategy]
steps = [{ analysis = "nope" }]
preview_listen = "127.0.0.1:8080"
[analysis.slo]
metrics = [{ name = "m", provider = "prometheus", query = "up" }]
"""
    lines = problems(text, base=tmp_path)
    assert (
        "svc.toml: strategy.steps[0].analysis: unknown analysis template 'nope' "
        "(defined: slo)" in lines
    )
    assert "svc.toml: strategy.preview_listen: must differ from proxy.listen" in lines
    assert "svc.toml: analysis.slo.metrics[0].address: required for provider 'prometheus'" in lines
    assert f"svc.toml: app.workdir: directory '{tmp_path / 'missing'}' does not exist" in lines


def test_probe_rules_follow_kubernetes() -> None:
    lines = problems(
        '[app]\nname = "a"\ncommand = "x"\n[probes.liveness]\npath = "/h"\nsuccess_threshold = 2\n'
    )
    assert lines == [
        "svc.toml: probes.liveness: success_threshold must be 1 for startup and liveness probes"
    ]


def test_commands_must_split() -> None:
    lines = problems('[app]\nname = "a"\ncommand = "uvicorn \'app"\n')
    assert lines[0].startswith("svc.toml: app.command: cannot split command line")
    assert problems('[app]\nname = "a"\ncommand = "  "\n')[0].endswith(
        "expected a command, got an empty string"
    )


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path / "none.toml")
    assert info.value.lines() == [
        f"{tmp_path / 'none.toml'}: (file): cannot read: No such file or directory"
    ]


FLAGS_APP = '[app]\nname = "a"\ncommand = "x"\n'


def test_flags_listener_must_not_take_the_public_address(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    token.chmod(0o600)
    text = FLAGS_APP + '[flags]\nlisten = "127.0.0.1:8080"\ntoken_file = "token"\n'
    assert problems(text, base=tmp_path) == [
        "svc.toml: flags.listen: must differ from proxy.listen"
    ]


def test_flags_token_file_is_checked_with_the_spec(tmp_path: Path) -> None:
    text = FLAGS_APP + '[flags]\nlisten = "127.0.0.1:8090"\ntoken_file = "token"\n'
    (missing,) = problems(text, base=tmp_path)
    assert missing.startswith(f"svc.toml: flags.token_file: {tmp_path / 'token'} does not exist")
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    token.chmod(0o644)
    (loose,) = problems(text, base=tmp_path)
    assert "open to group or others (mode 0644)" in loose
    assert "chmod 600" in loose
    token.chmod(0o600)
    spec = load_spec_text(text, "svc.toml", base=tmp_path)
    assert spec.flags.token_file == "token"


def test_a_floor_belongs_to_latency_ratios_only() -> None:
    text = """
[app]
name = "a"
command = "x"
[analysis.slo]
metrics = [
  { name = "r", provider = "builtin", query = "latency_p95_ratio", max = 2, floor = "10ms" },
  { name = "s", provider = "builtin", query = "success_rate", min = 0.9, floor = "10ms" },
]
"""
    assert problems(text) == [
        "svc.toml: analysis.slo.metrics[1].floor: only a builtin latency_*_ratio query has a "
        "floor (this metric is builtin success_rate)"
    ]
