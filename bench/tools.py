"""The peer tools the benchmarks compare against, installed when missing and possible.

Invariant: `ensure` never fails the run: a tool it cannot find or install is reported as
missing with the reason, and the benchmarks that need it are skipped with that message.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import subprocess
import sys

APT = {"haproxy": "haproxy", "nginx": "nginx", "wrk": "wrk"}  # command -> Debian package
PIP = {"gunicorn": "gunicorn"}  # module -> PyPI package


def find(command: str) -> str | None:
    """The tool's path; nginx and haproxy live in /usr/sbin, often not on a user's PATH."""
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin"
    return shutil.which(command, path=path)


def ensure(install: bool) -> dict[str, str]:
    """Missing tools by name, with the reason; installs with apt-get / pip when allowed."""
    missing = {c: "not installed" for c in APT if find(c) is None}
    missing |= {m: "not installed" for m in PIP if importlib.util.find_spec(m) is None}
    if not missing or not install:
        return {name: why + " (--no-install)" for name, why in missing.items()}
    apt = [APT[c] for c in missing if c in APT]
    if apt:
        problem = apt_install(apt)
        for command in apt:
            if find(command) is None:
                missing[command] = problem or "apt-get did not install it"
            else:
                missing.pop(command)
    for module in [m for m in missing if m in PIP]:
        if pip_install(PIP[module]) and importlib.util.find_spec(module) is not None:
            missing.pop(module)
        else:
            missing[module] = f"pip install {PIP[module]} failed"
    return missing


def apt_install(packages: list[str]) -> str:
    """Install Debian packages; '' on success, else why not."""
    apt_get = shutil.which("apt-get")
    if apt_get is None:
        return "no apt-get on this machine"
    root = os.geteuid() == 0
    sudo = [] if root else ([s] if (s := shutil.which("sudo")) else None)
    if sudo is None:
        return "apt-get needs root (no sudo)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"bench: installing {' '.join(packages)} with apt-get", flush=True)
    for argv in ([apt_get, "update", "-q"], [apt_get, "install", "-y", "-q", *packages]):
        done = subprocess.run([*sudo, *argv], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
            return f"{' '.join(argv[:2])} failed: {tail[0]}"
    return ""


def pip_install(package: str) -> bool:
    print(f"bench: installing {package} with pip into {sys.prefix}", flush=True)
    argv = [sys.executable, "-m", "pip", "install", "-q", package]
    return subprocess.run(argv, capture_output=True).returncode == 0


def version(argv: list[str]) -> str:
    """First line a tool prints about its version ('-' when it cannot be run)."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "-"
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[0].strip() if lines else "-"


def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(
                (ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), "?"
            )
    except OSError:
        pass
    tools = {
        "haproxy": [find("haproxy") or "haproxy", "-v"],
        "nginx": [find("nginx") or "nginx", "-v"],
        "wrk": [find("wrk") or "wrk", "--version"],
    }
    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        **{name: version(argv) for name, argv in tools.items()},
    }
