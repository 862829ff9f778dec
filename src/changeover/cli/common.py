"""What every command shares: the -f/--state-dir options, exit codes, output helpers.

Invariant: commands exit only through `Exit` codes of the contract: 0 done, 1 rollout
failed or rolled back, 2 bad input, 3 agent unreachable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.markup import escape
from rich.text import Text

from changeover.agent.paths import StatePaths
from changeover.cli.console import LiveConsole
from changeover.cli.ssh import Remote, RemotePaths, SshHost
from changeover.spec.load import SpecError, load_spec, parse_toml
from changeover.spec.models import Spec
from changeover.units import format_duration, parse_duration

OK, FAILED, BAD_INPUT, UNREACHABLE = 0, 1, 2, 3
INTERRUPTED = 130  # Ctrl-C while following: the shell's 128 + SIGINT; the rollout goes on
out = LiveConsole(highlight=False, soft_wrap=True)  # messages are never hard-wrapped
err = LiveConsole(stderr=True, highlight=False, soft_wrap=True)

SpecFile = Annotated[
    Path, typer.Option("-f", "--file", metavar="FILE", help="Spec file.", show_default=True)
]
StateDir = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        metavar="DIR",
        envvar="CHANGEOVER_STATE_DIR",
        help="State directory (default: .changeover/ beside the spec).",
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def duration(raw: str | float) -> float:
    """An option's duration, in the spec's grammar ("250ms", "10s", "2m", "1h30m"); plain
    seconds ("10", "2.5") are read too. A bad one exits 2 naming the expected form. (An
    option left out arrives as its default, already in seconds.)"""
    if isinstance(raw, int | float):
        return float(raw)
    text = raw.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = parse_duration(text)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    if seconds < 0 or seconds != seconds or seconds == float("inf"):
        raise typer.BadParameter(f"expected a duration >= 0, got {raw!r}")
    return seconds


def duration_option(*names: str, help: str, default: float | None = None) -> Any:
    """A typer option taking a duration (see `duration`); its value is in seconds, and
    `--help` shows `default` in the same grammar ("2s", not 2.0)."""
    shown: bool | str = format_duration(default) if default is not None else False
    return typer.Option(*names, parser=duration, metavar="DURATION", help=help, show_default=shown)


DEFAULT_SPEC = Path("changeover.toml")


def plain(*values: object) -> list[Text]:
    """Table cells shown literally: user text such as "v2[/rc]" is not rich markup."""
    return [value if isinstance(value, Text) else Text(str(value)) for value in values]


def fail(code: int, *lines: str) -> NoReturn:
    for index, line in enumerate(lines):
        head = "[red]error:[/red] " if index == 0 else "  "
        err.print(head + escape(line), soft_wrap=True)
    raise typer.Exit(code)


def spec_path(file: Path) -> Path:
    if not file.exists():
        hint = "" if file != DEFAULT_SPEC else " (run in the service's folder, or pass -f FILE)"
        fail(BAD_INPUT, f"{file}: no such spec file{hint}")
    return file.resolve()


ENVIRONMENT_VAR = "CHANGEOVER_ENVIRONMENT"


def environment() -> str | None:
    """The environment `-E/--environment` (or $CHANGEOVER_ENVIRONMENT) selects, if any."""
    return os.environ.get(ENVIRONMENT_VAR) or None


def select_environment(name: str | None) -> None:
    """`-E NAME`: every command of this run, and the agent it starts, use environment NAME."""
    if name:
        os.environ[ENVIRONMENT_VAR] = name


def load(file: Path) -> tuple[Spec, Path]:
    path = spec_path(file)
    try:
        return load_spec(path, environment()), path
    except SpecError as exc:
        for line in exc.lines():
            err.print(line, markup=False, soft_wrap=True)
        raise typer.Exit(BAD_INPUT) from None


def state_paths(state_dir: Path | None, file: Path) -> StatePaths:
    """The state directory of the selected environment's agent; `RemotePaths` when that
    agent runs on another host (the CLI then reaches it over ssh)."""
    return environment_paths(Path(os.path.abspath(file)), environment(), state_dir)


def environment_paths(spec: Path, name: str | None, state_dir: Path | None = None) -> StatePaths:
    """Where environment `name`'s agent is: its state directory here, or `RemotePaths`
    when it runs on another host (`release promote --to NAME` reaches it this way too)."""
    if name is not None:
        remote = remote_environment(spec, name, check_environment(spec, name))
        if remote is not None:
            if state_dir is not None:
                fail(
                    BAD_INPUT,
                    f"--state-dir (or $CHANGEOVER_STATE_DIR) names a folder on this machine; "
                    f"the agent of {remote} keeps its state there, in {remote.state_dir}",
                )
            return RemotePaths.of(remote)
    return StatePaths.resolve(state_dir, spec, name)


def check_environment(file: Path, name: str) -> dict[str, Any] | None:
    """Exit 2 unless the spec defines environment `name` (before any agent is asked); its
    raw settings, or None without a spec file (`down` of an agent elsewhere)."""
    try:
        data = parse_toml(file.read_text(encoding="utf-8"), str(file))
    except OSError:
        return None  # no spec here: the state dir decides
    except SpecError as exc:
        fail(BAD_INPUT, *exc.lines())
    envs = data.get("environments")
    if not isinstance(envs, dict) or name not in envs:
        known = ", ".join(sorted(envs)) if isinstance(envs, dict) and envs else "none"
        fail(BAD_INPUT, f"{file}: unknown environment {name!r}; the spec defines: {known}")
    settings = envs[name]
    return settings if isinstance(settings, dict) else {}


def remote_environment(file: Path, name: str, settings: dict[str, Any] | None) -> Remote | None:
    """Environment `name` as reached over ssh, or None when its agent runs here: it has no
    `host`, or this spec is the one in the host's service folder (we are on that host)."""
    url = (settings or {}).get("host")
    if url is None:
        return None
    try:
        host = SshHost.parse(str(url))
    except ValueError as exc:
        fail(BAD_INPUT, f"{file}: environments.{name}.host: {exc}")
    if os.path.realpath(file.parent) == os.path.realpath(host.path):
        return None
    try:
        return Remote.of(name, host, os.environ)
    except ValueError as exc:
        fail(BAD_INPUT, str(exc))
