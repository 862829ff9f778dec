"""`changeover run`: run a single-process service on sockets bound once, hot-restart on SIGHUP.

Invariant: every problem with the options is reported before anything is bound or
started (exit 2, one line per problem naming the option); after that the exit code is
the runner's: 0 stopped cleanly, 1 a generation failed, or the child's own code.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from changeover.cli.common import BAD_INPUT, FAILED, OK, duration, fail, out
from changeover.hotrestart.generation import Timing
from changeover.hotrestart.listen import Address, Listener, bind, bound_address, parse_listen
from changeover.hotrestart.ready import ReadyMode, parse_ready
from changeover.hotrestart.reload import ReloadError, request_reload
from changeover.hotrestart.report import PidFileBusy, claim_check
from changeover.hotrestart.runner import RunConfig, Runner
from changeover.supervisor.spawn import SpawnError, resolve_command
from changeover.units import DURATION_HINT


def run(
    command: Annotated[
        list[str] | None, typer.Argument(help="The service's command line, after --.")
    ] = None,
    listen: Annotated[
        list[str] | None,
        typer.Option(
            "--listen",
            metavar="[NAME=]HOST:PORT",
            help="Bound once, passed as fd 3, 4, ...; repeatable.",
        ),
    ] = None,
    ready: Annotated[
        str,
        typer.Option(
            "--ready",
            metavar="auto|notify|http:/PATH|delay:D",
            help="auto: an HTTP answer from the new generation, plus READY=1 if it sends any.",
        ),
    ] = "auto",
    ready_timeout: Annotated[
        str,
        typer.Option(
            "--ready-timeout", metavar="DURATION", help="How long a new generation may take."
        ),
    ] = "30s",
    grace_period: Annotated[
        str,
        typer.Option("--grace-period", metavar="DURATION", help="From the stop signal to SIGKILL."),
    ] = "30s",
    stop_signal: Annotated[
        str,
        typer.Option(
            "--stop-signal", metavar="SIGNAL", help="Signal that asks a generation to drain."
        ),
    ] = "SIGTERM",
    pid_file: Annotated[
        Path | None,
        typer.Option("--pid-file", metavar="FILE", help="Pid file (a status file goes beside it)."),
    ] = None,
    workdir: Annotated[
        Path, typer.Option("--workdir", metavar="DIR", help="Folder each generation starts in.")
    ] = Path("."),
    reload: Annotated[
        bool, typer.Option("--reload", help="Upgrade the instance of --pid-file; wait for it.")
    ] = False,
) -> None:
    """Run COMMAND on inherited sockets; SIGHUP (or --reload) starts a new version without a gap."""
    if reload:
        _reload(pid_file, command)
    opts = _parse(command or [], listen or [], ready, ready_timeout, grace_period, stop_signal)
    _check_command(opts.argv, workdir, pid_file)
    listeners = _bind(opts.addresses)
    for lst in listeners:
        out.print(f"listening on {lst.address} (fd name {lst.address.name})", markup=False)
    # Not resolved: each generation cds into it anew, so a `current` symlink can move.
    workdir = Path(os.path.abspath(workdir))
    pid_file = Path(os.path.abspath(pid_file)) if pid_file else None
    config = RunConfig(opts.argv, workdir, listeners, opts.mode, opts.timing, pid_file)
    raise typer.Exit(_serve(config))


@dataclass(frozen=True)
class _Options:
    addresses: list[Address]
    argv: list[str]
    mode: ReadyMode
    timing: Timing


def _parse(
    command: list[str], listen: list[str], ready: str, timeout: str, grace: str, stop: str
) -> _Options:
    """The options, or exit 2 listing every problem at once."""
    problems: list[str] = []
    addresses = []
    for text in listen:
        try:
            addresses.append(parse_listen(text))
        except ValueError as exc:
            problems.append(f"--listen: {exc}")
    if not listen:
        problems.append("--listen: at least one address is required, like --listen :8080")
    if not command:
        problems.append("COMMAND: missing; put the service's command after --")
    mode: ReadyMode | None = None
    try:
        mode = parse_ready(ready)
    except ValueError as exc:
        problems.append(f"--ready: {exc}")
    timeout_s = _duration("--ready-timeout", timeout, problems, positive=True)
    grace_s = _duration("--grace-period", grace, problems, positive=False)
    sig = _signal(stop, problems)
    if problems or mode is None:
        fail(BAD_INPUT, *problems)
    return _Options(addresses, command, mode, Timing(timeout_s, grace_s, sig))


def _duration(option: str, text: str, problems: list[str], *, positive: bool) -> float:
    try:
        seconds = duration(text)  # the CLI's one grammar: "5s", "2m" or plain seconds
    except typer.BadParameter as exc:
        problems.append(f"{option}: {exc}")
        return 0.0
    if positive and seconds <= 0:
        problems.append(f"{option}: expected {DURATION_HINT} greater than 0, got {text!r}")
    return seconds


def _signal(name: str, problems: list[str]) -> int:
    full = name.upper() if name.upper().startswith("SIG") else f"SIG{name.upper()}"
    if full not in signal.Signals.__members__ or full.startswith("SIG_"):
        problems.append(f'--stop-signal: expected a signal name like "SIGTERM", got {name!r}')
        return signal.SIGTERM
    return int(signal.Signals[full])


def _bind(addresses: list[Address]) -> list[Listener]:
    listeners: list[Listener] = []
    for address in addresses:
        try:
            sock = bind(address)
        except OSError as exc:
            for lst in listeners:
                lst.sock.close()
            fail(BAD_INPUT, f"--listen: {exc.strerror or exc}")
        listeners.append(Listener(bound_address(sock, address.name), sock))
    return listeners


def _check_command(argv: list[str], workdir: Path, pid_file: Path | None) -> None:
    try:
        resolve_command(argv[0], workdir.resolve(), os.environ)
        if pid_file is not None:
            claim_check(pid_file)
    except SpawnError as exc:
        fail(BAD_INPUT, f"COMMAND: {exc}")
    except PidFileBusy as exc:
        fail(BAD_INPUT, f"--pid-file: {exc}")


def _serve(config: RunConfig) -> int:
    import uvloop  # the agent's loop too; imported here so that `--help` stays fast

    try:
        return int(uvloop.run(Runner(config).run()))
    except PidFileBusy as exc:
        fail(BAD_INPUT, f"--pid-file: {exc}")


def _reload(pid_file: Path | None, command: list[str] | None) -> None:
    if pid_file is None:
        fail(BAD_INPUT, "--reload needs --pid-file F, the pid file of the running instance")
    if command:
        fail(BAD_INPUT, "--reload takes no COMMAND: the running instance restarts its own")
    try:
        answer = request_reload(pid_file)
    except ReloadError as exc:
        fail(BAD_INPUT, f"--pid-file: {exc}")
    out.print(answer.message, markup=False, soft_wrap=True)  # one line, for logs to grep
    raise typer.Exit(OK if answer.upgraded else FAILED)
