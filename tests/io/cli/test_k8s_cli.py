"""`changeover k8s render|explain` through the real entry point: YAML on stdout and the
report on stderr, exit 2 on what cannot be rendered unless --allow-lossy, -o DIR, --json,
-E, the env file and the flags file read, bad input named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

SPEC = """\
[app]
name = "svc"
command = "uvicorn app:app --fd 3"
env_file = "app.env"
secret_env = ["TOKEN"]

[environments.prod.spec.app]
replicas = 3
"""


def changeover(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHANGEOVER_")}
    return subprocess.run(
        [sys.executable, "-m", "changeover", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env | {"COLUMNS": "250", "NO_COLOR": "1"},
        cwd=cwd,
        check=False,
    )


def service(tmp_path: Path) -> Path:
    (tmp_path / "changeover.toml").write_text(SPEC)
    (tmp_path / "app.env").write_text("MODE=file\nTOKEN=s3cret-value\n")
    return tmp_path


def test_render_prints_yaml_and_reads_the_env_file_but_no_secret(tmp_path: Path) -> None:
    result = changeover(
        "k8s", "render", "-E", "prod", "--image", "reg/svc:1.4.0", cwd=service(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    docs = list(yaml.safe_load_all(result.stdout))
    assert [d["kind"] for d in docs] == ["Deployment", "Service", "PodDisruptionBudget"]
    assert docs[0]["spec"]["replicas"] == 3
    env = {e["name"]: e for e in docs[0]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["MODE"]["value"] == "file"
    assert env["TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "svc-secrets", "key": "TOKEN"}
    assert env["CHANGEOVER_VERSION"]["value"] == "1.4.0"
    assert "s3cret-value" not in result.stdout + result.stderr
    assert "note: strategy.progress_deadline" in result.stderr  # the report, not in stdout


def test_a_lossy_rendering_exits_2_unless_allowed(tmp_path: Path) -> None:
    folder = service(tmp_path)
    refused = changeover("k8s", "render", "--strategy", "canary", cwd=folder)
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert "lossy: strategy.type" not in refused.stderr  # --strategy was the choice
    assert "lossy: --strategy: a Deployment only rolls; canary needs --rollouts" in refused.stderr
    assert "--allow-lossy" in refused.stderr
    allowed = changeover("k8s", "render", "--strategy", "canary", "--allow-lossy", cwd=folder)
    assert allowed.returncode == 0, allowed.stderr
    assert "kind: Deployment" in allowed.stdout


def test_o_writes_one_file_per_object(tmp_path: Path) -> None:
    folder = service(tmp_path)
    out = tmp_path / "manifests"
    args = ["k8s", "render", "--rollouts", "--strategy", "blue-green", "-o", str(out)]
    result = changeover(*args, cwd=folder)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "poddisruptionbudget-svc.yaml",
        "rollout-svc.yaml",
        "service-svc-preview.yaml",
        "service-svc.yaml",
    ]
    assert yaml.safe_load((out / "rollout-svc.yaml").read_text())["kind"] == "Rollout"


def test_json_carries_manifests_and_findings(tmp_path: Path) -> None:
    result = changeover("k8s", "render", "--json", "--kube-version", "1.29", cwd=service(tmp_path))
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["rendered"] is True
    pod = doc["manifests"][0]["spec"]["template"]["spec"]
    assert pod["containers"][0]["lifecycle"]["preStop"] == {"exec": {"command": ["sleep", "5"]}}
    assert doc["termination"]["termination_grace_period_seconds"] == 65  # 5 + 30 + 30
    assert "strategy.progress_deadline (default)" in {f["key"] for f in doc["findings"]}


def test_explain_says_where_each_value_comes_from(tmp_path: Path) -> None:
    folder = service(tmp_path)
    text = changeover("k8s", "explain", "-E", "prod", cwd=folder)
    assert text.returncode == 0, text.stderr
    assert "= 5s preStop sleep + 30s drain_timeout + 30s grace_period = 65s" in text.stdout
    assert "from environments.prod.spec.app.replicas" in text.stdout
    doc = json.loads(changeover("k8s", "explain", "--json", cwd=folder).stdout)
    (grace,) = [v for v in doc["values"] if v["path"].endswith("terminationGracePeriodSeconds")]
    assert grace["value"] == 65
    assert "termination.grace_period (default)" in grace["from"]


def test_bad_input_is_named_and_exits_2(tmp_path: Path) -> None:
    folder = service(tmp_path)
    version = changeover("k8s", "render", "--kube-version", "1.12", cwd=folder)
    assert version.returncode == 2
    assert "--kube-version: 1.12 is not supported; expected 1.25 to 1.37" in version.stderr
    router = changeover("k8s", "render", "--rollouts", "--traffic-router", "kong", cwd=folder)
    assert router.returncode == 2
    assert "--traffic-router: expected one of nginx, istio, none" in router.stderr
    (folder / "flags.toml").write_text('name = "x"\nenabled = "yes"\n')
    flags = changeover("k8s", "render", "--flags", "flags.toml", cwd=folder)
    assert flags.returncode == 2
    assert "flags.toml: features[0].enabled:" in flags.stderr


def test_flags_become_a_configmap(tmp_path: Path) -> None:
    folder = service(tmp_path)
    (folder / "flags.toml").write_text('name = "checkout"\nenabled = true\n')
    result = changeover("k8s", "render", "--flags", "flags.toml", cwd=folder)
    assert result.returncode == 0, result.stderr
    config_map = next(yaml.safe_load_all(result.stdout))
    assert config_map["kind"] == "ConfigMap"
    assert json.loads(config_map["data"]["flags.json"])["features"][0]["name"] == "checkout"
