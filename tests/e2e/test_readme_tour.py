"""The README's five-minute tour, run command by command in its order, checking what each
line promises: a person who follows it literally sees what it says.

The commands come from README.md itself; `EXPECTED` says what each changeover command
must exit with, so a command added to or removed from the tour fails this test until the
two agree. `curl` lines promise the answer in their comment ("hello from v2"), and a
`--watch` line the text to wait for (in double quotes). The example runs on free ports
instead of 8080/8081, and the load generator's report is read as JSON at the end.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import urllib.request
from typing import Any

from changeover.loadgen import BackgroundLoad
from tests.e2e.harness import EXAMPLE, ROOT, Lines, Service, stop
from tests.helpers import free_port, wait_for

EXPECTED = {
    "changeover check": 0,
    "changeover up --detach": 0,
    "changeover deploy --version v2": 0,
    "changeover deploy --version v3 --env CRASH_AT_BOOT=1": 1,
    "changeover deploy --version v4 --env NEVER_READY=1": 1,
    "changeover status": 0,
    "changeover history": 0,
    "changeover undo": 0,
    "changeover logs r2-1": 0,
    "changeover deploy --version v5 --strategy canary": 0,
    "changeover deploy --version v6 --env FAILURE_RATE=0.3 --strategy canary": 1,
    "changeover deploy --version v7 --strategy blue-green --no-wait": 0,
    "changeover status --watch": 0,
    "changeover promote": 0,
    "changeover down": 0,
}
ENVIRONMENTS = {
    "changeover -E dev up --detach": 0,
    "changeover -E staging up --detach": 0,
    "changeover release create --version 1.0.0 --allow-dirty": 0,
    "changeover release promote 1.0.0 --to dev": 0,
    "changeover release promote 1.0.0 --to staging": 1,
    "changeover -E staging deploy --version 1.0.0": 2,
    'changeover release check 1.0.0 --to staging "changelog reviewed"': 0,
    "changeover release promote 1.0.0 --to staging --wait": 0,
    "changeover release show 1.0.0": 0,
    "changeover -E staging down": 0,
    "changeover -E dev down": 0,
}
TOUR, ENV_TOUR = "## A five-minute tour", "### Environments: one release, dev to staging"
SETUP = ("make demo", "source .venv/bin/activate", "cd examples/hello")


def tour_lines(start: str = TOUR, end: str = ENV_TOUR) -> list[tuple[str, str]]:
    """(command, comment) for every line of the shell blocks between two headings."""
    text = (ROOT / "README.md").read_text()
    tour = text[text.index(start) : text.index(end)]
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", tour, flags=re.S):
        for line in block.splitlines():
            command, _, comment = line.partition("  #")
            lines.append((command.strip(), comment.strip()))
    return lines


def test_every_changeover_command_of_the_tour_has_an_expectation() -> None:
    commands = [c for c, _ in tour_lines() if c.startswith("changeover")]
    assert set(commands) == set(EXPECTED)
    env_commands = [c for c, _ in tour_lines(ENV_TOUR, "## How it works")]
    assert set(env_commands) - {c for c in env_commands if c.startswith("curl")} == set(
        ENVIRONMENTS
    )


class Tour:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.ports = {p: str(free_port()) for p in ("8080", "8081", "8090", "8091")}
        self.expected = EXPECTED
        spec = (EXAMPLE / "changeover.toml").read_text()  # the example's own settings
        service.spec.write_text(self.local(spec))
        self.load: subprocess.Popen[str] | None = None
        self.load_out: Lines | None = None

    def local(self, text: str) -> str:
        for public, free in self.ports.items():
            text = text.replace(f":{public}", f":{free}")
        return text

    def run(self, command: str, comment: str) -> None:
        if command in SETUP:
            return  # installing, activating and the folder: the harness has done these
        if command.startswith("python -m changeover.loadgen"):
            self.start_load(self.local(command))
        elif command.startswith("curl"):
            self.curl(self.local(command), comment)
        elif "--watch" in command or "--follow" in command:
            self.watch(command, comment)
        else:
            self.changeover(command)

    def changeover(self, command: str) -> None:
        if command == "changeover down" and self.load is not None:
            self.stop_load()  # as the README says: the load generator first
        args = shlex.split(command)[1:]
        result = self.service.cli(*args, timeout=180)
        if args[0] == "-E":
            self.service.track_agent_of(args[1])
        assert result.returncode == self.expected[command], (command, result.stdout, result.stderr)

    def curl(self, command: str, comment: str) -> None:
        url = "http://" + shlex.split(command)[-1]
        promised = re.match(r"hello from v?\d+(?:\.\d+)*", comment)
        assert promised, f"a curl line must promise its answer: {comment!r}"
        with urllib.request.urlopen(url, timeout=10) as response:
            body = response.read().decode()
        assert body.startswith(promised.group(0)), (command, body)

    def watch(self, command: str, comment: str) -> None:
        wanted = re.search(r'"(.+?)"', comment)
        assert wanted, f"a --watch line must say what to wait for: {comment!r}"
        env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "changeover", *shlex.split(command)[1:]],
            cwd=self.service.dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        out = Lines(proc)
        try:
            wait_for(lambda: out.seen(wanted.group(1)), 60, f"{wanted.group(1)!r} in {command}")
        finally:
            code = stop(proc, signal.SIGINT)  # Ctrl-C
            out.join()
        assert code == EXPECTED[command]

    def start_load(self, command: str) -> None:
        args = shlex.split(command)[3:]  # after `python -m changeover.loadgen`
        self.load = subprocess.Popen(
            [sys.executable, "-m", "changeover.loadgen", *args, "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.load_out = Lines(self.load)

    def stop_load(self) -> dict[str, Any]:
        assert self.load is not None
        assert self.load_out is not None
        stop(self.load, signal.SIGINT)
        self.load_out.join()
        text = "".join(self.load_out.lines)
        report: dict[str, Any] = json.loads(text[text.index("{") :])
        self.report, self.load = report, None
        return report


def test_the_readme_tour_does_what_it_says(service: Service) -> None:
    tour = Tour(service)
    try:
        for command, comment in tour_lines():
            tour.run(command, comment)
    finally:
        if tour.load is not None:  # a step failed before `changeover down`: stop it by pid
            stop(tour.load, signal.SIGINT)
            assert tour.load_out is not None
            tour.load_out.join()
    report = tour.report
    assert report["sent"] > 1000
    # the only failures: 5xx answered by the faulty canary v6 before analysis aborted it
    assert report["failed"] == report["status"] > 0, report
    assert {f["kind"] for f in report["failures"]} == {"status"}
    assert {f["status"] for f in report["failures"]} == {500}
    assert set(report["header_counts"]) >= {"v1", "v2", "v5", "v7"}


def test_the_readme_environments_tour_does_what_it_says(service: Service) -> None:
    """Dev and staging under load from the test (the README leaves load to the reader):
    every promotion and refusal as the comments say, and not one failed request."""
    tour = Tour(service)
    tour.expected = ENVIRONMENTS
    lines = tour_lines(ENV_TOUR, "## How it works")
    ups = [i for i, (c, _) in enumerate(lines) if c.endswith("up --detach")]
    downs = [i for i, (c, _) in enumerate(lines) if c.endswith(" down")]
    try:
        for command, comment in lines[: ups[-1] + 1]:
            tour.run(command, comment)
        urls = [f"http://127.0.0.1:{tour.ports[p]}" for p in ("8090", "8091")]
        with (
            BackgroundLoad(urls[0], rate=50, connections=2) as dev,
            BackgroundLoad(urls[1], rate=50, connections=2) as staging,
        ):
            for command, comment in lines[ups[-1] + 1 : downs[0]]:
                tour.run(command, comment)
        for command, comment in lines[downs[0] :]:
            tour.run(command, comment)
    finally:
        for env in ("staging", "dev"):
            service.cli("-E", env, "down", timeout=180)
    for load in (dev.report, staging.report):
        assert load.sent > 100
        assert load.failed == 0, load.summary()
